"""The performer console's admin API (token required): open and close polls, veto a
result, lock a control, panic. Locks and vetoes go on to the engine, whose Steering obeys
them; panic goes to the engine's link, which silences every output at once."""

from __future__ import annotations

import itertools
import json
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from aiohttp import web

from stage.audience.protocol import (
    MAX_ID_CHARS,
    ProtocolError,
    encode,
    parse_poll_spec,
    service_ms,
)

if TYPE_CHECKING:
    from stage.audience.server import AudienceService

CONTROLS = ("energy", "density", "complexity", "mood", "swing")
LATENCY_SAMPLES = 1000
"""The console's vote -> engine figures: the most recent votes (sorting all 100,000 kept
twice a second would stall the loop)."""
RATE_WINDOW_NS = 5_000_000_000
"""Votes a second are counted over the last 5 s of console polls."""


def add_console_routes(app: web.Application, service: AudienceService) -> None:
    api = ConsoleApi(service)
    app.router.add_get("/api/state", api.state)
    app.router.add_post("/api/poll", api.open_poll)
    app.router.add_post("/api/poll/close", api.close_poll)
    app.router.add_post("/api/veto", api.veto)
    app.router.add_post("/api/lock", api.lock)
    app.router.add_post("/api/panic", api.panic)


class ConsoleApi:
    def __init__(self, service: AudienceService) -> None:
        self.service = service
        self._accepted: deque[tuple[int, int]] = deque(maxlen=256)
        """(ns, votes accepted so far) at each state call: the vote rate."""

    def _vote_rate(self, now_ns: int) -> float:
        samples = self._accepted
        samples.append((now_ns, self.service.stats["accepted"]))
        while len(samples) > 2 and now_ns - samples[1][0] > RATE_WINDOW_NS:
            samples.popleft()
        (t0, n0), (t1, n1) = samples[0], samples[-1]
        return round((n1 - n0) * 1e9 / (t1 - t0), 2) if t1 > t0 else 0.0

    async def _body(self, request: web.Request) -> dict[str, Any]:
        if not self.service._token_ok(request):
            raise web.HTTPUnauthorized(text="token required")
        if not self.service.config.leader:
            raise web.HTTPServiceUnavailable(text="not the leader; retry")
        if request.method != "POST":
            return {}
        try:
            body = json.loads(await request.text() or "{}")
        except ValueError as exc:
            raise web.HTTPBadRequest(text="body is not JSON") from exc
        if not isinstance(body, dict):
            raise web.HTTPBadRequest(text="body must be a JSON object")
        return body

    async def state(self, request: web.Request) -> web.StreamResponse:
        await self._body(request)
        service = self.service
        tallier = service.tallier
        now = time.perf_counter_ns()
        return web.json_response({
            "poll": tallier.poll_view(now),
            "results": [r.to_json() for r in tallier.book.results],
            "locks": tallier.locks,
            "vetoed": sorted(tallier.vetoed),
            "phones": len(service.registry) - service.screens,
            "screens": service.screens,
            "votes": service.stats["accepted"],
            "vote_rate": self._vote_rate(now),
            "vote_to_engine_ms": _recent_percentiles(service.engine_latency_ms),
            "join_url": service.config.join_url,
            "engine": {"connected": len(service.engines), "health": service.engine_health,
                       "panic": service.last_panic},
            "music": json.loads(service.last_music) if service.last_music else None,
            "now_ms": service_ms(now),
        })

    async def open_poll(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        try:
            spec = parse_poll_spec(body)
        except ProtocolError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from exc
        await self.service.open_poll(spec)
        await self.service.to_engines(encode("console", action="open_poll", poll=spec.to_json()))
        return web.json_response({"ok": True, "poll": spec.to_json()})

    async def close_poll(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        poll_id = body.get("id")
        result = await self.service.close_poll(poll_id if isinstance(poll_id, str) else None)
        return web.json_response({"ok": result is not None,
                                  "result": result.to_json() if result else None})

    async def veto(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        poll_id = body.get("poll")
        if not isinstance(poll_id, str) or not 0 < len(poll_id) <= MAX_ID_CHARS:
            raise web.HTTPBadRequest(text="poll id required")
        self.service.tallier.veto(poll_id)
        self.service.poke.set()
        await self.service.to_engines(encode("console", action="veto", poll=poll_id))
        return web.json_response({"ok": True})

    async def panic(self, request: web.Request) -> web.StreamResponse:
        """All notes off on every engine output; the engine answers ``panic_done``."""
        await self._body(request)
        service = self.service
        service.last_panic = {"asked_ms": service_ms(time.perf_counter_ns()),
                              "engines": len(service.engines), "done_ms": None}
        await service.to_engines(encode("console", action="panic"))
        return web.json_response({"ok": bool(service.engines), "engines": len(service.engines)})

    async def lock(self, request: web.Request) -> web.StreamResponse:
        body = await self._body(request)
        control = body.get("control")
        if control not in CONTROLS:
            raise web.HTTPBadRequest(text=f"control must be one of {', '.join(CONTROLS)}")
        locked = bool(body.get("locked", True))
        value = body.get("value")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)
                                  or not 0.0 <= float(value) <= 1.0):
            raise web.HTTPBadRequest(text="value must be a number in 0..1")
        tallier = self.service.tallier
        if locked:
            tallier.locks[control] = None if value is None else float(value)
        else:
            tallier.locks.pop(control, None)
        await self.service.to_engines(encode("console", action="lock", control=control,
                                             locked=locked, value=value))
        return web.json_response({"ok": True, "locks": tallier.locks})


def _recent_percentiles(values: deque[float]) -> dict[str, float | int | None]:
    recent = sorted(itertools.islice(reversed(values), LATENCY_SAMPLES))
    if not recent:
        return {"n": 0, "p50": None, "p99": None}
    pick = {q: recent[min(len(recent) - 1, int(q * len(recent)))] for q in (0.5, 0.99)}
    return {"n": len(recent), "p50": round(pick[0.5], 2), "p99": round(pick[0.99], 2)}
