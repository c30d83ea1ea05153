"""Past one process: votes in through a Redis Stream, snapshots out through pub/sub.

Every audience process (gateway) appends each phone event to the show's stream and
acknowledges the phone only once Redis has it (at least once). One process, the leader
(the one the engine talks to), folds the stream into its tallier. A vote is kept per
device and poll, so an event delivered twice, or re-sent by a phone whose gateway died
before acknowledging, changes nothing: no vote is lost and none counts twice. A leader that
restarts replays the open poll from its first stream entry. The leader publishes each
phone snapshot once; every gateway relays it to its own phones.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import socket
import subprocess
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis

from stage.audience.protocol import (
    PhoneMessage,
    ProtocolError,
    React,
    Tap,
    Vote,
    parse_phone,
    parse_poll_spec,
)

if TYPE_CHECKING:
    from stage.audience.server import AudienceService

log = logging.getLogger(__name__)

STREAM_MAXLEN = 2_000_000
READ_BATCH = 2000
WRITE_BATCH = 500
OUTBOX_LIMIT = 20_000
"""Phone events waiting for Redis; past this a phone is told to send again."""
XADD_IF_OPEN = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[2], '*', 'd', ARGV[3], 'm', ARGV[4])
end
return false
"""
"""A vote enters the stream only while its poll is open, atomically: once the leader has
shut the window, no gateway can acknowledge a vote that will not be counted."""


def stream_seq(entry_id: str) -> int:
    """A stream id ``ms-n`` as one increasing integer (the tallies' ``vote_seq``)."""
    ms, _, n = entry_id.partition("-")
    return int(ms) * 4096 + min(int(n), 4095)


def _message_json(message: PhoneMessage) -> str:
    if isinstance(message, Vote):
        body: dict[str, Any] = {"type": "vote", "poll": message.poll_id}
        if message.choice is not None:
            body["choice"] = message.choice
        else:
            body["value"] = message.value
    elif isinstance(message, Tap):
        body = {"type": "tap", "poll": message.poll_id, "count": message.count}
    elif isinstance(message, React):
        body = {"type": "react", "emoji": message.emoji}
    else:
        raise ProtocolError("bad_type", "not a phone event")
    return json.dumps({"v": 1, **body})


