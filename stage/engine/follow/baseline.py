"""Simple references the follower is measured against (benchmarks and tests only).

- :func:`ioi_beats`: an inter-onset-interval tracker. The period is the median interval
  between recent onsets, folded into the octave of the prior; a beat is due one period after
  the last, and snaps to an onset within 60 ms of it. Causal.
- :func:`frame_chords`: a plain template matcher: every half second, the major or minor triad
  that best matches the pitch classes sounding in that frame. Causal (decided at frame end).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from stage.engine.follow.chord import triad_match
from stage.engine.follow.notes import NoteRecord
from stage.engine.time import NS_PER_S

_SNAP_S = 0.06


def _fold(period: float, prior: float) -> float:
    while period < prior / 1.41:
        period *= 2
    while period > prior * 1.41:
        period /= 2
    return period


def ioi_beats(messages: Sequence[tuple[int, bytes]], prior_period: float,
              costs: list[int] | None = None) -> list[float]:
    """Beat times (seconds) from note-ons of ``messages`` (time ns, bytes)."""
    onsets: list[float] = []
    beats: list[float] = []
    period = prior_period
    for time_ns, data in messages:
        if len(data) < 3 or data[0] & 0xF0 != 0x90 or data[2] == 0:
            continue
        started = time.perf_counter_ns()
        now = time_ns / NS_PER_S
        while beats and now > beats[-1] + period + _SNAP_S:
            beats.append(beats[-1] + period)
        if not onsets or now - onsets[-1] > 0.035:
            onsets.append(now)
            recent = np.diff(onsets[-16:])
            if len(recent) >= 4:
                period = _fold(float(np.median(recent)), prior_period)
            if not beats or abs(now - (beats[-1] + period)) <= _SNAP_S:
                beats.append(now)
        if costs is not None:
            costs.append(time.perf_counter_ns() - started)
    return beats


def frame_chords(messages: Sequence[tuple[int, bytes]],
                 frame_s: float = 0.5) -> tuple[list[float], list[str]]:
    """Chord starts (seconds) and labels, one decision per ``frame_s`` frame."""
    record = NoteRecord()
    starts: list[float] = []
    labels: list[str] = []
    frame_end = frame_s

    def close_frames(until: float) -> None:
        nonlocal frame_end
        while frame_end <= until:
            chroma, _ = record.weights(frame_end - frame_s, frame_end)
            chord = triad_match(chroma)
            starts.append(frame_end - frame_s)
            labels.append(chord.label if chord is not None else "N")
            frame_end += frame_s

    for time_ns, data in messages:
        now = time_ns / NS_PER_S
        close_frames(now)
        if len(data) >= 3 and data[0] & 0xF0 == 0x90 and data[2] > 0:
            record.note_on(now, data[1], data[2])
        elif len(data) >= 3 and data[0] & 0xF0 in (0x80, 0x90):
            record.note_off(now, data[1])
        elif len(data) >= 3 and data[0] & 0xF0 == 0xB0 and data[1] == 64:
            record.set_pedal(now, data[2] >= 64)
    if messages:
        close_frames(messages[-1][0] / NS_PER_S + frame_s)
    return starts, labels
