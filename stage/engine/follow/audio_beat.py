"""Beats from the beat model's activations: a causal belief over tempo and beat position.

The belief is a hidden Markov model in the style of Krebs, Böck & Widmer's bar pointer
(madmom's DBN), run forwards only: a state is (beat interval T in frames, frames since the
last beat p). Every frame p advances by one; at the end of a beat (p = T - 1) the next
beat starts at a nearby interval (the tempo drifts, ``_TRANSITION``). The activation is the
observation: states just after a beat (p < T / 16, at most 3 frames) expect it high, the
others low.
Intervals range around the setlist's tempo (``_RANGE``), which also weighs the start.

A beat is decided ``confirm`` frames after it falls. States ``p`` frames into a beat passed
that beat ``p`` frames ago, so summing the belief over tempi at each ``p`` gives how likely
the last beat fell ``p`` frames ago given every frame heard up to now (a fixed-lag
smoothing). When the likeliest lag is ``confirm`` or ``confirm + 1`` frames, that lag and its
neighbours hold enough belief (``_CONFIDENT``), music is playing, and no beat was decided
in the last half beat, the beat is decided, stamped mid-frame (and ``_LATE_S`` later): known
35-45 ms after its time at the default, from activations of frames up to then only. The
belief's next beat is what the tempo map steers onto.

Times are seconds on the performer's clock, the activations' frame times.
"""

from __future__ import annotations

import math

import numpy as np

from stage.engine.follow.audio_beat_model import BeatActivations
from stage.engine.follow.beat import Beat

CONFIRM_FRAMES = 5
"""Frames a beat is confirmed over before it is decided (10 ms each)."""
_RANGE = (0.7, 1.45)
"""Beat intervals believed in, as ratios of the setlist's."""
_TRANSITION = 400.0
"""Tempo change at a beat: weight exp(-lambda |T'/T - 1|) (madmom's transition lambda is
100; stiffer did better on POP909 validation renders 781-800: F 0.71 at 100, 0.80 at 400)."""
_OBSERVATION = 16.0
"""The first 1/16 of a beat are beat states (madmom's observation lambda)."""
_REGION = 2
"""... and at most this many frames."""
_PRIOR_SD = 0.2
"""The setlist's tempo weighs the start: standard deviation of log(interval / prior)."""
_PULL = 1.0
"""At every beat the setlist's tempo pulls the belief back this much (its prior's power):
a slow ballad's soft activations must not let the tempo wander off."""
_LATE_S = 0.02
"""How much later than its frame's middle a beat is stamped (seconds): the net's beat frame
comes early against POP909's annotated beats (validation renders 781-800: F 0.804 at 0,
0.848 at 0.02 with CONFIRM_FRAMES 5)."""
_MUSIC = 0.15
"""Beats are decided only while the activation has reached this within the last 4 s."""
_CONFIDENT = 0.3
"""A beat is decided when it fell, more likely than this, within a frame of the best lag."""
_PLAYED = 0.3
"""A beat whose activation reached this was played (not only believed)."""


