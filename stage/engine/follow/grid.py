"""Steering the shared tempo map onto the followed beats, by tempo nudges, never jumps.

The tracker's beat ``k`` (0 = the performer's first onset, a downbeat) belongs at tick
``origin_tick + k * ticks_per_beat``. At the first onset the origin is the bar line nearest
the map's tick then; the map reaches it within a bar. Afterwards each call appends one tempo
segment that brings the map's tick onto the tracker's beat a beat or two ahead, within a
bounded ratio of the followed tempo, so the band eases into the performer's time.
"""

from __future__ import annotations

from stage.engine.state import Meter
from stage.engine.time import NS_PER_S, PPQ, TempoMap

_SMOOTH_RATIO = (0.88, 1.14)
"""The map's tempo stays within these ratios of the followed tempo when it can."""

_HARD_RATIO = (0.6, 1.6)

_STEP_RATIO = 1.1
_STEP_EVERY_BEATS = 0.25
"""The map's tempo moves at most 10 % at a time, at most every quarter beat: when the
followed beat changes its mind (a sudden tempo change being recognised), the band eases
over rather than lurching after each guess."""


class GridSteer:
    """Keeps ``TempoMap`` ticks on the followed beat grid for ``meter``."""

    def __init__(self, meter: Meter) -> None:
        self.meter = meter
        self.origin_tick: int | None = None
        self._last_step_ns: int | None = None

    def place_origin(self, now_ns: int, tempo: TempoMap) -> int:
        """Put beat 0 (the first onset at ``now_ns``) on the nearest bar line; returns its tick."""
        bar = self.meter.ticks_per_bar
        tick = tempo.tick_at(now_ns)
        self.origin_tick = max(0, round(tick / bar) * bar)
        return self.origin_tick

    def move_downbeat(self, beats: int) -> None:
        """The downbeat is ``beats`` later (earlier when negative) than thought: bar lines stay
        on multiples of the bar in ticks, so the map eases ``beats`` beats back (or ahead)."""
        if self.origin_tick is not None:
            self.origin_tick -= beats * self.meter.ticks_per_beat

    def beat_tick(self, beat_index: int) -> int:
        assert self.origin_tick is not None
        return self.origin_tick + beat_index * self.meter.ticks_per_beat

    def steer(self, now_ns: int, tempo: TempoMap, next_beat_s: float, next_index: int,
              period_s: float, tapped: bool = False) -> float | None:
        """Append a tempo segment at ``now_ns`` aiming at the tracker's coming beats.

        ``next_beat_s`` (seconds) is the tracker's predicted time of beat ``next_index``;
        ``period_s`` its beat period; ``tapped`` when the performer just tapped the tempo
        (the map goes straight there). Returns the bpm set, or None when no change was needed.
        """
        if self.origin_tick is None:
            return None
        if (not tapped and self._last_step_ns is not None
                and now_ns - self._last_step_ns < _STEP_EVERY_BEATS * period_s * NS_PER_S):
            return None
        followed = 60.0 / period_s * self.meter.ticks_per_beat / PPQ  # quarter notes per minute
        now_tick = tempo.tick_at(now_ns)
        best_bpm, best_miss = followed, float("inf")
        for ahead in range(2 * self.meter.beats_per_bar + 1):
            target_ns = round((next_beat_s + ahead * period_s) * NS_PER_S)
            if target_ns - now_ns < 0.5 * period_s * NS_PER_S:
                continue
            ticks = self.beat_tick(next_index + ahead) - now_tick
            bpm = ticks / PPQ / ((target_ns - now_ns) / NS_PER_S) * 60.0
            ratio = bpm / followed
            if _SMOOTH_RATIO[0] <= ratio <= _SMOOTH_RATIO[1]:
                best_bpm = bpm
                break
            miss = abs(ratio - 1.0)
            if miss < best_miss:
                best_bpm, best_miss = bpm, miss
        best_bpm = min(max(best_bpm, followed * _HARD_RATIO[0]), followed * _HARD_RATIO[1])
        best_bpm = min(max(best_bpm, 1.0), 1000.0)
        current = tempo.bpm_at(now_tick)
        if not tapped:
            best_bpm = min(max(best_bpm, current / _STEP_RATIO), current * _STEP_RATIO)
        if abs(best_bpm / current - 1.0) < 0.002:
            return None
        tempo.set_tempo_at_ns(best_bpm, now_ns)
        self._last_step_ns = now_ns
        return best_bpm
