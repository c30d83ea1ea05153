"""The engine's end of the audience link: a control-loop thread the engine never waits on.

The engine thread calls ``publish_state``, ``open_poll``, ``close_poll`` (each a non-blocking
append to a bounded deque) and drains ``take_results``, ``take_tallies`` and
``take_console``. A background thread runs its own asyncio loop, keeps a websocket to the
service's ``/engine`` endpoint (Bearer token) and reconnects with backoff when the service
is down, restarting or slow. The show plays on whatever happens here.

The link also keeps the service's clock (``sync`` round trips, the fastest of the last
few wins) so a state's bar start (``at_ns``, this process's ``perf_counter_ns``) reaches
phones as service time; sends the engine's ``health`` (``health_source``) every second;
and runs ``on_panic`` (all notes off on every output) the moment the console asks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from stage.audience.polls import PollResult
from stage.audience.protocol import VERSION, encode

log = logging.getLogger(__name__)

STATE_QUEUE = 32
"""Musical-state messages kept while the service is away (newest win)."""
COMMAND_QUEUE = 256
INBOX = 1024
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.2, 5.0
SYNC_EVERY_S, SYNC_BURST = 2.0, 5
"""Clock sync: a burst of round trips on connect, then one every 2 s."""
SYNC_SAMPLES = 8
HEALTH_EVERY_S = 1.0


class AudienceLink:
    """Connects the engine process to the audience service (see the module docstring).

    ``url`` is the service's engine endpoint, e.g. ``ws://127.0.0.1:8080/engine``.
    """

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self.token = token
        self._states: deque[dict[str, Any]] = deque(maxlen=STATE_QUEUE)
        self._commands: deque[str] = deque(maxlen=COMMAND_QUEUE)
        self._results: deque[PollResult] = deque(maxlen=INBOX)
        self._tallies: deque[dict[str, Any]] = deque(maxlen=INBOX)
        self._console: deque[dict[str, Any]] = deque(maxlen=INBOX)
        self._open_polls: dict[str, str] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.connected = threading.Event()
        self.dropped_states = 0
        self.reconnects = 0
        self.health_source: Callable[[], dict[str, Any]] | None = None
        """Called on the link's thread every second: the engine's health for the console."""
        self.on_panic: Callable[[], int] | None = None
        """Called on the link's thread when the console hits panic: silences every output
        (Output.panic is safe from another thread) and returns how many."""
        self._sync: deque[tuple[int, int]] = deque(maxlen=SYNC_SAMPLES)
        """(round trip ns, service clock minus ours ns) of recent sync answers."""
        self._sync_seq = 0
        self._ever_connected = False

    # --- engine thread: never blocks ----------------------------------------------------
    def publish_state(self, state: dict[str, Any]) -> None:
        """Musical state at a bar start: at least ``bar`` (int), and ``section``, ``tick``,
        ``bpm``, ``chord``, ``song``, ``meter`` ([beats, unit]), ``at_ns`` (when the bar
        starts, ``perf_counter_ns`` of this process: sent on as the service's ``at`` ms)...
        When the queue is full the oldest state is dropped."""
        if len(self._states) == self._states.maxlen:
            self.dropped_states += 1
        self._states.append(state)
        self._poke()

    def publish_tempo(self, anchor: dict[str, Any]) -> None:
        """The tempo changed within a bar: ``bar`` re-anchored (``at_ns``, ``bpm``,
        ``meter``) so phones' beats stay on time before the next bar line is published."""
        self._states.append({**anchor, "_type": "tempo"})
        self._poke()

    @property
    def clock_offset_ns(self) -> int | None:
        """Service clock minus ours (ns), from the fastest recent round trip; None unsynced."""
        samples = list(self._sync)
        return min(samples)[1] if samples else None

    @property
    def sync_rtt_ns(self) -> int | None:
        samples = list(self._sync)
        return min(samples)[0] if samples else None

    def _state_frame(self, state: dict[str, Any]) -> str:
        at_ns = state.get("at_ns")
        offset = self.clock_offset_ns
        fields = {k: v for k, v in state.items() if k not in ("at_ns", "_type")}
        if isinstance(at_ns, int) and offset is not None:
            fields["at"] = round((at_ns + offset) / 1e6, 3)
        return encode(str(state.get("_type", "state")), **fields)

    def open_poll(self, poll: dict[str, Any]) -> None:
        """Open a poll (setlist or controller): ``id``, ``kind``, ``question``, ``options``,
        ``close_bar`` / ``close_on_section``. Re-sent after every reconnect while open."""
        self._open_polls = {str(poll.get("id")): encode("open_poll", poll=poll, resume=True)}
        self._commands.append(encode("open_poll", poll=poll))
        self._poke()

    def close_poll(self, poll_id: str | None = None) -> None:
        if poll_id:
            self._open_polls.pop(poll_id, None)
        else:
            self._open_polls.clear()
        self._commands.append(encode("close_poll", id=poll_id))
        self._poke()

    def take_results(self) -> list[PollResult]:
        return _drain(self._results)

    def take_tallies(self) -> list[dict[str, Any]]:
        return _drain(self._tallies)

    def take_console(self) -> list[dict[str, Any]]:
        """Performer console commands: ``{"action": "lock"|"veto"|"open_poll", ...}``."""
        return _drain(self._console)

    def _poke(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is not None and wake is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop is shutting down
                loop.call_soon_threadsafe(wake.set)

    # --- lifecycle ----------------------------------------------------------------------
    def start(self) -> AudienceLink:
        self._thread = threading.Thread(target=self._run, name="audience-link", daemon=True)
        self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        self._stopping = True
        self._poke()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def __enter__(self) -> AudienceLink:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # --- control loop -------------------------------------------------------------------
    def _run(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._wake = asyncio.Event()
        try:
            self._loop.run_until_complete(self._connect_forever())
        finally:
            self._loop.close()

    async def _connect_forever(self) -> None:
        backoff = BACKOFF_MIN_S
        headers = {"Authorization": f"Bearer {self.token}"}
        while not self._stopping:
            try:
                async with websockets.connect(self.url, additional_headers=headers,
                                              open_timeout=3.0, ping_interval=5.0,
                                              ping_timeout=5.0, max_queue=64) as ws:
                    backoff = BACKOFF_MIN_S
                    if self.connected.is_set() is False and self._ever_connected:
                        self.reconnects += 1
                    self._ever_connected = True
                    self.connected.set()
                    log.info("audience link up: %s", self.url)
                    await self._session(ws)
            except (TimeoutError, OSError, websockets.WebSocketException) as exc:
                log.info("audience link down (%s); retrying in %.1f s", exc, backoff)
            finally:
                self.connected.clear()
            if self._stopping:
                break
            await asyncio.sleep(backoff * (0.5 + random.random()))
            backoff = min(BACKOFF_MAX_S, backoff * 2)

    async def _session(self, ws: ClientConnection) -> None:
        for frame in list(self._open_polls.values()):
            await ws.send(frame)  # the service may have restarted: resume the window
        receiver = asyncio.create_task(self._receive(ws))
        ticker = asyncio.create_task(self._tick(ws))
        try:
            while not self._stopping and not receiver.done():
                assert self._wake is not None
                self._wake.clear()
                while self._commands:
                    await ws.send(self._commands.popleft())
                while self._states:
                    await ws.send(self._state_frame(self._states.popleft()))
                waiter = asyncio.create_task(self._wake.wait())
                await asyncio.wait({waiter, receiver}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
        finally:
            receiver.cancel()
            ticker.cancel()
        if receiver.done() and not receiver.cancelled() and receiver.exception():
            raise receiver.exception()  # type: ignore[misc]

    async def _tick(self, ws: ClientConnection) -> None:
        """Clock sync round trips and the engine's health, on their own beat."""
        self._sync.clear()  # another service (or machine) may answer now
        for _ in range(SYNC_BURST):
            await self._send_sync(ws)
            await asyncio.sleep(0.05)
        last_sync = time.monotonic()
        while True:
            if time.monotonic() - last_sync >= SYNC_EVERY_S:
                await self._send_sync(ws)
                last_sync = time.monotonic()
            source = self.health_source
            if source is not None:
                try:
                    health = source()
                except Exception:  # a broken probe must not take the link down
                    log.exception("engine health probe failed")
                    health = {}
                await ws.send(encode("health", **health, link=self._link_health()))
            await asyncio.sleep(HEALTH_EVERY_S)

    async def _send_sync(self, ws: ClientConnection) -> None:
        self._sync_seq += 1
        await ws.send(encode("sync", seq=self._sync_seq, t0=time.perf_counter_ns()))

    def _link_health(self) -> dict[str, Any]:
        rtt = self.sync_rtt_ns
        return {"reconnects": self.reconnects, "dropped_states": self.dropped_states,
                "rtt_ms": None if rtt is None else round(rtt / 1e6, 3)}

    async def _receive(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                message = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(message, dict) or message.get("v") != VERSION:
                continue
            self._on_message(message)

    def _on_message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "result":
            result = PollResult.from_json(message)
            self._results.append(result)
            self._open_polls.pop(result.poll_id, None)
        elif kind == "tally":
            self._tallies.append(message)
        elif kind == "console":
            if message.get("action") == "panic":
                self._panic()
            self._console.append(message)
        elif kind == "sync":
            t0, t = message.get("t0"), message.get("t")
            if isinstance(t0, int) and isinstance(t, int):
                now = time.perf_counter_ns()
                self._sync.append((now - t0, t - (t0 + now) // 2))
        elif kind == "error":
            log.warning("audience service refused a message: %s", message.get("message"))


    def _panic(self) -> None:
        """All notes off now, from this thread (never waits for the engine's next window)."""
        silenced = 0
        if self.on_panic is not None:
            try:
                silenced = self.on_panic()
            except Exception:
                log.exception("panic failed")
        log.warning("panic from the console: %d outputs silenced", silenced)
        self._commands.append(encode("panic_done", outputs=silenced))
        self._poke()


def _drain(queue: deque[Any]) -> list[Any]:
    items = []
    while queue:
        items.append(queue.popleft())
    return items
