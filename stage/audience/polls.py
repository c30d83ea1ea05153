"""Poll state machine and tallies, no I/O.

One poll is open at a time (the crowd looks at one question). Votes are kept per device,
so a device has exactly one vote per poll window: voting again changes it, a reconnect
keeps it, and replaying the same vote (at-least-once delivery) changes nothing.
Times are wall-clock nanoseconds (``perf_counter_ns``) passed in by the caller.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from stage.audience.protocol import REACTIONS, PollSpec, ProtocolError, Tap, Vote

TAP_WINDOW_NS = 2_000_000_000
"""Tap rate is measured over the last two seconds."""
TAP_FULL_RATE = 6.0
"""Taps per second per phone that count as full hype (energy 1.0)."""
MAX_TAP_RATE = 12.0
"""Taps per second per phone past which extra taps are ignored (no thumb goes faster)."""


@dataclass(frozen=True, slots=True)
class PollResult:
    """A closed poll's outcome.

    ``winner``: option index for choice polls (ties go to the lowest index), else None.
    ``value``: 0-1 — the winner's share (choice), the mean (scale), the crowd energy (tap),
    reactions per voter per second clipped to 1 (reactions).
    """

    poll_id: str
    kind: str
    winner: int | None
    value: float
    counts: tuple[int, ...]
    voters: int

    def to_json(self) -> dict[str, Any]:
        return {
            "poll": self.poll_id,
            "kind": self.kind,
            "winner": self.winner,
            "value": round(self.value, 4),
            "counts": list(self.counts),
            "voters": self.voters,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PollResult:
        return cls(
            poll_id=str(data["poll"]),
            kind=str(data["kind"]),
            winner=data.get("winner"),
            value=float(data.get("value", 0.0)),
            counts=tuple(int(c) for c in data.get("counts", ())),
            voters=int(data.get("voters", 0)),
        )


def _clip(value: float) -> float:
    return min(1.0, max(0.0, value))


class _TapMeter:
    """One phone's recent taps as (time ns, count) pairs within the tap window."""

    __slots__ = ("events", "total")

    def __init__(self) -> None:
        self.events: deque[tuple[int, int]] = deque()
        self.total = 0

    def add(self, now_ns: int, count: int) -> int:
        self._expire(now_ns)
        room = int(MAX_TAP_RATE * TAP_WINDOW_NS / 1e9) - sum(c for _, c in self.events)
        accepted = max(0, min(count, room))
        if accepted:
            self.events.append((now_ns, accepted))
            self.total += accepted
        return accepted

    def rate(self, now_ns: int) -> float:
        self._expire(now_ns)
        return sum(c for _, c in self.events) * 1e9 / TAP_WINDOW_NS

    def _expire(self, now_ns: int) -> None:
        while self.events and now_ns - self.events[0][0] > TAP_WINDOW_NS:
            self.events.popleft()


