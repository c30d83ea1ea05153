"""Crowd simulator: N phones on the ``websockets`` client library that join, vote, change
their minds, tap and react roughly like people do.

Each phone joins (keeping the signed device cookie it is given), waits a human reaction
time after a poll opens, votes, sometimes changes its vote, taps in bursts in tap polls
and sends the odd reaction. A dropped phone reconnects with its cookie and re-sends a
vote that was not acknowledged. Every acknowledged vote is recorded (send time, ack time,
the service's ``vote_seq``) so the benchmark can trace it to the engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import websockets

from stage.audience.protocol import REACTIONS

log = logging.getLogger(__name__)

REACTION_TIME_S = (0.8, 4.0)
"""A person takes this long (uniform, seconds) to read a new question and vote."""
REACT_RATE = 0.05
"""Reactions per second per phone."""
HANDSHAKES_IN_FLIGHT = 100


def ws_url(url: str) -> str:
    """``http://host:port/?show=x`` (the join URL) -> ``ws://host:port/ws``."""
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme in ("https", "wss") else "ws"
    return f"{scheme}://{parts.netloc}/ws"


@dataclass
class CrowdReport:
    joined: int = 0
    failed: int = 0
    reconnects: int = 0
    votes_sent: int = 0
    votes_acked: int = 0
    taps_sent: int = 0
    reactions_sent: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    acks: list[tuple[int, int, int]] = field(default_factory=list)
    """(send ns, ack ns, vote_seq) per acknowledged vote (perf_counter_ns clock)."""
    final_votes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """device -> {"poll", "choice"|"value"}: its last acknowledged vote."""
    closed_seen_ns: list[int] = field(default_factory=list)
    """When each phone saw the open poll's snapshot turn closed."""

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items()}


