"""The audience service: a thin aiohttp layer over the pure tallier.

Routes: ``/`` phone page (sets the signed device cookie), ``/screen`` big-screen page,
``/qr.svg`` the join QR code, ``/ws`` phones, ``/engine`` the engine link (token),
``/api/*`` the performer console's admin API (token), ``/health``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import WSMsgType, web

from stage.audience import pages
from stage.audience.broadcast import Phone, PhoneRegistry, text_frame
from stage.audience.identity import COOKIE_NAME, DeviceSigner, new_secret, token_ok
from stage.audience.polls import PollResult
from stage.audience.protocol import (
    MAX_MESSAGE_BYTES,
    Ping,
    PollSpec,
    ProtocolError,
    encode,
    error_frame,
    music_view,
    parse_phone,
    service_ms,
)
from stage.audience.ratelimit import AbuseCounter, AddressLimits, TokenBucket
from stage.audience.tally import Tallier

log = logging.getLogger(__name__)

WEB_ROOT = Path(__file__).resolve().parents[2] / "web_client"
SOCKET_MAX_BYTES = 4096
"""Frames past this are cut off by aiohttp with a close frame (1009); frames between
MAX_MESSAGE_BYTES and this get an error frame from us."""
PHONE_RATE, PHONE_BURST = 8.0, 24.0
"""Frames per second per phone (taps are batched, so a person never gets near)."""
ADDRESS_RATE, ADDRESS_BURST = 2000.0, 4000.0
"""Frames per second per address: a venue NAT can put hundreds of phones behind one."""
SNAPSHOT_BUDGET = 10_000.0
"""Snapshot frames a second to all phones together (merged in between)."""
CLOSE_TIMEOUT_S = 1.0
"""How long a closing phone gets to answer our close frame."""
MUSIC_PREFIX = encode("music")[:-1]
"""How a ``music`` frame starts on the wire (kept apart from the poll snapshot)."""
CONNECT_RATE, CONNECT_BURST = 200.0, 2000.0
"""New connections per second per address."""


@dataclass
class ServiceConfig:
    show_id: str
    token: str
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str | None = None
    """Base URL phones use (``http://192.168.1.10:8080``); default from host and port."""
    secret: bytes = field(default_factory=new_secret)
    """Signs device cookies; workers of one show share it (STAGE_AUDIENCE_SECRET)."""
    phone_hz: float = 2.0
    """Snapshots per second to phones (merged in between)."""
    engine_hz: float = 10.0
    """Tallies per second to the engine, at most."""
    max_phones: int = 20000
    allowed_origins: tuple[str, ...] = ()
    web_root: Path = WEB_ROOT
    redis_url: str | None = None
    leader: bool = True
    """With Redis: whether this process tallies (one per show) or only relays."""

    @property
    def base_url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def join_url(self) -> str:
        return f"{self.base_url}/?show={self.show_id}"


async def _forever(loop: Callable[[], Awaitable[None]]) -> None:
    """Run a service loop; a bug in it is logged and the loop restarts (the show goes on)."""
    while True:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s failed; restarting it", getattr(loop, "__name__", loop))
            await asyncio.sleep(0.5)


async def _no_content(_request: web.Request) -> web.Response:
    return web.Response(status=204)


def _percentiles(values: deque[float]) -> dict[str, float | int | None]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0, "p50": None, "p95": None, "p99": None}
    pick = {q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.95, 0.99)}
    return {"n": len(ordered), "p50": round(pick[0.5], 2), "p95": round(pick[0.95], 2),
            "p99": round(pick[0.99], 2)}


class LocalBackend:
    """Votes go straight into this process's tallier."""

    def __init__(self, tallier: Tallier) -> None:
        self.tallier = tallier

    async def submit(self, device: str, message: Any, now_ns: int) -> int:
        return self.tallier.apply(device, message, now_ns)

    async def vote_of(self, device: str) -> dict[str, Any] | None:
        return self.tallier.vote_of(device)

    async def start(self, service: AudienceService) -> None:
        self.service = service

    async def publish(self, frame: str) -> None:
        await self.service.broadcast(frame)

    async def before_close(self) -> None:
        return None

    async def after_open(self, poll_id: str) -> None:
        return None

    async def stop(self) -> None:
        return None