class RedisBackend:
    def __init__(self, url: str, service: AudienceService) -> None:
        self.url = url
        self.service = service
        show = service.config.show_id
        self.stream = f"stage:{show}:votes"
        self.channel = f"stage:{show}:events"
        self.current_key = f"stage:{show}:current"
        self.open_key = f"stage:{show}:open"
        self._fold_lock = asyncio.Lock()
        self._outbox: deque[tuple[str | None, str, str, asyncio.Future[Any]]] = deque()
        self._kick = asyncio.Event()
        self._last_id = "$"
        self._opened: str | None = None
        self.redis: Any = None
        self.poll_view: dict[str, Any] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.folded = 0
        self.refused = 0

    def _votes_key(self, poll_id: str) -> str:
        return f"stage:{self.service.config.show_id}:v:{poll_id}"

    async def start(self, service: AudienceService) -> None:
        self.redis = aioredis.from_url(self.url, decode_responses=True)
        await self.redis.ping()
        self._tasks.append(asyncio.create_task(self._relay()))
        self._tasks.append(asyncio.create_task(self._writer()))
        if service.config.leader:
            await self._restore()
            self._tasks.append(asyncio.create_task(self._fold()))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.redis is not None:
            await self.redis.aclose()

    # --- gateway: phones in, snapshots out --------------------------------------------------
    async def submit(self, device: str, message: PhoneMessage, now_ns: int) -> int:
        if isinstance(message, Vote | Tap):
            view = self.poll_view
            if view is None or not view.get("open") or view["id"] != message.poll_id:
                raise ProtocolError("poll_closed", "that poll is not open")
            if isinstance(message, Vote) and view["kind"] == "choice" and (
                    message.choice is None or message.choice >= len(view["options"])):
                raise ProtocolError("bad_vote", "no such option")
            poll_id: str | None = message.poll_id
        else:
            poll_id = None
        if len(self._outbox) >= OUTBOX_LIMIT:
            raise ProtocolError("busy", "the show is busy; send again")
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._outbox.append((poll_id, device, _message_json(message), done))
        self._kick.set()
        entry_id = await done
        if not entry_id:
            raise ProtocolError("poll_closed", "that poll is not open")
        return stream_seq(entry_id)

    async def _writer(self) -> None:
        """Phone events to Redis in pipelined batches over one connection: one round trip
        for hundreds of votes instead of one each."""
        while True:
            await self._kick.wait()
            self._kick.clear()
            while self._outbox:
                batch = [self._outbox.popleft()
                         for _ in range(min(WRITE_BATCH, len(self._outbox)))]
                pipe = self.redis.pipeline(transaction=False)
                for poll_id, device, body, _ in batch:
                    if poll_id is None:
                        pipe.xadd(self.stream, {"d": device, "m": body}, maxlen=STREAM_MAXLEN,
                                  approximate=True)
                    else:
                        pipe.eval(XADD_IF_OPEN, 2, self.open_key, self.stream, poll_id,
                                  STREAM_MAXLEN, device, body)
                try:
                    results = await pipe.execute(raise_on_error=False)
                except Exception as exc:  # Redis away: these phones get an error, not an ack
                    log.warning("redis write failed: %s", exc)
                    results = [exc] * len(batch)
                for (_, _, _, done), result in zip(batch, results, strict=True):
                    if done.done():
                        continue
                    if isinstance(result, Exception):
                        done.set_exception(ProtocolError("busy", "the show is busy; send again"))
                    else:
                        done.set_result(result)

    # --- leader: poll windows -------------------------------------------------------------
    async def after_open(self, poll_id: str) -> None:
        await self.redis.set(self.open_key, poll_id)

    async def before_close(self) -> None:
        """Shut the window in Redis, then fold every vote that got in before it shut."""
        await self.redis.delete(self.open_key)
        async with self._fold_lock:
            newest = await self.redis.xrevrange(self.stream, count=1)
            end = stream_seq(newest[0][0]) if newest else 0
            while stream_seq(self._last_id) < end:
                await self._read_once(block_ms=None)

    async def vote_of(self, device: str) -> dict[str, Any] | None:
        view = self.poll_view
        if view is None:
            return None
        raw = await self.redis.hget(self._votes_key(view["id"]), device)
        return json.loads(raw) if raw else None

    async def publish(self, frame: str) -> None:
        await self.redis.publish(self.channel, frame)

    async def _relay(self) -> None:
        """Every process: snapshots from the leader to this process's phones."""
        current = await self.redis.get(self.current_key)
        if current:
            self.poll_view = json.loads(current).get("view")
        pubsub = self.redis.pubsub()
        await pubsub.subscribe(self.channel)
        async for message in pubsub.listen():
            if message.get("type") != "message":
                continue
            frame = message["data"]
            try:
                data = json.loads(frame)
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("type") == "poll":
                self.poll_view = data.get("poll")  # music frames leave the poll as it is
            await self.service.broadcast(frame)

    # --- leader: the stream folded into the tallier ---------------------------------------
    async def _restore(self) -> None:
        """After a leader restart: re-open the poll that was open and replay its votes."""
        raw = await self.redis.get(self.current_key)
        if not raw:
            newest = await self.redis.xrevrange(self.stream, count=1)
            self._last_id = newest[0][0] if newest else "0-0"
            return
        current = json.loads(raw)
        view = current.get("view") or {}
        self._last_id = current.get("start_id", "0-0")
        if view.get("open"):
            spec = parse_poll_spec(view)
            self.service.tallier.open_poll(spec, time.perf_counter_ns())
            await self.after_open(spec.poll_id)
            self._opened = spec.poll_id
            async with self._fold_lock:
                while await self._read_once(block_ms=None):
                    pass
            log.info("replaying poll %s from stream id %s", spec.poll_id, self._last_id)

    async def _fold(self) -> None:
        while True:
            await self._note_poll(self._last_id)
            async with self._fold_lock:
                got = await self._read_once(block_ms=50)
            if not got:
                await asyncio.sleep(0)  # let a waiting barrier in

    async def _read_once(self, block_ms: int | None) -> int:
        """Fold the next batch of stream entries into the tallier. Returns how many."""
        batch = await self.redis.xread({self.stream: self._last_id}, count=READ_BATCH,
                                       block=block_ms)
        if not batch:
            return 0
        votes_by_poll: dict[str, dict[str, str]] = {}
        now = time.perf_counter_ns()
        entries = batch[0][1]
        for entry_id, fields in entries:
            self._last_id = entry_id
            self._apply(entry_id, fields, now, votes_by_poll)
        if votes_by_poll:
            pipe = self.redis.pipeline(transaction=False)
            for poll_id, votes in votes_by_poll.items():
                pipe.hset(self._votes_key(poll_id), mapping=votes)
                pipe.expire(self._votes_key(poll_id), 24 * 3600)
            await pipe.execute()
        return len(entries)

    def _apply(self, entry_id: str, fields: dict[str, str], now_ns: int,
               votes_by_poll: dict[str, dict[str, str]]) -> None:
        device = fields.get("d", "")
        try:
            message = parse_phone(fields.get("m", ""))
            self.service.tallier.apply(device, message, now_ns, seq=stream_seq(entry_id))
        except ProtocolError:
            self.refused += 1  # raced a close: the phone was acknowledged before it
            return
        self.folded += 1
        if isinstance(message, Vote):
            vote = {"choice": message.choice} if message.choice is not None else {
                "value": message.value}
            votes_by_poll.setdefault(message.poll_id, {})[device] = json.dumps(vote)

    async def _note_poll(self, last_id: str) -> None:
        """Record the open poll and where its votes start, for a leader restart."""
        poll = self.service.tallier.book.current
        poll_id = poll.poll_id if poll is not None and poll.open else None
        if poll_id == self._opened:
            return
        self._opened = poll_id
        view = self.service.tallier.poll_view(time.perf_counter_ns())
        await self.redis.set(self.current_key, json.dumps({"view": view, "start_id": last_id}))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_redis_server(port: int | None = None, timeout_s: float = 10.0,
                       ) -> tuple[subprocess.Popen[bytes], str]:
    """A private redis-server on a loopback port (no persistence). Returns (process, URL)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (Debian package redis-server)")
    port = port or free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--protected-mode", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise RuntimeError("redis-server did not start")
