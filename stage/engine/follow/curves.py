"""Tempo curves for testing a follower: warp a performance's time and its ground truth alike.

A curve maps original seconds to performed seconds, monotonically. The performer's messages
and the annotated beats, chords and keys go through the same curve, so a follower that
follows perfectly still scores perfectly. Used by the tests and the benchmark.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from stage.engine.time import NS_PER_S

Curve = Callable[[np.ndarray], np.ndarray]
CurveFactory = Callable[[float, np.ndarray], Curve]
"""(duration in seconds, annotated beat times in seconds) -> curve."""

_STEP_S = 0.01


def from_tempo_factor(factor: Callable[[np.ndarray], np.ndarray], duration: float) -> Curve:
    """The curve of a tempo ``factor`` over original time (1.0 = as written, 1.2 = faster)."""
    grid = np.arange(0.0, duration + 10.0, _STEP_S)
    performed = np.concatenate([[0.0], np.cumsum(_STEP_S / factor(grid[:-1] + _STEP_S / 2))])

    def curve(times: np.ndarray) -> np.ndarray:
        return np.interp(np.asarray(times, float), grid, performed)

    return curve


def drift(duration: float, beats: np.ndarray) -> Curve:
    """Slow drift: the tempo wanders ±15 % over 30 s."""
    return from_tempo_factor(lambda t: 1.0 + 0.15 * np.sin(2 * np.pi * t / 30.0), duration)


def ritardando(duration: float, beats: np.ndarray) -> Curve:
    """In time for 60 % of the piece, then slowing steadily to 60 % of the tempo at the end."""
    start = 0.6 * duration

    def factor(t: np.ndarray) -> np.ndarray:
        return np.where(t < start, 1.0, 1.0 - 0.4 * np.clip((t - start) / (duration - start),
                                                              0, 1))
    return from_tempo_factor(factor, duration)


def sudden_change(duration: float, beats: np.ndarray) -> Curve:
    """From the beat nearest half-way on, 20 % faster."""
    at = float(beats[np.argmin(np.abs(beats - duration / 2))]) if len(beats) else duration / 2
    return from_tempo_factor(lambda t: np.where(t < at, 1.0, 1.2), duration)


def fermata(duration: float, beats: np.ndarray) -> Curve:
    """Two held beats: at the beats nearest a third and two thirds of the way, everything
    after the beat waits two more beat lengths (the notes on that beat sound on)."""
    if len(beats) < 4:
        return lambda times: np.asarray(times, float)
    period = float(np.median(np.diff(beats)))
    holds = [float(beats[np.argmin(np.abs(beats - duration * f))]) for f in (1 / 3, 2 / 3)]

    def curve(times: np.ndarray) -> np.ndarray:
        times = np.asarray(times, float)
        shift = sum(2 * period * (times > hold + 1e-4) for hold in holds)
        return times + shift

    return curve


CURVES: dict[str, CurveFactory] = {
    "drift": drift, "ritardando": ritardando, "fermata": fermata, "sudden_change": sudden_change,
}


def warp_messages(messages: Sequence[tuple[int, bytes]], curve: Curve) -> list[tuple[int, bytes]]:
    """``messages`` (time ns, bytes) with their times through ``curve``."""
    times = curve(np.array([t for t, _ in messages], float) / NS_PER_S)
    return [(round(float(t) * NS_PER_S), data)
            for t, (_, data) in zip(times, messages, strict=True)]