class AudienceService:
    def __init__(self, config: ServiceConfig, backend: Any | None = None) -> None:
        self.config = config
        self.tallier = Tallier(config.show_id)
        self.registry = PhoneRegistry()
        self.signer = DeviceSigner(config.secret, config.show_id)
        self.backend = backend if backend is not None else LocalBackend(self.tallier)
        self.engines: set[web.WebSocketResponse] = set()
        self.pending_results: list[str] = []
        self.address_frames = AddressLimits(ADDRESS_RATE, ADDRESS_BURST)
        self.address_connects = AddressLimits(CONNECT_RATE, CONNECT_BURST)
        self.stats = {"accepted": 0, "rejected": 0, "closed_abusive": 0, "refused": 0}
        self.screens = 0  # big screens watch over the phone socket but are not the crowd
        self.arrivals: deque[tuple[int, int]] = deque(maxlen=100_000)
        """(vote_seq, arrival ns) of votes not yet carried to the engine."""
        self.engine_latency_ms: deque[float] = deque(maxlen=100_000)
        """Service-side latency: a vote's frame arriving -> the tally carrying it sent."""
        self.last_frame = ""
        self.last_music = ""
        """The latest ``music`` frame (song, section, chord, bar timing) for new phones."""
        self._music_state: dict[str, Any] = {}
        """The engine's last ``state`` (a ``tempo`` re-anchor is merged into it)."""
        self.engine_health: dict[str, Any] | None = None
        """The engine's latest ``health`` message, for the console (with ``received_ms``)."""
        self.last_panic: dict[str, Any] | None = None
        """The console's last panic: asked when, answered by the engine when (service ms)."""
        self.poke = asyncio.Event()
        """Set when a poll opens or closes: phones hear at once, not at the next tick."""
        self._tasks: list[asyncio.Task[None]] = []

    # --- application --------------------------------------------------------------------
    def app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024)
        app.router.add_get("/", self.phone_page)
        app.router.add_get("/screen", self.screen_page)
        app.router.add_get("/console", self.console_page)
        app.router.add_get("/qr.svg", self.qr_code)
        app.router.add_get("/ws", self.phone_socket)
        app.router.add_get("/engine", self.engine_socket)
        app.router.add_get("/health", self.health)
        app.router.add_get("/favicon.ico", _no_content)
        from stage.audience.console import add_console_routes

        add_console_routes(app, self)
        app.router.add_static("/static", self.config.web_root, show_index=False)
        app.on_startup.append(self._start)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, _app: web.Application) -> None:
        await self.backend.start(self)
        if self.config.leader:
            self._tasks.append(asyncio.create_task(_forever(self._engine_pusher)))
            self._tasks.append(asyncio.create_task(_forever(self._phone_broadcaster)))

    async def _stop(self, _app: web.Application) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.backend.stop()

    # --- pages --------------------------------------------------------------------------
    def _device_cookie(self, request: web.Request) -> tuple[str, str | None]:
        """(device id, new cookie value to set or None when the phone already has one)."""
        device = self.signer.verify(request.cookies.get(COOKIE_NAME))
        if device is not None:
            return device, None
        device, cookie = self.signer.issue()
        return device, cookie

    def _set_cookie(self, response: web.StreamResponse, cookie: str | None) -> None:
        if cookie is not None:
            response.set_cookie(COOKIE_NAME, cookie, max_age=12 * 3600, httponly=True,
                                samesite="Lax", path="/")

    async def phone_page(self, request: web.Request) -> web.StreamResponse:
        show = request.query.get("show")
        if show is not None and show != self.config.show_id:
            return web.Response(status=404, text="No such show.")
        _, cookie = self._device_cookie(request)
        response = pages.phone(self.config)
        self._set_cookie(response, cookie)
        return response

    async def screen_page(self, request: web.Request) -> web.StreamResponse:
        return pages.screen(self.config)

    async def console_page(self, request: web.Request) -> web.StreamResponse:
        """The page holds no secret: it asks for the token and sends it with each call."""
        return pages.console(self.config)

    async def qr_code(self, request: web.Request) -> web.StreamResponse:
        return pages.qr_svg(self.config.join_url)

    async def health(self, request: web.Request) -> web.StreamResponse:
        return web.json_response({
            "show": self.config.show_id,
            "phones": len(self.registry) - self.screens,
            "screens": self.screens,
            "engine": len(self.engines),
            "pid": os.getpid(),
            "rss_bytes": pages.rss_bytes(),
            **self.stats,
            "dropped_slow": self.registry.dropped_slow,
            "vote_to_engine_ms": _percentiles(self.engine_latency_ms),
        })

    # --- phones -------------------------------------------------------------------------
    def _origin_ok(self, request: web.Request) -> bool:
        origin = request.headers.get("Origin")
        if origin is None:
            return True  # not a browser: browsers always send Origin on websockets
        allowed = {f"{request.scheme}://{request.host}", self.config.base_url,
                   *self.config.allowed_origins}
        return origin.rstrip("/") in allowed

    async def phone_socket(self, request: web.Request) -> web.StreamResponse:
        now = time.perf_counter_ns()
        address = request.remote or "?"
        if not self._origin_ok(request):
            self.stats["refused"] += 1
            return web.Response(status=403, text="origin not allowed")
        if (len(self.registry) >= self.config.max_phones
                or not self.address_connects.take(address, now)):
            self.stats["refused"] += 1
            return web.Response(status=503, text="too many connections, try again")
        device, cookie = self._device_cookie(request)
        ws = web.WebSocketResponse(max_msg_size=SOCKET_MAX_BYTES, compress=False,
                                   heartbeat=30.0, timeout=CLOSE_TIMEOUT_S)
        self._set_cookie(ws, cookie)
        await ws.prepare(request)
        phone = Phone(ws, device, address, TokenBucket(PHONE_RATE, PHONE_BURST, now),
                      AbuseCounter(), request.transport)
        self.registry.add(phone)
        screen = request.query.get("role") == "screen"
        self.screens += screen
        try:
            await ws.send_str(encode("welcome", show=self.config.show_id, device=device,
                                     cookie=cookie, your_vote=await self.backend.vote_of(device),
                                     t=service_ms(time.perf_counter_ns())))
            if self.last_frame:
                await ws.send_str(self.last_frame)
            if self.last_music:
                await ws.send_str(self.last_music)
            async for message in ws:
                if message.type == WSMsgType.TEXT:
                    keep = await self._on_phone_frame(phone, message.data)
                else:
                    keep = await self._reject(phone, "bad_json", "text frames only")
                if not keep:
                    break
        finally:
            self.registry.discard(phone)
            self.screens -= screen
        return ws

    async def _reject(self, phone: Phone, code: str, text: str) -> bool:
        """Error frame for one bad frame; close frame on repeated abuse. False = closed."""
        self.stats["rejected"] += 1
        if phone.abuse.strike():
            self.stats["closed_abusive"] += 1
            await phone.ws.close(code=1008, message=b"abuse")
            return False
        if not phone.backed_up():
            await phone.ws.send_str(error_frame(code, text))
        return True

    async def _on_phone_frame(self, phone: Phone, data: str) -> bool:
        now = time.perf_counter_ns()
        if not phone.bucket.take(now) or not self.address_frames.take(phone.address, now):
            return await self._reject(phone, "rate_limited", "slow down")
        if len(data) > MAX_MESSAGE_BYTES:
            return await self._reject(phone, "too_big", f"frames are at most {MAX_MESSAGE_BYTES}")
        try:
            message = parse_phone(data)
            if isinstance(message, Ping):
                # the service clock, for the phone's beat pulse (NTP-style offset)
                await phone.ws.send_str(encode("pong", seq=message.seq,
                                               t=service_ms(time.perf_counter_ns())))
                return True
            vote_seq = await self.backend.submit(phone.device, message, now)
        except ProtocolError as exc:
            return await self._reject(phone, exc.code, str(exc))
        self.stats["accepted"] += 1
        if self.config.leader:
            self.arrivals.append((vote_seq, now))
        seq = getattr(message, "seq", None)
        if seq is not None and not phone.ws.closed and not phone.backed_up():
            assert phone.transport is not None  # backed_up() says it is there and open
            phone.transport.write(text_frame(encode("ack", seq=seq, vote_seq=vote_seq)))
        return True

    async def _phone_broadcaster(self) -> None:
        """Leader: one snapshot for all phones when anything changed, at phone_hz."""
        seen = -1
        while True:
            # a budget of frames a second in all: 10,000 phones get one snapshot a second
            hz = min(self.config.phone_hz, SNAPSHOT_BUDGET / max(1, len(self.registry)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.poke.wait(), 1.0 / hz)
            self.poke.clear()
            if self.tallier.changed == seen:
                continue
            seen = self.tallier.changed
            await self.backend.publish(self.tallier.phone_frame(time.perf_counter_ns()))

    async def broadcast(self, frame: str) -> None:
        if frame.startswith(MUSIC_PREFIX):
            self.last_music = frame
        else:
            self.last_frame = frame
        self.registry.broadcast(frame)

    async def on_music(self, state: dict[str, Any]) -> None:
        """An engine ``state``: phones and screens get song, section, chord and the bar's
        timing (``at``, service ms) to pulse on the beat; plus the crowd size."""
        view = music_view(state)
        view["crowd"] = len(self.registry) - self.screens
        self._music_state = dict(state)
        await self.backend.publish(encode("music", **view))

    async def on_tempo(self, anchor: dict[str, Any]) -> None:
        """The tempo moved within a bar: the last music view with the bar re-anchored."""
        state = {**self._music_state,
                 **{k: anchor.get(k) for k in ("bar", "at", "bpm", "meter")}}
        if not isinstance(state.get("bar"), int) or isinstance(state.get("bar"), bool):
            raise ProtocolError("bad_field", "tempo needs an integer bar")
        await self.on_music(state)

    # --- poll windows (from the engine link or the console) ------------------------------
    async def open_poll(self, spec: PollSpec) -> None:
        current = self.tallier.book.current
        if current is not None and current.open and current.poll_id != spec.poll_id:
            await self.backend.before_close()
        self.tallier.open_poll(spec, time.perf_counter_ns())
        await self.backend.after_open(spec.poll_id)
        self.poke.set()

    async def close_poll(self, poll_id: str | None = None) -> PollResult | None:
        current = self.tallier.book.current
        if current is None or not current.open or poll_id not in (None, current.poll_id):
            return None
        await self.backend.before_close()
        self.poke.set()
        return self.tallier.close_poll(time.perf_counter_ns(), poll_id)

    async def on_state(self, bar: int, section: str | None) -> None:
        """The engine says bar ``bar`` started in ``section``: a poll due closes now."""
        if self.tallier.book.due_to_close(bar, section):
            await self.backend.before_close()
            self.poke.set()
        self.tallier.on_state(bar, section, time.perf_counter_ns())

    # --- engine -------------------------------------------------------------------------
    def _token_ok(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        given = header[7:] if header.startswith("Bearer ") else request.query.get("token")
        return token_ok(self.config.token, given)

    async def engine_socket(self, request: web.Request) -> web.StreamResponse:
        if not self._token_ok(request):
            return web.Response(status=401, text="token required")
        if not self.config.leader:
            # workers share the port: the engine's link retries until it reaches the leader
            return web.Response(status=503, text="not the leader; retry")
        from stage.audience.engine_side import serve_engine

        return await serve_engine(self, request)

    async def to_engines(self, frame: str) -> None:
        for ws in list(self.engines):
            try:
                await ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                self.engines.discard(ws)

    async def _engine_pusher(self) -> None:
        """Results as soon as they exist (kept until an engine takes them); tallies at
        most engine_hz a second, only when something changed."""
        seen = -1
        period_ns = int(1e9 / self.config.engine_hz)
        last_sent = 0
        while True:
            await asyncio.sleep(0.02)  # look often, send at most engine_hz a second
            now = time.perf_counter_ns()
            for result in self.tallier.take_results():
                self.pending_results.append(encode("result", **result.to_json()))
                del self.pending_results[:-64]
            if self.engines and self.pending_results:
                frames, self.pending_results = self.pending_results, []
                for frame in frames:
                    await self.to_engines(frame)
            if self.engines and self.tallier.changed != seen and now - last_sent >= period_ns:
                seen = self.tallier.changed
                last_sent = now
                tally = self.tallier.engine_tally(now)
                if tally is not None:
                    await self.to_engines(tally)
                    self._carried(self.tallier.vote_seq, time.perf_counter_ns())

    def _carried(self, vote_seq: int, sent_ns: int) -> None:
        arrivals = self.arrivals
        while arrivals and arrivals[0][0] <= vote_seq:
            self.engine_latency_ms.append((sent_ns - arrivals.popleft()[1]) / 1e6)
