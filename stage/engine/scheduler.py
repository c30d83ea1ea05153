"""The pure scheduling core: events in, due events out, given ``now``.

Events wait in one heap per output, ordered by tick. Their wall time is computed from the
tempo map when they come due, so a tempo change moves everything not yet sent. Each output
has its own latency offset: its events leave that much before they are due to sound.
Late events are sent anyway, counted and logged; note-offs are never dropped.
"""

from __future__ import annotations

import heapq
import logging
from dataclasses import dataclass, field

from stage.engine.events import Event, Note, NoteOff, NoteOn
from stage.engine.time import TempoMap

log = logging.getLogger(__name__)

LATE_TOLERANCE_NS = 1_000_000
"""An event sent more than this after its due time counts as late."""


@dataclass(slots=True)
class Lateness:
    """Running count of late events and the worst lateness seen (ns)."""

    late: int = 0
    sent: int = 0
    worst_ns: int = 0

    def record(self, lateness_ns: int, tolerance_ns: int) -> bool:
        self.sent += 1
        if lateness_ns > tolerance_ns:
            self.late += 1
            self.worst_ns = max(self.worst_ns, lateness_ns)
            return True
        return False


@dataclass(order=True, slots=True)
class _Entry:
    tick: int
    rank: int  # note-offs before other events at the same tick, so a repeated note re-sounds
    seq: int
    event: Event = field(compare=False)


@dataclass(frozen=True, slots=True)
class Due:
    """An event to send now on ``output``; ``lateness_ns`` past its due time (ns)."""

    output: str
    event: Event
    due_ns: int
    lateness_ns: int


class Scheduler:
    """Per-output heaps of future events; :meth:`pop_due` hands out what is due at ``now``.

    Times are nanoseconds since the show's origin (the tempo map's zero).
    """

    def __init__(self, tempo: TempoMap, late_tolerance_ns: int = LATE_TOLERANCE_NS) -> None:
        self.tempo = tempo
        self.late_tolerance_ns = late_tolerance_ns
        self.lateness = Lateness()
        self._heaps: dict[str, list[_Entry]] = {}
        self._latency: dict[str, int] = {}
        self._seq = 0
        # Note-ons sent and not yet matched by their own note-off, per output and (ch, pitch):
        # an overlapping repeat re-sounds the pitch, and only the last note-off silences it.
        self._depth: dict[str, dict[tuple[int, int], int]] = {}

    def add_output(self, name: str, latency_ns: int = 0) -> None:
        self._heaps.setdefault(name, [])
        self._depth.setdefault(name, {})
        self._latency[name] = latency_ns

    @property
    def outputs(self) -> tuple[str, ...]:
        return tuple(self._heaps)

    def schedule(self, event: Event, output: str) -> None:
        """Queue ``event`` for ``output``; a :class:`Note` becomes its note-on and note-off."""
        if isinstance(event, Note):
            if event.duration <= 0:
                raise ValueError(f"note {event} has no duration")
            self._push(output, NoteOn(event.tick, event.pitch, event.velocity,
                                      event.channel, event.part))
            self._push(output, NoteOff(event.tick + event.duration, event.pitch, 0,
                                       event.channel, event.part))
        else:
            self._push(output, event)

    def play_now(self, event: Event, output: str, now_ns: int) -> list[Due]:
        """An answer to a played note: voiced at once (not late), its note-off queued."""
        if isinstance(event, Note):
            if event.duration <= 0:
                raise ValueError(f"note {event} has no duration")
            self._push(output, NoteOff(event.tick + event.duration, event.pitch, 0,
                                       event.channel, event.part))
            event = NoteOn(event.tick, event.pitch, event.velocity, event.channel, event.part)
        self.lateness.record(0, self.late_tolerance_ns)
        return self._voice(output, self._depth[output], event, now_ns, 0)

    def _push(self, output: str, event: Event) -> None:
        self._seq += 1
        rank = 0 if isinstance(event, NoteOff) else 1
        heapq.heappush(self._heaps[output], _Entry(event.tick, rank, self._seq, event))

    def due_ns(self, output: str, tick: int) -> int:
        """When an event at ``tick`` must leave ``output`` (ns since the origin)."""
        return self.tempo.ns_at(tick) - self._latency[output]

    def next_due_ns(self) -> int | None:
        """The earliest time (ns) any queued event is due, or None when all are empty."""
        best: int | None = None
        for output, heap in self._heaps.items():
            if heap:
                due = self.due_ns(output, heap[0].tick)
                if best is None or due < best:
                    best = due
        return best

    def pending(self) -> int:
        return sum(len(h) for h in self._heaps.values())

    def pop_due(self, now_ns: int) -> list[Due]:
        """Every event due at or before ``now_ns`` (ns), in time order per output."""
        out: list[Due] = []
        for output, heap in self._heaps.items():
            depth = self._depth[output]
            while heap:
                due = self.due_ns(output, heap[0].tick)
                if due > now_ns:
                    break
                event = heapq.heappop(heap).event
                lateness = now_ns - due
                if self.lateness.record(lateness, self.late_tolerance_ns):
                    log.debug("late by %.2f ms on %s: %s", lateness / 1e6, output, event)
                out.extend(self._voice(output, depth, event, due, lateness))
        return out

    @staticmethod
    def _voice(output: str, depth: dict[tuple[int, int], int], event: Event,
               due: int, lateness: int) -> list[Due]:
        if isinstance(event, NoteOn):
            key = (event.channel, event.pitch)
            count = depth.get(key, 0)
            depth[key] = count + 1
            if count:  # already sounding: end it so the new note strikes again
                off = NoteOff(event.tick, event.pitch, 0, event.channel, event.part)
                return [Due(output, off, due, lateness), Due(output, event, due, lateness)]
        elif isinstance(event, NoteOff):
            key = (event.channel, event.pitch)
            count = depth.get(key, 0)
            if count > 1:
                depth[key] = count - 1
                return []  # a later note on this pitch still sounds: its own off ends it
            depth.pop(key, None)
        return [Due(output, event, due, lateness)]

    def release_all(self, output: str | None = None) -> list[Due]:
        """Stop: drop queued note-ons and everything else, return the note-offs still owed.

        Note-offs for notes already sounding are returned (to send at once), never dropped.
        """
        out: list[Due] = []
        for name in [output] if output else list(self._heaps):
            heap, depth = self._heaps[name], self._depth[name]
            owed = sorted((e for e in heap if isinstance(e.event, NoteOff)), key=lambda e: e)
            heap.clear()
            for entry in owed:
                event = entry.event
                assert isinstance(event, NoteOff)
                if depth.pop((event.channel, event.pitch), 0):
                    out.append(Due(name, event, self.due_ns(name, event.tick), 0))
        return out
