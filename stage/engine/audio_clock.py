"""Where a live input's samples fall on the show's clock, following the sound card's drift.

A sound card's sample clock and the computer's clock are two crystals: they drift apart by
tens of parts per million (50 ppm is 180 ms in an hour), so a stream anchored once at its
first block slowly hears the performer late or early against the MIDI and the band. The
callback stamps each block: how many samples have arrived, and when (``perf_counter_ns``,
less the stream's input latency). A stamp is never early, only late by however long the
callback waited to run, so over each window (2 s) the earliest-looking stamp, the one with
the least delay, is the truest; the anchor (the clock time of sample 0) glides halfway to
each window's estimate. Jitter of milliseconds is filtered out, drift is followed within a
few windows, and the anchor never jumps.

The callback only writes two integers into preallocated arrays; the reader (the engine
thread, draining features) does the arithmetic. One writer, one reader, no lock.
"""

from __future__ import annotations

import numpy as np

from stage.engine.time import NS_PER_S

_STAMPS = 4096
"""Stamps kept (11 s of 128-frame blocks at 48 kHz; the reader comes every few ms)."""
WINDOW_S = 2.0
"""Samples per estimate (seconds of audio): long enough to hold a block the callback ran
for on time."""
GLIDE = 0.5
"""Share of the way the anchor moves to each window's estimate."""


class SampleClock:
    """Maps sample indices of an input stream at ``sample_rate`` Hz to clock nanoseconds."""

    def __init__(self, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self._samples = np.zeros(_STAMPS, dtype=np.int64)
        self._arrivals = np.zeros(_STAMPS, dtype=np.int64)
        self.stamps = 0  # written by the callback only
        self._read = 0
        self._window_end = round(WINDOW_S * sample_rate)
        self._window_best: float | None = None
        self._anchor: float | None = None  # clock ns of sample 0

    def stamp(self, samples: int, arrival_ns: int) -> None:
        """The callback: ``samples`` have arrived in all, the last one at ``arrival_ns``."""
        slot = self.stamps % _STAMPS
        self._samples[slot] = samples
        self._arrivals[slot] = arrival_ns
        self.stamps += 1

    def first_sample_ns(self) -> float | None:
        """The clock time (ns) of sample 0 as now estimated; None before the first stamp."""
        end = self.stamps
        start = max(self._read, end - _STAMPS)
        for i in range(start, end):
            slot = i % _STAMPS
            self._hear(int(self._samples[slot]), int(self._arrivals[slot]))
        self._read = end
        return self._anchor

    def time_ns(self, sample: float) -> float | None:
        """The clock time (ns) of ``sample`` (an index into the stream)."""
        first = self.first_sample_ns()
        return None if first is None else first + sample * NS_PER_S / self.sample_rate

    def _hear(self, samples: int, arrival_ns: int) -> None:
        candidate = arrival_ns - samples * NS_PER_S / self.sample_rate
        if self._anchor is None:
            self._anchor = candidate  # the first block: the best there is yet
        best = self._window_best
        self._window_best = candidate if best is None else min(best, candidate)
        if samples >= self._window_end:
            estimate = self._window_best
            self._anchor += GLIDE * (estimate - self._anchor)
            self._window_best = None
            self._window_end = samples + round(WINDOW_S * self.sample_rate)
