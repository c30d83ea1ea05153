"""The service's end of the engine link: musical state and poll windows in, tallies,
results and console commands out (see the README's "Websocket protocol")."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from stage.audience.protocol import (
    MAX_ENGINE_MESSAGE_BYTES,
    ProtocolError,
    decode_frame,
    encode,
    error_frame,
    parse_poll_spec,
    service_ms,
)

if TYPE_CHECKING:
    from stage.audience.server import AudienceService

log = logging.getLogger(__name__)


async def serve_engine(service: AudienceService, request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse(max_msg_size=MAX_ENGINE_MESSAGE_BYTES, heartbeat=5.0)
    await ws.prepare(request)
    service.engines.add(ws)
    log.info("engine connected from %s", request.remote)
    now = time.perf_counter_ns()
    await ws.send_str(encode("hello", show=service.config.show_id,
                             poll=service.tallier.poll_view(now),
                             locks=service.tallier.locks))
    try:
        async for message in ws:
            if message.type != WSMsgType.TEXT:
                continue
            try:
                await apply_engine_message(service, decode_frame(message.data,
                                                                 MAX_ENGINE_MESSAGE_BYTES), ws)
            except ProtocolError as exc:
                await ws.send_str(error_frame(exc.code, str(exc)))
    finally:
        service.engines.discard(ws)
        log.info("engine disconnected")
    return ws


async def apply_engine_message(service: AudienceService, message: dict[str, Any],
                               reply: web.WebSocketResponse | None = None) -> None:
    """``state`` (bar started), ``open_poll``, ``close_poll``, ``health``, ``panic_done``:
    no reply; ``sync``: answered with the service clock."""
    kind = message["type"]
    tallier = service.tallier
    if kind == "state":
        bar = message.get("bar")
        if isinstance(bar, bool) or not isinstance(bar, int):
            raise ProtocolError("bad_field", "state needs an integer bar")
        section = message.get("section")
        await service.on_state(bar, section if isinstance(section, str) else None)
        await service.on_music(message)
    elif kind == "tempo":
        await service.on_tempo(message)
    elif kind == "sync":
        # the link's clock offset to the service (NTP-style); it echoes t0 and gets ours
        now = time.perf_counter_ns()
        if reply is not None:
            await reply.send_str(encode("sync", seq=message.get("seq"), t0=message.get("t0"),
                                        t=now))
    elif kind == "health":
        service.engine_health = {**message, "received_ms": service_ms(time.perf_counter_ns())}
    elif kind == "panic_done":
        service.last_panic = {**(service.last_panic or {}), "done_ms":
                              service_ms(time.perf_counter_ns()),
                              "outputs": message.get("outputs")}
    elif kind == "open_poll":
        spec = parse_poll_spec(message.get("poll"))
        current = tallier.book.current
        if message.get("resume") and current is not None and current.poll_id == spec.poll_id:
            return  # a reconnecting engine resumes a window we hold (open or closed)
        await service.open_poll(spec)
    elif kind == "close_poll":
        poll_id = message.get("id")
        await service.close_poll(poll_id if isinstance(poll_id, str) else None)
    else:
        raise ProtocolError("bad_type", "the engine sends state, open_poll, close_poll, "
                                        "tempo, sync, health or panic_done")
