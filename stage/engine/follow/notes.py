"""What sounded when: note spans (sustain pedal included) and their pitch-class weights.

Times are seconds. A note's span runs from its note-on to its note-off, or to the pedal's
release when the sustain pedal holds it. The chord and key trackers read weights over a span
of time from this record; nothing here looks past the time it is asked about.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

_HISTORY = 512
"""Notes kept (most recent); enough for the key tracker's memory at any density."""


def note_weight(pitch: int, velocity: int) -> float:
    """How much a sounding note says about the harmony, per second: louder more, and the
    accompaniment's register (below C4) more than the melody's (from C5 up)."""
    register = 1.5 if pitch < 60 else (0.5 if pitch >= 72 else 1.0)
    return (0.3 + velocity / 127.0) * register


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
        self._ended: deque[NoteSpan] = deque(maxlen=_HISTORY)  # in the order they ended
        self._open: dict[int, NoteSpan] = {}
        self._held_by_pedal: dict[int, NoteSpan] = {}
        self.pedal = False

    def note_on(self, time: float, pitch: int, velocity: int) -> None:
        for table in (self._open, self._held_by_pedal):
            previous = table.pop(pitch, None)
            if previous is not None:
                self._end(previous, time)  # a repeated key ends the note it restrikes
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
            self._end(span, time)

    def set_pedal(self, time: float, down: bool) -> None:
        self.pedal = down
        if not down:
            for span in self._held_by_pedal.values():
                self._end(span, time)
            self._held_by_pedal.clear()

    def _end(self, span: NoteSpan, time: float) -> None:
        span.end = time
        self._ended.append(span)

    def sounding(self) -> frozenset[int]:
        return frozenset(self._open) | frozenset(self._held_by_pedal)

    def weights(self, start: float, end: float) -> tuple[np.ndarray, int | None]:
        """Pitch-class weights over [start, end) (seconds): time sounding times loudness,
        and the lowest pitch sounding in the span (None when nothing sounded)."""
        chroma = np.zeros(12)
        bass: int | None = None
        for span in self._reaching(start, end):
            span_end = end if span.end is None else min(span.end, end)
            overlap = span_end - max(span.start, start)
            if overlap <= 0:
                continue
            chroma[span.pitch % 12] += overlap * note_weight(span.pitch, span.velocity)
            if bass is None or span.pitch < bass:
                bass = span.pitch
        return chroma, bass

    def _reaching(self, start: float, end: float) -> list[NoteSpan]:
        """The spans that may sound in [start, end): those begun in it (newest first, they
        are in start order), and those begun before it that still sound or ended after its
        start (the held ones, and the last ones ended, in end order). Only these are read,
        however long the history."""
        out: list[NoteSpan] = []
        for span in reversed(self.spans):
            if span.start < start:
                break
            if span.start < end:
                out.append(span)
        older = [s for s in (*self._open.values(), *self._held_by_pedal.values())
                 if s.start < start]
        for span in reversed(self._ended):
            if span.end is not None and span.end <= start:
                break
            if span.start < start:
                older.append(span)
        return out + older

    def top_line(self, start: float, end: float) -> np.ndarray:
        """The share of [start, end) (seconds) each pitch class was the highest note
        sounding: the melody, where the melody is on top (the chord model's input)."""
        line = np.zeros(12)
        spans: list[tuple[float, float, int]] = []
        for span in self._reaching(start, end):
            begin, finish = max(span.start, start), end if span.end is None else min(span.end, end)
            if finish > begin:
                spans.append((begin, finish, span.pitch))
        if not spans or end <= start:
            return line
        cuts = sorted({start, end, *(a for a, _, _ in spans), *(b for _, b, _ in spans)})
        for left, right in pairwise(cuts):
            top = max((p for a, b, p in spans if a <= left and b >= right), default=None)
            if top is not None:
                line[top % 12] += (right - left) / (end - start)
        return line


NoteArrays = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def note_arrays(messages: list[tuple[int, bytes]]) -> NoteArrays:
    """A whole performance's notes (start s, end s, pitch, velocity) for offline work (the
    chord model's training), with the sustain pedal applied as :class:`NoteRecord` does."""
    record = NoteRecord()
    record.spans = deque(maxlen=None)
    last = 0.0
    for time_ns, data in messages:
        last = time_ns / 1e9
        if len(data) < 3:
            continue
        status = data[0] & 0xF0
        if status == 0x90 and data[2] > 0:
            record.note_on(last, data[1], data[2])
        elif status in (0x80, 0x90):
            record.note_off(last, data[1])
        elif status == 0xB0 and data[1] == 64:
            record.set_pedal(last, data[2] >= 64)
    spans = list(record.spans)
    return (np.array([s.start for s in spans]), np.array([last if s.end is None else s.end
                                                         for s in spans]),
            np.array([s.pitch for s in spans]), np.array([s.velocity for s in spans]))


def span_weights(starts: np.ndarray, ends: np.ndarray, pitches: np.ndarray,
                 velocities: np.ndarray, begin: float, end: float) -> tuple[np.ndarray, int | None]:
    """:meth:`NoteRecord.weights` over arrays: pitch-class weights in [begin, end) seconds."""
    overlap = np.minimum(ends, end) - np.maximum(starts, begin)
    sounding = (overlap > 0) & (starts < end)
    chroma = np.zeros(12)
    if not sounding.any():
        return chroma, None
    weight = np.array([note_weight(int(p), int(v))
                       for p, v in zip(pitches[sounding], velocities[sounding], strict=True)])
    np.add.at(chroma, pitches[sounding] % 12, overlap[sounding] * weight)
    return chroma, int(pitches[sounding].min())
