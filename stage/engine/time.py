"""Musical time: integer ticks, the tempo map, and the two clocks.

Logical time is musical: ticks at ``PPQ`` per quarter note, never floats. Wall time is
integer nanoseconds from ``time.perf_counter_ns()``. A :class:`TempoMap` converts between
ticks and nanoseconds since the show's origin, piecewise; a tempo change applies from a
given tick onward and never rewrites the past.
"""

from __future__ import annotations

import bisect
import queue
import time
from dataclasses import dataclass
from typing import Protocol, TypeVar

PPQ = 960
"""Ticks per quarter note."""

NS_PER_S = 1_000_000_000
_NS_PER_MINUTE = 60 * NS_PER_S

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class TempoSegment:
    """A stretch of constant tempo starting at ``start_tick`` (ticks) / ``start_ns`` (ns)."""

    start_tick: int
    start_ns: int
    bpm: float

    @property
    def ns_per_tick(self) -> float:
        return _NS_PER_MINUTE / (self.bpm * PPQ)


class TempoMap:
    """Piecewise-constant tempo: ticks <-> nanoseconds since the show's origin.

    Segments are only ever appended: :meth:`set_tempo` at a tick before the last segment's
    start raises, so decisions already made on the old mapping stay true.
    """

    def __init__(self, bpm: float = 120.0) -> None:
        _check_bpm(bpm)
        self._segments: list[TempoSegment] = [TempoSegment(0, 0, float(bpm))]
        self._starts: list[int] = [0]  # start ticks, for bisect

    @property
    def segments(self) -> tuple[TempoSegment, ...]:
        return tuple(self._segments)

    def _segment_for_tick(self, tick: int) -> TempoSegment:
        index = bisect.bisect_right(self._starts, tick) - 1
        return self._segments[max(index, 0)]

    def _segment_for_ns(self, ns: int) -> TempoSegment:
        # start_ns rises with start_tick, so the last segment starting at or before ns wins.
        lo, hi = 0, len(self._segments)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._segments[mid].start_ns <= ns:
                lo = mid + 1
            else:
                hi = mid
        return self._segments[max(lo - 1, 0)]

    def ns_at(self, tick: int) -> int:
        """Nanoseconds since the origin at ``tick`` (ticks)."""
        seg = self._segment_for_tick(tick)
        return seg.start_ns + round((tick - seg.start_tick) * seg.ns_per_tick)

    def seconds_at(self, tick: int) -> float:
        """Seconds since the origin at ``tick`` (ticks)."""
        return self.ns_at(tick) / NS_PER_S

    def tick_at(self, ns: int) -> int:
        """The tick sounding at ``ns`` nanoseconds since the origin (floor)."""
        seg = self._segment_for_ns(ns)
        npt = seg.ns_per_tick
        offset = int((ns - seg.start_ns) // npt)
        # ns_at rounds: nudge so that tick_at(ns_at(t)) == t exactly, whatever the float error.
        if seg.start_ns + round((offset + 1) * npt) <= ns:
            offset += 1
        elif offset > 0 and seg.start_ns + round(offset * npt) > ns:
            offset -= 1
        return seg.start_tick + offset

    def bpm_at(self, tick: int) -> float:
        """Tempo in quarter notes per minute in force at ``tick``."""
        return self._segment_for_tick(tick).bpm

    def set_tempo(self, bpm: float, at_tick: int) -> None:
        """Play at ``bpm`` from ``at_tick`` (ticks) on; the past keeps its tempo.

        Raises ValueError when ``at_tick`` lies before the start of the last segment.
        """
        _check_bpm(bpm)
        last = self._segments[-1]
        if at_tick < last.start_tick:
            raise ValueError(
                f"tempo change at tick {at_tick} would rewrite the past "
                f"(last change at tick {last.start_tick})"
            )
        start_ns = self.ns_at(at_tick)
        if at_tick == last.start_tick:
            self._segments[-1] = TempoSegment(at_tick, last.start_ns, float(bpm))
            return
        self._segments.append(TempoSegment(at_tick, start_ns, float(bpm)))
        self._starts.append(at_tick)

    def set_tempo_at_ns(self, bpm: float, now_ns: int) -> int:
        """Play at ``bpm`` from the tick sounding at ``now_ns`` on; returns that tick."""
        tick = max(self.tick_at(now_ns), self._segments[-1].start_tick)
        self.set_tempo(bpm, tick)
        return tick


def _check_bpm(bpm: float) -> None:
    if not 1.0 <= bpm <= 1000.0:
        raise ValueError(f"tempo {bpm} bpm is outside 1..1000")


class Clock(Protocol):
    """Wall time in nanoseconds; ``RealClock`` and ``VirtualClock`` share this interface."""

    def now_ns(self) -> int:
        """Current wall time in nanoseconds."""
        ...

    def wait(self, deadline_ns: int, inbox: queue.Queue[T] | None = None) -> T | None:
        """Wait until ``deadline_ns`` (ns) or until ``inbox`` yields an item, whichever is first.

        Returns the item taken from ``inbox``, or None at the deadline.
        """
        ...


class RealClock:
    """``perf_counter_ns``; waits by blocking on the inbox, then a short spin for precision."""

    def __init__(self, spin_ns: int = 300_000) -> None:
        self.spin_ns = spin_ns

    def now_ns(self) -> int:
        return time.perf_counter_ns()

    def wait(self, deadline_ns: int, inbox: queue.Queue[T] | None = None) -> T | None:
        remaining = deadline_ns - time.perf_counter_ns()
        if remaining > self.spin_ns:
            timeout = (remaining - self.spin_ns) / NS_PER_S
            if inbox is not None:
                try:
                    return inbox.get(timeout=timeout)
                except queue.Empty:
                    pass
            else:
                time.sleep(timeout)
        # Spin the last fraction of a millisecond; sleep(0) lets other threads take the GIL.
        while time.perf_counter_ns() < deadline_ns:
            if inbox is not None:
                try:
                    return inbox.get_nowait()
                except queue.Empty:
                    pass
            time.sleep(0)
        return None


class VirtualClock:
    """A clock advanced by hand: offline renders and exact timing tests."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now_ns = start_ns

    def now_ns(self) -> int:
        return self._now_ns

    def advance_to(self, ns: int) -> None:
        """Move time forward to ``ns`` (ns); time never runs backwards."""
        if ns > self._now_ns:
            self._now_ns = ns

    def advance(self, delta_ns: int) -> None:
        self.advance_to(self._now_ns + delta_ns)

    def wait(self, deadline_ns: int, inbox: queue.Queue[T] | None = None) -> T | None:
        if inbox is not None:
            try:
                return inbox.get_nowait()
            except queue.Empty:
                pass
        self.advance_to(deadline_ns)
        return None