class Poll:
    """One poll window and its tally."""

    def __init__(self, spec: PollSpec, opened_ns: int) -> None:
        self.spec = spec
        self.opened_ns = opened_ns
        self.open = True
        self.choices: dict[str, int] = {}
        self.counts = [0] * len(spec.options)
        """Per-option counts kept as votes come and change (a tally is O(options))."""
        self.values: dict[str, float] = {}
        self.value_sum = 0.0
        self.taps: dict[str, _TapMeter] = {}
        self.reactions: Counter[str] = Counter()
        self.reacting: set[str] = set()
        self.version = 0
        """Bumped on every change that alters the tally (drives broadcast)."""

    @property
    def poll_id(self) -> str:
        return self.spec.poll_id

    def vote(self, device: str, vote: Vote) -> bool:
        """Record or change ``device``'s vote. Returns True when the tally changed."""
        kind = self.spec.kind
        if kind == "choice":
            if vote.choice is None or vote.choice >= len(self.spec.options):
                raise ProtocolError("bad_vote", "no such option")
            previous = self.choices.get(device)
            changed = previous != vote.choice
            if changed:
                if previous is not None:
                    self.counts[previous] -= 1
                self.counts[vote.choice] += 1
                self.choices[device] = vote.choice
        elif kind == "scale":
            if vote.value is None:
                raise ProtocolError("bad_vote", "a scale vote carries a value")
            old = self.values.get(device)
            changed = old != vote.value
            if changed:
                self.value_sum += vote.value - (old or 0.0)
                self.values[device] = vote.value
        else:
            raise ProtocolError("bad_vote", f"a {kind} poll takes no votes")
        if changed:
            self.version += 1
        return changed

    def tap(self, device: str, tap: Tap, now_ns: int) -> int:
        if self.spec.kind != "tap":
            raise ProtocolError("bad_vote", "this poll takes no taps")
        meter = self.taps.get(device)
        if meter is None:
            meter = self.taps[device] = _TapMeter()
        accepted = meter.add(now_ns, tap.count)
        if accepted:
            self.version += 1
        return accepted

    def react(self, device: str, emoji: str) -> None:
        self.reactions[emoji] += 1
        self.reacting.add(device)
        self.version += 1

    def vote_of(self, device: str) -> dict[str, Any] | None:
        """What ``device`` has voted in this poll (for a reconnecting phone)."""
        if device in self.choices:
            return {"choice": self.choices[device]}
        if device in self.values:
            return {"value": self.values[device]}
        return None

    def tally(self, now_ns: int) -> PollResult:
        """The standing result at ``now_ns`` (the result itself once closed)."""
        kind = self.spec.kind
        if kind == "choice":
            counts = self.counts
            voters = len(self.choices)
            best = max(counts)
            winner = counts.index(best) if voters else None
            return PollResult(self.poll_id, kind, winner, best / voters if voters else 0.0,
                              tuple(counts), voters)
        if kind == "scale":
            voters = len(self.values)
            mean = _clip(self.value_sum / voters) if voters else 0.0
            return PollResult(self.poll_id, kind, None, mean, (), voters)
        if kind == "tap":
            rates = [m.rate(now_ns) for m in self.taps.values()]
            energy = (sum(min(1.0, r / TAP_FULL_RATE) for r in rates) / len(rates)
                      if rates else 0.0)
            total = sum(m.total for m in self.taps.values())
            return PollResult(self.poll_id, kind, None, energy, (total,), len(self.taps))
        per_emoji = tuple(self.reactions[e] for e in REACTIONS)
        voters = len(self.reacting)
        seconds = max(1e-9, (now_ns - self.opened_ns) / 1e9)
        value = min(1.0, sum(per_emoji) / max(1, voters) / seconds) if voters else 0.0
        return PollResult(self.poll_id, kind, None, value, per_emoji, voters)


class PollBook:
    """The show's polls: the one open now and the results of closed ones."""

    def __init__(self, keep_results: int = 64) -> None:
        self.current: Poll | None = None
        self.results: deque[PollResult] = deque(maxlen=keep_results)
        self.bar = -1
        self.section: str | None = None

    def open(self, spec: PollSpec, now_ns: int) -> tuple[Poll, PollResult | None]:
        """Open ``spec``; an open poll with another id is closed first (its result returned).

        Opening the id that is already open keeps its votes (an engine that reconnects
        re-sends its open poll).
        """
        previous = None
        if self.current is not None and self.current.open:
            if self.current.poll_id == spec.poll_id:
                return self.current, None
            previous = self.close(now_ns)
        self.current = Poll(spec, now_ns)
        return self.current, previous

    def close(self, now_ns: int, poll_id: str | None = None) -> PollResult | None:
        poll = self.current
        if poll is None or not poll.open or (poll_id is not None and poll.poll_id != poll_id):
            return None
        poll.open = False
        result = poll.tally(now_ns)
        self.results.append(result)
        return result

    def open_poll(self, poll_id: str) -> Poll:
        poll = self.current
        if poll is None or not poll.open or poll.poll_id != poll_id:
            raise ProtocolError("poll_closed", "that poll is not open")
        return poll

    def due_to_close(self, bar: int, section: str | None) -> bool:
        """Whether a state for bar ``bar`` in ``section`` closes the open poll."""
        poll = self.current
        if poll is None or not poll.open:
            return False
        spec = poll.spec
        section_changed = self.section is not None and section != self.section
        return (spec.close_bar is not None and bar >= spec.close_bar) or (
            spec.close_on_section and section_changed)

    def on_musical_state(self, bar: int, section: str | None, now_ns: int) -> PollResult | None:
        """The engine reports bar ``bar`` started in ``section``; close a poll due now."""
        due = self.due_to_close(bar, section)
        self.bar, self.section = bar, section
        return self.close(now_ns) if due else None
