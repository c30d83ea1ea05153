"""Causal beat tracking from note onsets: a phase-locked beat clock that snaps to played beats.

Times are seconds on the performer's clock. The tracker keeps a beat period and the predicted
time of the next beat. Onsets near a prediction are candidates for that beat; when the
prediction's window closes, the beat is decided: at the best candidate onset (the performer
played it) or at the prediction (a held or silent beat). Tempo follows the intervals between
decided beats; three mechanisms keep it honest when the performer departs from steady time:

- re-anchoring: after a pause or a fermata (no onset for most of a beat, then one off the
  grid), the first onset is taken as a beat and the count goes on from it;
- tempo search: every beat, the recent onsets are scored against nearby periods and phases,
  and a clearly better grid (a sudden tempo change) replaces the current one;
- the setlist's tempo is only the starting period and a weak pull on the search.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

ONSET_MERGE_S = 0.035
"""Note-ons closer than this (seconds) make one onset: a chord, a strummed spread."""

_SEARCH_HISTORY_S = 5.0
_SEARCH_RATIOS = np.exp(np.linspace(math.log(0.8), math.log(1.25), 23))
# Hypotheses: every nearby period, on the beat and on the off-beat (a pickup heard as a beat).
_RATIO_GRID = np.concatenate([_SEARCH_RATIOS, _SEARCH_RATIOS])
_PHASE_GRID = np.concatenate([np.zeros(len(_SEARCH_RATIOS)), np.full(len(_SEARCH_RATIOS), 0.5)])
_CURRENT = len(_SEARCH_RATIOS) // 2
# A new grid must fit this much better than the current one: a new tempo, or the off-beat.
_NEW_TEMPO_GAIN = 1.6
_OFFBEAT_GAIN = 1.3
_BASS_WEIGHT = 1.6
_BASS_BELOW = 53
_BASS_OFFBEAT_LEAD = 3.0
"""Bass onsets must sit this much more on the off-beat than on the beat to flip the grid."""
"""Onsets with a note below F3 weigh this much more: the bass and left hand mark the beat."""


@dataclass(frozen=True, slots=True)
class Beat:
    """A decided beat: ``time`` and ``decided_at`` in seconds, ``index`` counted from the
    performer's first onset (beat 0, a downbeat), ``played`` when an onset marked it."""

    time: float
    decided_at: float
    index: int
    played: bool

    def is_downbeat(self, beats_per_bar: int) -> bool:
        return self.index % beats_per_bar == 0


@dataclass(slots=True)
class _Onset:
    time: float
    strength: float
    low: bool = False  # a bass note among its notes