class NeuralBeats:
    """Beat clock from beat activations. ``period_s``: the setlist's beat period (seconds);
    ``hop_s``: seconds per activation frame. Feed it with :meth:`hear`.

    Offers what the follower reads of a beat tracker: ``started``, ``period``, ``bpm``,
    ``next_time``, ``next_index``, ``last_beat``, and :meth:`advance`/:meth:`onset`/
    :meth:`release`/:meth:`tap` (onsets and note-offs are the activations' business).
    """

    def __init__(self, period_s: float, hop_s: float = 0.01,
                 confirm: int = CONFIRM_FRAMES) -> None:
        if period_s <= 0:
            raise ValueError("beat period must be positive")
        self.hop_s = hop_s
        self.confirm = confirm
        self.prior_period = period_s
        prior = period_s / hop_s
        low = max(4, math.floor(_RANGE[0] * prior))
        self.intervals = np.arange(low, max(low + 1, math.ceil(_RANGE[1] * prior)) + 1)
        sizes = self.intervals
        self._starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        self._ends = self._starts + sizes - 1
        states = int(sizes.sum())
        self._interval_of = np.repeat(np.arange(len(sizes)), sizes)
        self._position = np.arange(states) - np.repeat(self._starts, sizes)
        self._beat_state = self._position < np.clip(np.repeat(sizes, sizes) / _OBSERVATION,
                                                    1, _REGION)
        ratio = sizes[None, :] / sizes[:, None]
        transition = np.exp(-_TRANSITION * np.abs(ratio - 1.0))
        self._transition = transition / transition.sum(axis=1, keepdims=True)
        weight = np.exp(-0.5 * (np.log(sizes / prior) / _PRIOR_SD) ** 2)
        self._pull = weight ** _PULL
        belief = np.repeat(weight / sizes, sizes)
        self._belief = belief / belief.sum()
        self.period = period_s
        self.next_time: float | None = None
        self.next_index = 0
        self.last_beat: Beat | None = None
        self._loudest = 0.0  # the activation's recent peak (decays over ~4 s)
        self._peak_since_beat = 0.0

    @property
    def started(self) -> bool:
        return self.last_beat is not None

    @property
    def bpm(self) -> float:
        return 60.0 / self.period

    # -- the beat tracker's interface ------------------------------------------------------
    def advance(self, now: float) -> list[Beat]:
        """Beats are decided as activations arrive (:meth:`hear`): nothing more to do."""
        return []

    def onset(self, time: float, velocity: int, pitch: int = 60, held: bool = True,
              heard_beat: float | None = None, bass_rise: float | None = None,
              attack: float | None = None) -> list[Beat]:
        return []

    def release(self, time: float, pitch: int) -> list[Beat]:
        return []

    def tap(self, times: list[float]) -> list[Beat]:
        """Tap tempo: the belief moves to the tapped interval, a beat at the last tap."""
        if len(times) >= 2:
            tapped = float(np.median(np.diff(np.asarray(times[-5:])))) / self.hop_s
            weight = np.exp(-0.5 * (np.log(self.intervals / tapped) / 0.03) ** 2)
            self._belief = np.zeros_like(self._belief)
            self._belief[self._starts] = weight / weight.sum()
        return []

    # -- activations -------------------------------------------------------------------------
    def hear(self, activations: BeatActivations) -> list[Beat]:
        """Take activation frames in order; returns the beats decided over them."""
        beats: list[Beat] = []
        forget = math.exp(-self.hop_s / 4.0)
        for time, beat in zip(activations.times, activations.beat, strict=True):
            self._step(float(beat))
            self._loudest = max(self._loudest * forget, float(beat))
            self._peak_since_beat = max(self._peak_since_beat, float(beat))
            decided = self._decide(float(time))
            if decided is not None:
                beats.append(decided)
        return beats

    def _step(self, activation: float) -> None:
        belief = self._belief
        moved = np.empty_like(belief)
        moved[1:] = belief[:-1]
        moved[self._starts] = (belief[self._ends] @ self._transition) * self._pull
        a = min(max(activation, 1e-4), 1.0 - 1e-4)
        moved *= np.where(self._beat_state, a, (1.0 - a) / (_OBSERVATION - 1.0))
        total = moved.sum()
        self._belief = moved / total if total > 0 else np.full_like(moved, 1.0 / len(moved))

    def _decide(self, now: float) -> Beat | None:
        # lag[p]: how likely the last beat fell p frames ago, from every frame heard so far
        # (states p frames into a beat passed the beat p frames ago: a fixed-lag smoothing).
        reach = self.confirm + 2  # so a beat is decided at most confirm + 1.5 hops late
        lag = self._belief[self._starts[:, None] + np.arange(reach)[None, :]].sum(axis=0)
        position = int(np.argmax(lag))
        weights = self._belief[self._starts + min(position, reach - 1)]
        self.period = float(self.intervals[int(np.argmax(weights))]) * self.hop_s
        since = (position + 0.5) * self.hop_s - _LATE_S  # the beat fell mid-frame, on average
        if lag[position] > 0.05:
            self.next_time = now - since + self.period
        if (position < self.confirm or float(lag[max(0, position - 1):position + 2].sum())
                < _CONFIDENT or self._loudest < _MUSIC):
            return None
        time = now - since
        last = self.last_beat
        if last is not None and time - last.time < 0.5 * self.period:
            return None
        index = 0 if last is None else last.index + max(1, round((time - last.time)
                                                                 / self.period))
        beat = Beat(time, now, index, self._peak_since_beat >= _PLAYED)
        self._peak_since_beat = 0.0
        self.last_beat = beat
        self.next_index = index + 1
        return beat
