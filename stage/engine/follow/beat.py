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
_CURRENT = len(_SEARCH_RATIOS) // 2
_NEW_TEMPO_GAIN = 1.6
"""A new period must fit the recent onsets this much better than the current one."""
_BASS_WEIGHT = 1.6
"""Onsets that reach down to the recent bass line weigh this much more in the tempo search."""
_BASS_SPAN_S = 2.0
_BASS_REACH = 4
"""An onset is the bass when its lowest note is within this many semitones of the lowest
note of the last ``_BASS_SPAN_S`` seconds: a relative register, so a melody alone has one."""
_LONG_NOTE = 0.9
"""Notes held this many beats or more mark the beat: sustained notes start on it."""
_PHASE_DECAY = 0.97
"""Per beat: the metrical evidence forgets over about thirty beats."""
_PHASE_LEAD = 2.2
_PHASE_MIN = 5.0
"""The off-beat must hold this much more metrical evidence (and this much at least) than
the beat before the grid moves half a beat."""


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
    lowest: int = 127  # its lowest pitch
    bass: bool = False  # it reaches down to the recent bass line (known once closed)
    closed: bool = False
    long_counted: bool = False


class BeatTracker:
    """Beat clock from onsets. ``period_s`` is the prior beat period (seconds).

    Call :meth:`onset` for each note-on (time, velocity 1-127) and :meth:`advance` as time
    passes; both return the beats decided by then, in order.
    """

    def __init__(self, period_s: float, window: float = 0.2, period_gain: float = 0.35,
                 phase_gain: float = 1.0) -> None:
        if period_s <= 0:
            raise ValueError("beat period must be positive")
        self.prior_period = period_s
        self.period = period_s
        self.window = window
        self.period_gain = period_gain
        self.phase_gain = phase_gain
        self.next_time: float | None = None  # predicted time of the next beat (s)
        self.next_index = 0
        self.last_beat: Beat | None = None
        self.last_played: Beat | None = None
        self._candidates: list[_Onset] = []
        self._recent: deque[_Onset] = deque(maxlen=256)
        self._held: dict[int, _Onset] = {}  # pitch -> its onset, until released
        self._bass_line: deque[_Onset] = deque(maxlen=64)
        self._on_evidence = 0.0  # metrical evidence on the grid's beats / off-beats
        self._off_evidence = 0.0

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
        """A note-on at ``time`` (seconds). Returns beats decided up to ``time``."""
        strength = 0.25 + velocity / 127.0
        recent = self._recent[-1] if self._recent else None
        if recent is not None and time - recent.time < ONSET_MERGE_S:
            recent.strength += strength
            recent.lowest = min(recent.lowest, pitch)
            self._held[pitch] = recent
            return self.advance(time)
        if recent is not None and not recent.closed:
            self._close_group(recent)
        beats = self.advance(time)
        gap = time - recent.time if recent is not None else math.inf
        onset = _Onset(time, strength, pitch)
        self._recent.append(onset)
        self._held[pitch] = onset
        if self.next_time is None:
            return [*beats, self._decide(time, time, played=True)]
        if abs(time - self.next_time) <= self._window_s():
            self._candidates.append(onset)
        elif gap > 1.4 * self.period and self._lost_beat(time):
            beats.append(self._reanchor(time))
        return beats

    def release(self, time: float, pitch: int) -> None:
        """A note-off at ``time`` (seconds): a long bass note is more evidence for its onset
        (a melody's long notes are as often anticipations as on the beat)."""
        onset = self._held.pop(pitch, None)
        if onset is None or onset.long_counted:
            return
        if onset.bass and time - onset.time >= _LONG_NOTE * self.period:
            onset.long_counted = True
            self._metrical_evidence(onset.time)

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
        last = self._recent[-1] if self._recent else None
        if last is not None and not last.closed and decided_at - last.time >= ONSET_MERGE_S:
            self._close_group(last)
        best = self._best_candidate(predicted)
        self._candidates.clear()
        if best is None:
            return self._decide(predicted, decided_at, played=False)
        beat = self._decide(predicted + self.phase_gain * (best.time - predicted), decided_at,
                            played=True)
        self._search_tempo(decided_at)
        self._check_phase()
        return beat

    def _best_candidate(self, predicted: float) -> _Onset | None:
        # Wide: within the window the strongest onset wins, nearness only breaks ties.
        sigma = 2.0 * self._window_s()
        best, best_score = None, 0.0
        for onset in self._candidates:
            score = self._weight(onset) * math.exp(-0.5 * ((onset.time - predicted) / sigma) ** 2)
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
        self._on_evidence *= _PHASE_DECAY
        self._off_evidence *= _PHASE_DECAY
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

    def _close_group(self, group: _Onset) -> None:
        """A finished onset group: is it the bass? Bass onsets mark the beat."""
        group.closed = True
        lows = [o.lowest for o in self._bass_line if group.time - o.time < _BASS_SPAN_S]
        group.bass = not lows or group.lowest <= min(lows) + _BASS_REACH
        self._bass_line.append(group)
        if group.bass:
            self._metrical_evidence(group.time)

    def _metrical_evidence(self, time: float) -> None:
        """Count an onset that marks the beat (a bass note, a long note) as on the beat or
        on the off-beat of the current grid."""
        if self.last_beat is None:
            return
        phase = ((time - self.last_beat.time) / self.period) % 1.0
        if min(phase, 1.0 - phase) < 0.12:
            self._on_evidence += 1.0
        elif abs(phase - 0.5) < 0.12:
            self._off_evidence += 1.0

    def _check_phase(self) -> None:
        """Move the grid half a beat when the beat-marking onsets keep landing half-way
        between our beats (a syncopated start, an anticipation taken for the beat)."""
        on, off = self._on_evidence, self._off_evidence
        if off >= _PHASE_MIN and off > _PHASE_LEAD * on and self.next_time is not None:
            self.next_time += 0.5 * self.period
            self._on_evidence, self._off_evidence = off, on

    @staticmethod
    def _weight(onset: _Onset) -> float:
        return onset.strength * (_BASS_WEIGHT if onset.bass else 1.0)

    def _search_tempo(self, now: float) -> None:
        """Replace the grid when recent onsets fit a nearby period clearly better (a sudden
        tempo change). The beat's phase is the metrical evidence's call, not this search's:
        comping chords crowd the off-beats."""
        onsets = [o for o in self._recent if now - o.time < _SEARCH_HISTORY_S]
        if len(onsets) < 8 or self.last_played is None:
            return
        times = np.fromiter((o.time for o in onsets), float, len(onsets))
        weights = np.fromiter((self._weight(o) for o in onsets), float, len(onsets))
        weights *= np.exp((times - now) / 2.5)  # recent onsets count more
        anchor = self.last_played.time
        periods = self.period * _SEARCH_RATIOS
        phase = (times[None, :] - anchor) / periods[:, None]
        distance = phase - np.round(phase)
        # Per beat, not per onset, so doubling the tempo to catch off-beats gains nothing.
        fit = (weights * np.exp(-0.5 * (distance / 0.06) ** 2)).sum(axis=1) * periods
        fit *= np.exp(-0.5 * (np.log(periods / self.prior_period) / 0.25) ** 2)
        best = int(np.argmax(fit))
        steps = self.next_index - self.last_played.index
        if best != _CURRENT and fit[best] > _NEW_TEMPO_GAIN * fit[_CURRENT]:
            self.period = float(periods[best])
            self.next_time = anchor + self.period * steps