class BeatTracker:
    """Beat clock from onsets. ``period_s`` is the prior beat period (seconds).

    Call :meth:`onset` for each note-on (time, velocity 1-127) and :meth:`advance` as time
    passes; both return the beats decided by then, in order.
    """

    def __init__(self, period_s: float, window: float = 0.2, period_gain: float = 0.35) -> None:
        if period_s <= 0:
            raise ValueError("beat period must be positive")
        self.prior_period = period_s
        self.period = period_s
        self.window = window
        self.period_gain = period_gain
        self.next_time: float | None = None  # predicted time of the next beat (s)
        self.next_index = 0
        self.last_beat: Beat | None = None
        self.last_played: Beat | None = None
        self._candidates: list[_Onset] = []
        self._recent: deque[_Onset] = deque(maxlen=256)
        self._strength_avg = 0.0

    @property
    def started(self) -> bool:
        return self.next_time is not None

    @property
    def bpm(self) -> float:
        """Beats per minute of the tracked beat."""
        return 60.0 / self.period

    def _window_s(self) -> float:
        return self.window * self.period

    # -- input ---------------------------------------------------------------------------
    def onset(self, time: float, velocity: int, pitch: int = 60) -> list[Beat]:
        """A note-on at ``time`` (seconds). Returns beats decided up to ``time``.

        Low notes weigh more: the bass and the left hand mark the beat."""
        strength = (0.25 + velocity / 127.0) * (_BASS_WEIGHT if pitch < _BASS_BELOW else 1.0)
        recent = self._recent[-1] if self._recent else None
        if recent is not None and time - recent.time < ONSET_MERGE_S:
            recent.strength += strength
            recent.low = recent.low or pitch < _BASS_BELOW
            return self.advance(time)
        beats = self.advance(time)
        gap = time - recent.time if recent is not None else math.inf
        onset = _Onset(time, strength, pitch < _BASS_BELOW)
        self._recent.append(onset)
        if self.next_time is None:
            return [*beats, self._decide(time, time, played=True)]
        if abs(time - self.next_time) <= self._window_s():
            self._candidates.append(onset)
        elif gap > 1.4 * self.period and self._lost_beat(time):
            beats.append(self._reanchor(time))
        return beats

    def tap(self, times: list[float]) -> list[Beat]:
        """Tap tempo: ``times`` (seconds) are the latest taps, the last one now; they set the
        period and put a beat on the last tap."""
        beats = self.advance(times[-1])
        if len(times) >= 2:
            intervals = np.diff(np.asarray(times[-5:]))
            self.period = float(np.median(intervals))
        self._candidates.clear()
        beats.append(self._decide(times[-1], times[-1], played=True))
        return beats

    def advance(self, now: float) -> list[Beat]:
        """Decide every beat whose window closed before ``now`` (seconds)."""
        beats: list[Beat] = []
        while self.next_time is not None and now > self.next_time + self._window_s():
            beats.append(self._close_window(self.next_time + self._window_s()))
        return beats

    # -- decisions -----------------------------------------------------------------------
    def _close_window(self, decided_at: float) -> Beat:
        assert self.next_time is not None
        predicted = self.next_time
        best = self._best_candidate(predicted)
        self._candidates.clear()
        if best is None:
            return self._decide(predicted, decided_at, played=False)
        beat = self._decide(best.time, decided_at, played=True)
        self._search_tempo(decided_at)
        return beat

    def _best_candidate(self, predicted: float) -> _Onset | None:
        # Wide: within the window the strongest onset wins, nearness only breaks ties.
        sigma = 2.0 * self._window_s()
        best, best_score = None, 0.0
        for onset in self._candidates:
            score = onset.strength * math.exp(-0.5 * ((onset.time - predicted) / sigma) ** 2)
            if score > best_score:
                best, best_score = onset, score
        return best

    def _decide(self, time: float, decided_at: float, played: bool) -> Beat:
        index = self.next_index
        if played and self.last_played is not None:
            steps = index - self.last_played.index
            observed = (time - self.last_played.time) / steps
            if steps <= 2 and 0.7 < observed / self.period < 1.4:
                gain = self.period_gain / steps
                self.period += gain * (observed - self.period)
        beat = Beat(time, decided_at, index, played)
        self.last_beat = beat
        if played:
            self.last_played = beat
        self.next_index = index + 1
        self.next_time = time + self.period
        return beat

    def _lost_beat(self, time: float) -> bool:
        # Off the grid after a held beat: only when no played beat is near, so a syncopated
        # note in steady time never moves the grid.
        last = self.last_played
        return last is None or time - last.time > 1.9 * self.period

    def _reanchor(self, time: float) -> Beat:
        """The performer came back off the grid (after a pause or fermata): beat here."""
        assert self.last_beat is not None
        elapsed = max(time - self.last_beat.time, 0.0)
        self.next_index = self.last_beat.index + max(1, round(elapsed / self.period))
        self._candidates.clear()
        self.last_played = None  # the interval across the hold says nothing about tempo
        return self._decide(time, time, played=True)

    def _search_tempo(self, now: float) -> None:
        """Replace the grid when recent onsets fit a nearby period or the off-beat clearly
        better (a sudden tempo change, a pickup taken for a downbeat)."""
        onsets = [o for o in self._recent if now - o.time < _SEARCH_HISTORY_S]
        if len(onsets) < 8 or self.last_played is None:
            return
        times = np.fromiter((o.time for o in onsets), float, len(onsets))
        weights = np.fromiter((o.strength for o in onsets), float, len(onsets))
        weights *= np.exp((times - now) / 2.5)  # recent onsets count more
        anchor = self.last_played.time
        periods = self.period * _RATIO_GRID
        phase = (times[None, :] - anchor) / periods[:, None] - _PHASE_GRID[:, None]
        distance = phase - np.round(phase)
        # Per beat, not per onset, so doubling the tempo to catch off-beats gains nothing.
        fit = (weights * np.exp(-0.5 * (distance / 0.06) ** 2)).sum(axis=1) * periods
        fit *= np.exp(-0.5 * (np.log(periods / self.prior_period) / 0.25) ** 2)
        best = int(np.argmax(fit))
        gain = _OFFBEAT_GAIN if _PHASE_GRID[best] else _NEW_TEMPO_GAIN
        steps = self.next_index - self.last_played.index
        if best != _CURRENT and fit[best] > gain * fit[_CURRENT]:
            self.period = float(periods[best])
            self.next_time = anchor + self.period * (steps + float(_PHASE_GRID[best]))
        elif self._bass_offbeat(onsets, anchor):
            self.next_time = anchor + self.period * (steps + 0.5)

    def _bass_offbeat(self, onsets: list[_Onset], anchor: float) -> bool:
        """Pop's bass plays on the beat: when it keeps landing half-way between our beats,
        the grid is on the off-beat."""
        low = np.array([o.time for o in onsets if o.low])
        if len(low) < 4:
            return False
        phase = (low - anchor) / self.period
        on = np.exp(-0.5 * ((phase - np.round(phase)) / 0.08) ** 2).sum()
        off_phase = phase - 0.5
        off = np.exp(-0.5 * ((off_phase - np.round(off_phase)) / 0.08) ** 2).sum()
        return bool(off > _BASS_OFFBEAT_LEAD * on + 1.0)
