"""What sounded when: note spans (sustain pedal included) and their pitch-class weights.

Times are seconds. A note's span runs from its note-on to its note-off, or to the pedal's
release when the sustain pedal holds it. The chord and key trackers read weights over a span
of time from this record; nothing here looks past the time it is asked about.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

_HISTORY = 512
"""Notes kept (most recent); enough for the key tracker's memory at any density."""


@dataclass(slots=True)
class NoteSpan:
    pitch: int
    velocity: int
    start: float
    end: float | None = None  # None while it sounds


class NoteRecord:
    """Recent note spans; ``note_on``/``note_off``/``pedal`` in time order (seconds)."""

    def __init__(self) -> None:
        self.spans: deque[NoteSpan] = deque(maxlen=_HISTORY)
        self._open: dict[int, NoteSpan] = {}
        self._held_by_pedal: dict[int, NoteSpan] = {}
        self.pedal = False

    def note_on(self, time: float, pitch: int, velocity: int) -> None:
        for table in (self._open, self._held_by_pedal):
            previous = table.pop(pitch, None)
            if previous is not None:
                previous.end = time  # a repeated key ends the note it restrikes
        span = NoteSpan(pitch, velocity, time)
        self.spans.append(span)
        self._open[pitch] = span

    def note_off(self, time: float, pitch: int) -> None:
        span = self._open.pop(pitch, None)
        if span is None:
            return
        if self.pedal:
            self._held_by_pedal[pitch] = span
        else:
            span.end = time

    def set_pedal(self, time: float, down: bool) -> None:
        self.pedal = down
        if not down:
            for span in self._held_by_pedal.values():
                span.end = time
            self._held_by_pedal.clear()

    def sounding(self) -> frozenset[int]:
        return frozenset(self._open) | frozenset(self._held_by_pedal)

    def weights(self, start: float, end: float) -> tuple[np.ndarray, int | None]:
        """Pitch-class weights over [start, end) (seconds): time sounding times loudness,
        and the lowest pitch sounding in the span (None when nothing sounded)."""
        chroma = np.zeros(12)
        bass: int | None = None
        for span in reversed(self.spans):
            if span.start >= end:
                continue
            span_end = end if span.end is None else min(span.end, end)
            overlap = span_end - max(span.start, start)
            if overlap <= 0:
                if span.start < start - 30.0:
                    break  # spans are in start order; nothing older can reach the window
                continue
            chroma[span.pitch % 12] += overlap * (0.3 + span.velocity / 127.0)
            if bass is None or span.pitch < bass:
                bass = span.pitch
        return chroma, bass