class SimPhone:
    __slots__ = ("changed", "cookie", "device", "index", "pending", "poll", "poll_head",
                 "report", "rng", "seq", "source", "vote_rate")

    def __init__(self, index: int, report: CrowdReport, vote_rate: float, seed: int,
                 source: str | None) -> None:
        self.index = index
        self.report = report
        self.vote_rate = vote_rate
        self.rng = random.Random(seed * 1_000_003 + index)
        self.source = source
        self.cookie: str | None = None
        self.device: str | None = None
        self.poll: dict[str, Any] | None = None
        self.poll_head = ""
        self.changed = asyncio.Event()
        """Set when the poll on screen changes: the phone's owner looks up (no polling)."""
        self.pending: dict[int, tuple[int, dict[str, Any]]] = {}
        self.seq = 0

    async def live(self, url: str, joined: asyncio.Semaphore, stop: asyncio.Event) -> None:
        first = True
        while not stop.is_set():
            headers = {"Cookie": f"stage_device={self.cookie}"} if self.cookie else None
            kwargs: dict[str, Any] = {}
            if self.source:
                kwargs["local_addr"] = (self.source, 0)
            try:
                async with joined:
                    ws = await websockets.connect(url, additional_headers=headers,
                                                  compression=None, open_timeout=30,
                                                  ping_interval=None, max_queue=16, **kwargs)
            except (OSError, websockets.WebSocketException, TimeoutError) as exc:
                if first:
                    self.report.failed += 1
                    log.debug("phone %d could not join: %s", self.index, exc)
                    return
                await asyncio.sleep(self.rng.uniform(0.5, 2.0))
                continue
            if first:
                self.report.joined += 1
                first = False
            else:
                self.report.reconnects += 1
            try:
                await self._session(ws, stop)
            except websockets.WebSocketException:
                pass
            finally:
                await ws.close()

    async def _session(self, ws: Any, stop: asyncio.Event) -> None:
        actor = asyncio.create_task(self._act(ws, stop))
        try:
            async for raw in ws:
                if raw.startswith('{"v":1,"type":"poll"'):
                    # a person glances at the screen: only a new question or a closed
                    # window matters, so skip frames whose head (before the tally) is the same
                    head = raw[:raw.find('"tally"')]
                    if head == self.poll_head:
                        continue
                    self.poll_head = head
                self._on_frame(json.loads(raw))
                if stop.is_set():
                    break
        finally:
            actor.cancel()
            with contextlib.suppress(asyncio.CancelledError, websockets.WebSocketException):
                await actor

    def _on_frame(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        report = self.report
        if kind == "welcome":
            self.device = message["device"]
            self.cookie = message.get("cookie") or self.cookie
        elif kind == "poll":
            view = message.get("poll")
            was_open = self.poll is not None and self.poll.get("open")
            if view and not view.get("open") and was_open and self.poll is not None \
                    and self.poll["id"] == view["id"]:
                report.closed_seen_ns.append(time.perf_counter_ns())
            self.poll = view
            self.changed.set()
        elif kind == "ack":
            sent = self.pending.pop(message["seq"], None)
            if sent is not None:
                report.votes_acked += 1
                report.acks.append((sent[0], time.perf_counter_ns(), int(message["vote_seq"])))
                if self.device is not None:
                    report.final_votes[self.device] = sent[1]
        elif kind == "error":
            code = str(message.get("code"))
            report.errors[code] = report.errors.get(code, 0) + 1
            if code == "poll_closed":
                self.pending.clear()

    async def _act(self, ws: Any, stop: asyncio.Event) -> None:
        for _seq, (_, vote) in sorted(self.pending.items()):
            await self._send_vote(ws, vote)  # not acknowledged before a drop: send again
        voted_in: str | None = None
        while not stop.is_set():
            poll = self.poll
            if poll is None or not poll.get("open"):
                self.changed.clear()
                await self.changed.wait()
                continue
            if poll["kind"] == "tap":
                await self._tap(ws, poll)
                continue
            if voted_in != poll["id"]:
                await asyncio.sleep(self.rng.uniform(*REACTION_TIME_S))
                voted_in = poll["id"]
            elif self.vote_rate > 0:
                await asyncio.sleep(self.rng.expovariate(self.vote_rate))
            else:
                await asyncio.sleep(1.0)
                continue
            await self._vote_or_react(ws)

    async def _vote_or_react(self, ws: Any) -> None:
        poll = self.poll
        if stop_voting(poll):
            return
        assert poll is not None
        if self.rng.random() < REACT_RATE / max(self.vote_rate, REACT_RATE):
            await ws.send(json.dumps({"v": 1, "type": "react",
                                      "emoji": self.rng.choice(REACTIONS)}))
            self.report.reactions_sent += 1
        if poll["kind"] == "choice":
            # people lean towards a favourite: option weights fall off with the index
            weights = [1.0 / (i + 1) for i in range(len(poll["options"]))]
            vote: dict[str, Any] = {"poll": poll["id"], "choice": self.rng.choices(
                range(len(weights)), weights)[0]}
        elif poll["kind"] == "scale":
            vote = {"poll": poll["id"], "value": round(self.rng.betavariate(4, 2), 3)}
        else:
            return
        await self._send_vote(ws, vote)

    async def _send_vote(self, ws: Any, vote: dict[str, Any]) -> None:
        self.seq += 1
        self.pending[self.seq] = (time.perf_counter_ns(), vote)
        self.report.votes_sent += 1
        await ws.send(json.dumps({"v": 1, "type": "vote", "seq": self.seq, **vote}))

    async def _tap(self, ws: Any, poll: dict[str, Any]) -> None:
        """A burst of a few seconds at 2-6 taps a second, batched every 250 ms."""
        rate = self.rng.uniform(2.0, 6.0)
        for _ in range(self.rng.randint(4, 16)):
            await asyncio.sleep(0.25)
            count = max(1, round(rate * 0.25 + self.rng.uniform(-0.5, 0.5)))
            await ws.send(json.dumps({"v": 1, "type": "tap", "poll": poll["id"],
                                      "count": count}))
            self.report.taps_sent += count
        await asyncio.sleep(self.rng.uniform(0.5, 3.0))


def stop_voting(poll: dict[str, Any] | None) -> bool:
    return poll is None or not poll.get("open")


async def run_crowd(url: str, clients: int, vote_rate: float = 0.2, duration_s: float = 30.0,
                    seed: int = 1, sources: list[str] | None = None,
                    stop: asyncio.Event | None = None,
                    joined_event: asyncio.Event | None = None) -> CrowdReport:
    """Run ``clients`` phones against ``url`` for ``duration_s`` seconds (or until ``stop``).

    ``vote_rate``: votes per second per phone while a poll is open, after the first vote
    (changes of mind). ``sources``: local addresses to spread connections over
    (127.0.0.x) when one address runs out of ephemeral ports.
    """
    report = CrowdReport()
    stop = stop or asyncio.Event()
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
    target = ws_url(url)
    phones = [SimPhone(i, report, vote_rate, seed,
                       sources[i % len(sources)] if sources else None) for i in range(clients)]
    tasks = [asyncio.create_task(p.live(target, gate, stop)) for p in phones]
    if joined_event is not None:
        async def _watch_joined() -> None:
            while report.joined + report.failed < clients:
                await asyncio.sleep(0.1)
            joined_event.set()
        tasks.append(asyncio.create_task(_watch_joined()))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration_s)
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return report
