"""The performer console's admin API (token required): open and close polls, veto a
result, lock a control. Locks and vetoes go on to the engine, whose Steering obeys them."""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from stage.audience.protocol import MAX_ID_CHARS, ProtocolError, encode, parse_poll_spec

if TYPE_CHECKING:
    from stage.audience.server import AudienceService

CONTROLS = ("energy", "density", "complexity", "mood", "swing")


def add_console_routes(app: web.Application, service: AudienceService) -> None:
    api = ConsoleApi(service)
    app.router.add_get("/api/state", api.state)
    app.router.add_post("/api/poll", api.open_poll)
    app.router.add_post("/api/poll/close", api.close_poll)
    app.router.add_post("/api/veto", api.veto)
    app.router.add_post("/api/lock", api.lock)


class ConsoleApi:
    def __init__(self, service: AudienceService) -> None:
        self.service = service

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
        tallier = self.service.tallier
        return web.json_response({
            "poll": tallier.poll_view(time.perf_counter_ns()),
            "results": [r.to_json() for r in tallier.book.results],
            "locks": tallier.locks,
            "vetoed": sorted(tallier.vetoed),
            "phones": len(self.service.registry),
            "join_url": self.service.config.join_url,
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
