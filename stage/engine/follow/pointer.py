"""Causal beat tracking as a belief over tempo and beat phase (a beat pointer).

The belief is a grid: ``TEMPI`` beat periods around the setlist's tempo, times ``CELLS``
phases within the beat. Between onsets the belief moves forward in time (every tempo's phase
advances at its own rate, the tempo drifts a little and, rarely, jumps); at each onset group
it is multiplied by the learned metrical template (:mod:`stage.engine.follow.metre_fit`):
how likely an onset of that kind (bass, chord, single note) is at each phase of the beat,
and how that changes when the onset is an accent (louder than the last two seconds) or
brings new pitch classes (harmony changes on the beat); a sustain pedal press or release
is evidence of where the beat is too (the pedal changes with the harmony); an audio onset
brings the beat model's activation at it, how much it grew the bass power and how much of
the spectrum above the bass it attacked (:mod:`stage.engine.follow.audio_onset_fit`). When
the next onset comes, the silence that followed the group is evidence too (a note held into
a long gap is most often on a beat); and when the group's last note is released, so is how
long it was held (a short note is most often off the beat), applied to the group's place
in each tempo's beat then. Evidence so accumulates over many bars, and a syncopated phrase
or a busy off-beat comping pattern cannot pull the beat off by itself.

Beats are read off the belief: the most likely tempo and its phase give the last beat and
the ones to come. A beat is decided 0.7 beat after it falls (``window``), from all onsets
heard by then: the belief at each onset group near the predicted beat is smoothed with what
came after it (a backward pass over the groups since), and the group most likely on the
beat, if any is likely enough, places it. A performer who lingers on a beat or hurries
into it is so followed to the note, where the belief alone would put the beat on its grid.
After a pause or a fermata (no onset for a beat and a half, then one off the expected beat)
the performer's return is taken as a beat, at the tempo believed.

With a window in seconds (audio) there is no smoothing; instead a beat nobody played by its
window may wait ``late`` beats for the performer: a pianist lingering into the beat is
heard by the first onset after it, which becomes the beat (decided when heard), and a beat
still unplayed then is a rest, decided where it was predicted.
Times are seconds on the performer's clock.
"""

from __future__ import annotations

import functools
import json
import math
from collections import deque

import numpy as np

from stage.engine.follow.audio_onset_fit import TEMPLATE_PATH as AUDIO_TEMPLATE_PATH
from stage.engine.follow.beat import Beat
from stage.engine.follow.metre_fit import TEMPLATE_PATH
from stage.engine.follow.onsets import ONSET_MERGE_S, OnsetGroup, OnsetGrouper

TEMPI = 61
_RATIOS = np.exp(np.linspace(math.log(0.7), math.log(1.42), TEMPI))
"""Tempi believed in, as ratios of the setlist's: 1.2 % apart, within +-40 %."""
_EXPONENTS = np.array([1.0, 0.5, 0.5])
"""Per class (bass, chord, single): how far the template is trusted. Chords and single
notes lean to a side of the beat song by song (an off-beat comping pattern), the bass not."""
_PRIOR_SD = 0.25
"""The setlist's tempo as a prior: standard deviation of log(period / prior period)."""
_TEMPO_STEP = math.log(1.42 / 0.7) / (TEMPI - 1)
_TEMPO_SD = 0.025
"""Tempo drift per beat (standard deviation of log tempo): rubato, a band pushing."""
_JUMP_PER_BEAT = 0.002
"""Per beat, this share of belief jumps to any tempo: a sudden change between sections."""
_PHASE_SD = 0.06
"""Timing noise: per beat, the phase may wander this much (beats, standard deviation)."""
_PRIOR_PULL = 0.2
"""Per beat, the setlist's tempo pulls the belief back this much (its log prior's share)."""
_PLAYED_WITHIN = 0.1
"""A beat with an onset this close (beats) is played; only an unplayed one waits (``late``)."""
_MIN_GAP = 0.5
"""A beat is never decided closer than this share of a beat after the last one."""
_SMOOTH_ON_BEAT = 0.05
"""A group places the beat when its smoothed belief puts at least this much on the beat
(within ``_ON_BEAT_CELLS`` of phase 0)."""
_ON_BEAT_CELLS = 2
_SMOOTH_WITHIN = 0.5
_WITHIN_MIN = 0.15
_WITHIN_GAIN = 20.0
"""Groups up to ``_WITHIN_MIN`` of a beat either side of the predicted beat may place it,
and up to ``_SMOOTH_WITHIN`` as the performer plays more freely: twenty times the running
mean of how far the beats were placed from the grid (a quantized pop song's is 0.011 beat,
one under a random rubato's 0.05). A fixed half beat followed rubato best, but on quantized
songs placed 100 beats on the wrong note for 74 it put right (beat CMLt 0.8068 -> 0.7682).
Chosen on songs 601-700 (every third), unsmoothed / half a beat / 0.15 and gain 10, 15, 20:
beat F 0.9502 / 0.9484 / 0.9498, 0.9496, 0.9496 and CMLt 0.8068 / 0.7682 / 0.8083, 0.8082,
0.8082; through the tempo curves 0.934 / 0.9301 / 0.934, 0.934, 0.9338; under a random
rubato 0.7702 / 0.8524 / 0.834, 0.8468, 0.8502. At half a beat the threshold 0 / 0.05 / 0.3
gave rubato F 0.8232 / 0.8304 / 0.7963."""
_TRAIL = 16
"""Onset groups kept for smoothing: a decision reads 1.2 beats of them, 10 in 32nd notes."""
_ON_GRID = 0.02
"""A lone group this close (beats) to the predicted beat places it without a smoothing
pass: the pass would not move it, and a strict player's beats cost no more than before."""
_SMOOTH_TEMPI = 20
"""Smoothing reads the tempi within this many levels (25 %) of the believed one: within 10,
rubato F 0.8174 against 0.827 (and 0.8302 with all), at less cost."""
_DEV_RATE = 0.05
_DEV_GAIN = 3.0
_PHASE_SD_MAX = 0.12
"""The timing noise follows the performer too: three times the running mean (over about
20 beats) of how far the beats were placed from the grid, within ``_PHASE_SD`` and this.
On 601-700 (every third, smoothing half a beat): rubato F 0.8304 / 0.8383 / 0.8404 / 0.8516
/ 0.8527 at gains 0 / 1.5 / 2 / 3 / 4, the curves 0.9318 / 0.9316 / 0.931 / 0.93 / 0.9262."""
_REANCHOR_GAP = 1.5
_REANCHOR_OFF = 0.15


_GAP_EXPONENT = 0.5
"""How far the gap evidence (how long an onset is followed by silence) is trusted: it
overlaps the class evidence (a bass note is often held), so half; chosen on songs 601-700."""
_ACCENT_EXPONENT = 0.5
"""How far the accent evidence (an onset louder than the last two seconds) is trusted. A
pianist voices the melody over the accompaniment, so loudness tells the voice as much as
the beat: half. Chosen on ASAP (every third performance: pop has no such voicing), with the
pedal evidence: beat F 0.7269 at 1, 0.7452 at 0.5; on the other 40 performances, not used
to choose, 0.7423 / 0.7552. Pop songs 601-700 (every third): F / CMLt 0.9517 / 0.7823 at
0.5 (0.9527 / 0.7935 at 1), the curves 0.9374 (0.9379), rubato 0.8661 (0.8674)."""
_NOVEL_EXPONENT = 0.5
"""How far the novelty evidence (how new a group's pitch classes are) is trusted: it
overlaps the class evidence. On songs 601-700 (every third) beat F / CMLt 0.9496 / 0.8082
without it, 0.9504 / 0.7998, 0.9516 / 0.8129, 0.952 / 0.8139, 0.951 / 0.8076 at 0.3 / 0.5 /
0.7 / 1; at 0.5 the curves 0.9338 -> 0.9348 and rubato 0.8502 -> 0.8539."""
_AUDIO_ACCENT_EXPONENT = 1.0
"""An audio onset's strength is the whole sound's, no one voice's: its accent evidence is
trusted fully (recorded pointer input of 12 ASAP and 12 POP909 renders: beat F 0.447 and
0.9098 at 1, 0.4397 and 0.9066 at 0.5)."""
_PEDAL_EXPONENT = 0.5
"""How far the sustain pedal evidence is trusted: a press is most often on the beat or in
its first half, a release just before the beat (learned from POP909 001-700's pedal). On
songs 601-700 (every third), without it / presses alone / both at 0.25, 0.5, 1: beat F
0.9516 / 0.9518 / 0.9514, 0.9527, 0.9514 and CMLt 0.8129 / 0.8154 / 0.8084, 0.7935, 0.7726;
the curves 0.9348 / 0.9361 / -, 0.9379, -; rubato 0.8539 / 0.8598 / -, 0.8674, -; ASAP every
third performance 0.7171 / 0.7226 / 0.7255, 0.7269, 0.7119 (chosen with the pedal template
blurred twice as far; as the others are, the same within 0.001)."""
_ACTIVATION_EXPONENT = 0.5
"""How far the beat model's activation at an audio onset is trusted (its calibration is
learned on songs it never trained on): it overlaps the class evidence (an onset the model
hears on a beat is handed over as a bass note), so half. On ASAP (every third
performance), with the onsets marked at 0.4: beat F 0.5486 / 0.5519 / 0.5507 / 0.5483 at 0 /
0.25 / 0.5 / 0.75 (0.5162 with no marks and the template fully trusted)."""
_BASS_EXPONENT = 1.0
"""How far the bass rise evidence (how much an audio onset grew the 30-220 Hz power) is
trusted: a piano's left hand changes on the beat, and the melody's onsets over a held bass
barely grow it. Chosen on ASAP every third performance: beat F 0.5226 without it, 0.5349 /
0.5344 at 1 / 1.5 (an earlier build, earlier renders). On the full benchmark's renders, with
and without it: ASAP 60 0.5286 / 0.5212 (every third 0.5356 / 0.5348, the other 40, not
used to choose, 0.5251 / 0.5144); 24 POP909 songs 0.8327 / 0.834."""
_ATTACK_EXPONENT = 1.0
"""How far the attack evidence (how much an audio onset grew the 300-4000 Hz spectrum) is
trusted: a chord struck on the beat attacks many partials, a passing note few. On ASAP every
third performance (this build's renders), beat F 0.5478 without it, 0.5629 / 0.5648 /
0.5668 / 0.5642 at 0.75 / 1 / 1.5 / 2; on the 24 POP909 benchmark songs 0.8335 without,
0.828 / 0.8233 at 1 / 1.5. With it, the activation's exponent stays: 0.5651 / 0.5648 /
0.5592 at 0.3 / 0.5 / 0.84. The full benchmark, with and without it: ASAP 60 0.554 / 0.5396
(the other 40, not used to choose, 0.5486 / 0.5355); POP909 24 0.828 / 0.8335."""
_LENGTH_EXPONENT = 0.5
"""How far the held-length evidence is trusted: it overlaps the gap evidence (legato notes
are held to the next onset). On songs 601-700 beat F was 0.944 without it, 0.9461 / 0.9464 /
(window 0.2) 0.9455 at 0.3 / 0.5 / 0.5."""
_WINDOW = 0.7
"""A beat is decided this share of a beat after it falls: the onsets after it, and the
lengths of the notes on it, settle it. On songs 601-700 beat F 0.9426 at 0.2 and 0.944 at
0.35 (before the length evidence); with it 0.9464 / 0.9466 / 0.9468 at 0.35 / 0.5 / 0.7 (the
band's grid beat F 0.9112 / 0.9103 / 0.9132). The band does not wait for it: the tempo map
is steered to the predicted beats, and chords are decided 0.9 beat in."""


_LEARNED = json.loads(TEMPLATE_PATH.read_text())
"""What metre_fit learned, read once at import."""
_AUDIO_LEARNED = json.loads(AUDIO_TEMPLATE_PATH.read_text())
"""What audio_onset_fit learned of the shipped beat model's activations."""


def _load_template() -> np.ndarray:
    """Likelihood ratios, feels x classes x cells."""
    return np.asarray(_LEARNED["ratio"], dtype=float)


def _load_given(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Bin edges and likelihood ratios given the class, feels x classes x bins x cells, of
    ``name`` (gap, accent or length)."""
    return (np.asarray(_LEARNED[f"{name}_edges"], dtype=float),
            np.asarray(_LEARNED[f"{name}_ratio"], dtype=float))


TEMPLATE = _load_template() ** _EXPONENTS[None, :, None]
GAP_EDGES, GAP_TEMPLATE = _load_given("gap")
GAP_TEMPLATE = GAP_TEMPLATE ** _GAP_EXPONENT
ACCENT_EDGES, _ACCENT_LEARNED = _load_given("accent")
ACCENT_TEMPLATE = _ACCENT_LEARNED ** _ACCENT_EXPONENT
AUDIO_ACCENT_TEMPLATE = _ACCENT_LEARNED ** _AUDIO_ACCENT_EXPONENT
NOVEL_EDGES, NOVEL_TEMPLATE = _load_given("novel")
NOVEL_TEMPLATE = NOVEL_TEMPLATE ** _NOVEL_EXPONENT
LENGTH_EDGES, LENGTH_TEMPLATE = _load_given("length")
LENGTH_TEMPLATE = LENGTH_TEMPLATE ** _LENGTH_EXPONENT
PEDAL_TEMPLATE = np.asarray(_LEARNED["pedal_ratio"], dtype=float) ** _PEDAL_EXPONENT
ACTIVATION_EDGES = np.asarray(_AUDIO_LEARNED["activation_edges"], dtype=float)
ACTIVATION_TEMPLATE = (np.asarray(_AUDIO_LEARNED["activation_ratio"], dtype=float)
                       ** _ACTIVATION_EXPONENT)
"""activation bins x cells: the same in either feel."""
BASS_EDGES = np.asarray(_AUDIO_LEARNED["bass_edges"], dtype=float)
BASS_TEMPLATE = np.asarray(_AUDIO_LEARNED["bass_ratio"], dtype=float) ** _BASS_EXPONENT
"""bass rise bins x cells: the same in either feel."""
ATTACK_EDGES = np.asarray(_AUDIO_LEARNED["attack_edges"], dtype=float)
ATTACK_TEMPLATE = (np.asarray(_AUDIO_LEARNED["attack_ratio"], dtype=float)
                   ** _ATTACK_EXPONENT)
"""attack bins x cells: the same in either feel."""
"""feels x (press, release) x cells."""
_LENGTH_FLAT = np.ascontiguousarray(LENGTH_TEMPLATE.reshape(*LENGTH_TEMPLATE.shape[:2], -1))
"""feels x classes x (bins x cells): one flat row per class, for a single gather."""
FEELS, CELLS = TEMPLATE.shape[0], TEMPLATE.shape[2]
_FEEL_PRIOR = np.array([0.95, 0.05])
"""Straight or triplet feel, before the music says: most pop songs are straight."""


_ON_BEAT = np.r_[0:_ON_BEAT_CELLS + 1, CELLS - _ON_BEAT_CELLS:CELLS]
"""The cells within ``_ON_BEAT_CELLS`` of phase 0."""
_EVERY_TEMPO = slice(0, TEMPI)
_TEMPO_ROWS = np.arange(TEMPI)
_OFFSETS = np.arange(-4, 5, dtype=float)
_AROUND = (np.arange(CELLS)[:, None] + np.arange(-4, 5)[None, :]) % CELLS
"""Per peak cell, the cells read around it (the phase is their weighted mean offset)."""


@functools.lru_cache(maxsize=128)
def _drift_matrix(tenths: int) -> np.ndarray:
    """Tempo drift of ``tenths``/10 levels (standard deviation) as a TEMPI x TEMPI matrix:
    from each tempo, all of its belief goes somewhere. Cached: an onset must not pay for
    thousands of exponentials (at most 8 beats between onsets: about 60 matrices)."""
    levels = np.arange(TEMPI)
    gaps = (levels[:, None] - levels[None, :]) / (tenths / 10.0)
    spread = np.exp(-0.5 * gaps ** 2)
    spread /= spread.sum(axis=1, keepdims=True)
    return spread


def _on_beat(belief: np.ndarray) -> float:
    """The share of ``belief`` (tempi x cells) within ``_ON_BEAT_CELLS`` of the beat."""
    return float(belief[:, _ON_BEAT].sum() / belief.sum())


class _Mark:
    """An onset group as the belief saw it, kept for smoothing: the belief after the
    group's own evidence (the believed feel's tempi x cells), that evidence, and the later
    evidence about it (the gap after it, how long it was held), once known: kept as a
    table (bins x cells) and each tempo's bin, read only if the group is smoothed. Its
    smoothed belief is ``belief * later * (what came after)``; the message it passes back
    is ``evidence * later * (what came after)``."""

    __slots__ = ("belief", "evidence", "later", "time")

    def __init__(self, time: float, belief: np.ndarray, evidence: np.ndarray) -> None:
        self.time = time
        self.belief = belief
        self.evidence = evidence  # cells
        self.later: list[tuple[np.ndarray, np.ndarray]] = []

    def later_in(self, band: slice) -> np.ndarray | float:
        """The later evidence within ``band``, tempi x cells (1 until any is known)."""
        out: np.ndarray | float = 1.0
        for table, bins in self.later:
            out = out * table[bins[band]]
        return out


class BeatPointer:
    """Beat clock from onsets. ``period_s`` is the prior beat period (seconds); a beat is
    decided ``window`` beats after it was predicted to fall (smoothing may then place it on a
    note up to half a beat either side), or ``window_s`` seconds when that is given.
    ``phase_sd``: the timing noise per beat (beats; more as the performer plays freely).
    ``tempo_sd``: the tempo drift per beat (standard deviation of log tempo).
    ``late``: how long (beats) a beat with no onset within ``_PLAYED_WITHIN`` of it by its
    window waits for a late one (0: it does not wait).

    Call :meth:`onset` for each note-on (time, velocity 1-127, pitch), :meth:`release` for
    each note-off and :meth:`advance` as time passes; they return the beats decided by then.
    """

    def __init__(self, period_s: float, window: float = _WINDOW,
                 window_s: float | None = None, phase_sd: float = _PHASE_SD,
                 late: float = 0.0, tempo_sd: float = _TEMPO_SD) -> None:
        if period_s <= 0:
            raise ValueError("beat period must be positive")
        self.prior_period = period_s
        self.periods = period_s * _RATIOS
        self.window = window
        self.window_s = window_s
        self.late = late
        self.tempo_sd = tempo_sd
        # Smoothing places a beat on a note up to half a beat before it was predicted:
        # with a window in seconds (audio, 45 ms) that note would be decided too late.
        self._smoothing = window_s is None
        self._pedal_down = False
        self._pitched = True  # until an onset without a note-off (audio: no real pitch)
        self.next_index = 0
        self.last_beat: Beat | None = None
        self._grouper = OnsetGrouper()
        self._belief = np.zeros((FEELS, TEMPI, CELLS))
        self._belief_time: float | None = None
        self._feel = 0  # index of the believed feel
        self._tempo = 0  # index of the believed tempo
        self._phase = 0.0  # believed phase (beats) at _belief_time
        self._onset_times: deque[float] = deque(maxlen=32)
        self._last_group: OnsetGroup | None = None
        self._trail: deque[_Mark] = deque(maxlen=_TRAIL)  # the latest groups, for smoothing
        self._slots = np.empty((_TRAIL, TEMPI, CELLS))  # their beliefs, reused in turn
        self._marked = 0
        self._deviation = 0.0  # running mean of the beats' distance from the grid (beats)
        self._least_phase_sd = phase_sd
        self._phase_sd = phase_sd
        self._held: dict[int, OnsetGroup] = {}  # pitch -> the group its sounding note began
        self._sounding: dict[int, int] = {}  # id(group) -> its notes still sounding
        self._log_prior = -0.5 * (np.log(_RATIOS) / _PRIOR_SD) ** 2
        self._cells = np.arange(CELLS)
        self._freqs = np.arange(CELLS // 2 + 1)

    # -- what the follower reads ---------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._belief_time is not None

    @property
    def period(self) -> float:
        """The believed beat period (seconds)."""
        return float(self.periods[self._tempo])

    @property
    def bpm(self) -> float:
        return 60.0 / self.period

    @property
    def next_time(self) -> float | None:
        """Predicted time (seconds) of beat ``next_index``, the next one not yet decided."""
        if self._belief_time is None:
            return None
        return self._next_beat_time()

    # -- input ---------------------------------------------------------------------------
    def onset(self, time: float, velocity: int, pitch: int = 60, held: bool = True,
              heard_beat: float | None = None, bass_rise: float | None = None,
              attack: float | None = None) -> list[Beat]:
        """A note-on at ``time`` (seconds). Returns beats decided up to ``time``. ``held``:
        its note-off will come (:meth:`release`); an audio onset has none, and no real pitch:
        once one is heard, how new a group's pitch classes are is no longer evidence, and
        its loudness is the whole sound's (:data:`AUDIO_ACCENT_TEMPLATE`). ``heard_beat``:
        the beat model's activation at an audio onset, evidence of its place in the beat
        (:data:`ACTIVATION_TEMPLATE`); ``bass_rise``: how much an audio onset grew the bass
        power (:data:`BASS_TEMPLATE`); ``attack``: how much it grew the spectrum above the
        bass (:data:`ATTACK_TEMPLATE`). An onset group keeps the most of each."""
        if not held:
            self._pitched = False
        beats = self.advance(time)
        closed, new = self._grouper.note_on(time, velocity, pitch)
        if closed is not None:
            self._observe(closed)
        group = self._grouper.open
        assert group is not None
        if heard_beat is not None:
            group.heard_beat = max(heard_beat, group.heard_beat or 0.0)
        if bass_rise is not None:
            group.bass_rise = bass_rise if group.bass_rise is None \
                else max(bass_rise, group.bass_rise)
        if attack is not None:
            group.attack = max(attack, group.attack or 0.0)
        if held:
            self._hold(pitch, time)
        if not new:
            return beats
        self._observe_gap(time)
        self._onset_times.append(time)
        if self.late:  # a beat waiting to be heard may be this onset
            beats += self._decide_until(time)
        if self._belief_time is None:
            self._start(time, self._tempo_prior(), _FEEL_PRIOR)
            beats.append(self._emit(time, time, played=True))
        elif self._lost(time):
            self._start(time, *self._marginals())
            # The return may place its beat: as any group, by its own evidence (once it
            # closes) and what follows, not by the belief just started on it.
            self._add_mark(time, self._belief[self._feel].sum(axis=1, keepdims=True),
                           np.ones(CELLS))
        return beats

    @property
    def open_since(self) -> float | None:
        """When the onset group still open began (seconds; it closes ``ONSET_MERGE_S``
        later), or None."""
        group = self._grouper.open
        return None if group is None else group.time

    def heard_later(self, heard_beat: float, pitch: int) -> bool:
        """More heard of the open audio onset group before it closes: the beat model's
        activation read on past when its onset was known, and the note that marks (the
        highest activation and the lowest note stand). Returns whether its lowest note
        fell (a MIDI group, or none open, is left as it is)."""
        group = self._grouper.open
        if group is None or group.heard_beat is None:
            return False
        group.heard_beat = max(group.heard_beat, heard_beat)
        lowered = pitch < group.lowest
        group.lowest = min(group.lowest, pitch)
        return lowered

    def release(self, time: float, pitch: int) -> list[Beat]:
        """A note-off at ``time`` (seconds): when it ends its group's last sounding note,
        how long that note was held is evidence of the group's place in the beat. Returns
        beats decided up to ``time``."""
        beats = self.advance(time)
        group = self._held.pop(pitch, None)
        if group is not None:
            self._released(group, time)
        return beats

    def pedal(self, time: float, down: bool) -> list[Beat]:
        """The sustain pedal pressed (``down``) or released at ``time`` (seconds): pianists
        change the pedal with the harmony, at the beat. Returns beats decided up to
        ``time``."""
        beats = self.advance(time)
        if down == self._pedal_down:
            return beats
        self._pedal_down = down
        if self._belief_time is None:
            return beats
        # Each tempo finds where in its beat the change falls, ahead of where the belief
        # stands (the last group), and weighs each cell by the template there.
        ahead = ((time - self._belief_time) * CELLS / self.periods + 0.5).astype(np.intp)
        at = self._cells[None, :] + ahead[:, None]  # tempi x cells
        at %= CELLS
        evidence = PEDAL_TEMPLATE[:, 0 if down else 1].take(at, axis=1)  # feels x tempi x cells
        self._belief *= evidence
        self._belief /= self._belief.sum()  # any number of changes may come between onsets
        if self._trail and self._trail[-1].time == self._belief_time:
            self._trail[-1].later.append((evidence[self._feel], _TEMPO_ROWS))
        self._read()
        return beats

    def tap(self, times: list[float]) -> list[Beat]:
        """Tap tempo: ``times`` (seconds) are the latest taps, the last one now. Two taps or
        more set the tempo (and become the new prior); the last tap is a beat."""
        now = times[-1]
        beats = self.advance(now)
        tempo, feel = self._marginals() if self.started else (self._tempo_prior(), _FEEL_PRIOR)
        if len(times) >= 2:
            self.prior_period = float(np.median(np.diff(np.asarray(times[-5:]))))
            self.periods = self.prior_period * _RATIOS
            tempo = np.exp(-0.5 * (np.log(_RATIOS) / 0.02) ** 2) + 1e-9
        self._start(now, tempo, feel)
        beats.append(self._emit(now, now, played=True))
        return beats

    def advance(self, now: float) -> list[Beat]:
        """Decide every beat whose window closed before ``now`` (seconds)."""
        beats: list[Beat] = []
        group = self._grouper.open
        if group is not None and now - group.time >= ONSET_MERGE_S:
            beats += self._decide_until(group.time + ONSET_MERGE_S)
            closed = self._grouper.close()
            if closed is not None:
                self._observe(closed)
        beats += self._decide_until(now)
        return beats

    # -- the belief ----------------------------------------------------------------------
    def _tempo_prior(self) -> np.ndarray:
        return np.exp(self._log_prior)

    def _marginals(self) -> tuple[np.ndarray, np.ndarray]:
        """The belief's tempo and feel weights."""
        return self._belief.sum(axis=(0, 2)), self._belief.sum(axis=(1, 2))

    def _start(self, time: float, tempo: np.ndarray, feel: np.ndarray) -> None:
        """A belief with beat phase 0 at ``time`` and the given tempo and feel weights."""
        offsets = np.minimum(self._cells, CELLS - self._cells)
        phase = np.exp(-0.5 * (offsets / 1.0) ** 2) + 0.02
        belief = (feel[:, None, None] * tempo[None, :, None] * phase[None, None, :])
        self._belief = belief / belief.sum()
        self._belief_time = time
        self._last_group = None
        self._read()
        self._trail.clear()

    def _observe(self, group: OnsetGroup) -> None:
        assert self._belief_time is not None
        level = int(np.searchsorted(ACCENT_EDGES, group.accent))
        accent = ACCENT_TEMPLATE if self._pitched else AUDIO_ACCENT_TEMPLATE
        evidence = TEMPLATE[:, group.kind] * accent[:, group.kind, level]
        if self._pitched:
            novel = int(np.searchsorted(NOVEL_EDGES, group.novel))
            evidence = evidence * NOVEL_TEMPLATE[:, group.kind, novel]
        if group.heard_beat is not None:
            level = int(np.searchsorted(ACTIVATION_EDGES, group.heard_beat))
            evidence = evidence * ACTIVATION_TEMPLATE[level]
        if group.bass_rise is not None:
            evidence = evidence * BASS_TEMPLATE[int(np.searchsorted(BASS_EDGES,
                                                                    group.bass_rise))]
        if group.attack is not None:
            evidence = evidence * ATTACK_TEMPLATE[int(np.searchsorted(ATTACK_EDGES,
                                                                      group.attack))]
        if group.time <= self._belief_time:  # the group that started the belief
            mark = self._mark(group)  # a return after a pause: its mark learns its evidence
            if mark is not None:
                mark.evidence = evidence[self._feel]
                mark.belief *= mark.evidence
            return
        self._move(group.time - self._belief_time)
        self._belief_time = group.time
        self._belief *= evidence[:, None, :]
        self._belief /= self._belief.sum()
        self._last_group = group
        self._read()
        self._add_mark(group.time, self._belief[self._feel], evidence[self._feel])

    def _observe_gap(self, time: float) -> None:
        """The next onset at ``time`` (seconds) tells how long the last group was followed
        by silence: evidence about that group's place in the beat, applied while the belief
        still stands at the group's time. Each tempo reads the gap in its own beats. (Before
        the pause check: a note held into a long silence is most likely on a beat.)"""
        group, self._last_group = self._last_group, None
        if group is None or group.time != self._belief_time:
            return
        bins = np.searchsorted(GAP_EDGES, (time - group.time) / self.periods)
        self._belief *= GAP_TEMPLATE[:, group.kind][:, bins, :]
        self._belief /= self._belief.sum()
        mark = self._mark(group)
        if mark is not None:
            mark.later.append((GAP_TEMPLATE[self._feel, group.kind], bins))
        self._read()

    def _hold(self, pitch: int, time: float) -> None:
        """The note ``pitch`` sounds from ``time`` in the open group (a note struck again
        while held ends its earlier sounding there)."""
        group = self._grouper.open
        assert group is not None
        earlier = self._held.get(pitch)
        if earlier is not None:
            self._released(earlier, time)
        self._held[pitch] = group
        self._sounding[id(group)] = self._sounding.get(id(group), 0) + 1

    def _released(self, group: OnsetGroup, time: float) -> None:
        """One of ``group``'s notes ended at ``time`` (the pointer advanced to it)."""
        left = self._sounding.pop(id(group), 1) - 1
        if left > 0:
            self._sounding[id(group)] = left
            return
        if not group.closed or self._belief_time is None or group.time > self._belief_time:
            return  # the group is not heard yet (a staccato chord), or before the belief
        # Each tempo reads the length in its own beats, and finds the group's phase where
        # its belief now stands that many of its beats later.
        bins = np.searchsorted(LENGTH_EDGES, (time - group.time) / self.periods)
        mark = self._mark(group)
        if mark is not None:
            mark.later.append((LENGTH_TEMPLATE[self._feel, group.kind], bins))
        since = ((self._belief_time - group.time) * CELLS / self.periods + 0.5).astype(np.intp)
        at_group = self._cells - since[:, None]  # tempi x cells: the group's cell now
        at_group %= CELLS
        at_group += (bins * CELLS)[:, None]
        # One gather: feels x tempi x cells, each tempo's row read from its length bin at
        # the group's phase.
        self._belief *= _LENGTH_FLAT[:, group.kind].take(at_group, axis=1)
        # Not normalised here (the next move does; the read is scale-free): between two
        # onsets at most 128 notes can end, and no factor is below 0.35.
        self._read()

    def _move(self, elapsed: float) -> None:
        """Move the belief ``elapsed`` seconds forward: every tempo's phase advances at its
        own rate and spreads by the timing noise, the tempo drifts."""
        self._belief = self._carry(self._belief, elapsed, _EVERY_TEMPO, back=False)

    def _carry(self, belief: np.ndarray, elapsed: float, band: slice,
               back: bool) -> np.ndarray:
        """``belief`` (... x the tempi of ``band`` x cells) carried ``elapsed`` seconds
        forward, or with ``back`` its transpose: a message about what came after, carried
        back to ``elapsed`` seconds earlier (for smoothing; the belief is negligible outside
        a band of tempi for the second or so smoothed). Normalised to sum 1."""
        beats = min(elapsed / self.period, 8.0)
        jump = min(_JUMP_PER_BEAT * beats, 0.05)
        pull = np.exp(self._log_prior[band] * _PRIOR_PULL * beats)[:, None]
        drift = self.tempo_sd * math.sqrt(beats) / _TEMPO_STEP
        if back:  # the forward steps' transposes, in reverse order
            shared = belief.mean(axis=-2, keepdims=True)
            belief = belief * ((1.0 - jump) * pull)
            belief += shared * (jump * pull)
            belief = self._drift_tempo(belief, drift, band, back=True)
            carried = self._turn(belief, elapsed / self.periods[band], beats, -1.0)
        else:
            carried = self._turn(belief, elapsed / self.periods[band], beats, 1.0)
            carried = self._drift_tempo(carried, drift, band) * pull
            carried = (1.0 - jump) * carried + jump * carried.mean(axis=-2, keepdims=True)
        return carried / carried.sum()

    def _turn(self, belief: np.ndarray, beats_by_tempo: np.ndarray, beats: float,
              direction: float) -> np.ndarray:
        """Every tempo's phase turned by its ``beats_by_tempo`` (forward: 1, back: -1) and
        spread by ``beats`` of timing noise: one circular convolution per tempo, done in the
        frequency domain (exact for fractional shifts, and cheap)."""
        spread = (self._phase_sd * CELLS) ** 2 * beats  # cells squared
        spectrum = np.fft.rfft(belief, axis=-1)
        # Each tempo's rotation, frequency by frequency: the powers of its first (a running
        # product is three times cheaper than a complex exponential per cell).
        rotate = np.empty((len(beats_by_tempo), len(self._freqs)), dtype=complex)
        rotate[:, 0] = 1.0
        rotate[:, 1:] = np.exp(-2j * np.pi * direction * beats_by_tempo)[:, None]
        np.cumprod(rotate, axis=1, out=rotate)
        rotate *= np.exp(-2.0 * (np.pi * self._freqs / CELLS) ** 2 * spread)  # the blur
        turned = np.fft.irfft(spectrum * rotate, n=CELLS, axis=-1)
        return np.maximum(turned, 1e-300, out=turned)  # ringing of a sharp belief

    @staticmethod
    def _drift_tempo(belief: np.ndarray, sd_levels: float, band: slice,
                     back: bool = False) -> np.ndarray:
        """Tempo drift: spread the belief (... x the tempi of ``band`` x cells) over
        neighbouring tempi (``sd_levels`` levels), one small matrix product; ``back``: its
        transpose."""
        if sd_levels < 0.2:
            return belief
        spread = _drift_matrix(round(sd_levels * 10))[band, band]
        if back:
            spread = spread.T
        return np.swapaxes(np.matmul(np.swapaxes(belief, -1, -2), spread), -1, -2)

    # -- smoothing -----------------------------------------------------------------------
    def _add_mark(self, time: float, belief: np.ndarray, evidence: np.ndarray) -> None:
        """Keep a group for smoothing; its belief is copied into the next slot in turn (no
        allocation per onset: freed and regrown heap costs page faults, milliseconds)."""
        slot = self._slots[self._marked % _TRAIL]
        self._marked += 1
        slot[...] = belief
        self._trail.append(_Mark(time, slot, evidence))

    def _mark(self, group: OnsetGroup) -> _Mark | None:
        for mark in reversed(self._trail):
            if mark.time == group.time:
                return mark
        return None

    def _smooth(self, due: float) -> float:
        """Where the beat predicted at ``due`` falls, from the groups heard around it: the
        group whose smoothed belief is most on the beat, or ``due`` if none is enough."""
        period = self.period
        within = min(max(_WITHIN_GAIN * self._deviation, _WITHIN_MIN), _SMOOTH_WITHIN)
        earliest = due - within * period
        if self.last_beat is not None:
            earliest = max(earliest, self.last_beat.time + _MIN_GAP * period)
        marks = [mark for mark in self._trail if mark.time > earliest]
        if not marks or marks[0].time > due + within * period:
            return due
        if (abs(marks[0].time - due) < _ON_GRID * period
                and (len(marks) == 1 or marks[1].time > due + within * period)):
            return marks[0].time  # the one group near the prediction, on it: no doubt
        band = slice(max(self._tempo - _SMOOTH_TEMPI, 0), self._tempo + _SMOOTH_TEMPI + 1)
        best, best_share = due, _SMOOTH_ON_BEAT
        message: np.ndarray | float = 1.0  # what came after the group, from the latest back
        for i in range(len(marks) - 1, -1, -1):
            mark = marks[i]
            later = mark.later_in(band)
            if mark.time <= due + within * period:
                share = _on_beat(mark.belief[band] * later * message)
                if share > best_share:
                    best, best_share = mark.time, share
            if i:
                sent = np.broadcast_to(mark.evidence * later * message, mark.belief[band].shape)
                message = self._carry(sent, mark.time - marks[i - 1].time, band, back=True)
        return best

    def _read(self) -> None:
        """The most likely tempo, and the mean phase around the most likely cell there."""
        by_tempo = self._belief.sum(axis=2)  # feels x tempi
        self._feel = int(np.argmax(by_tempo.sum(axis=1)))
        self._tempo = int(np.argmax(by_tempo[self._feel]))
        row = self._belief[self._feel, self._tempo]
        peak = int(np.argmax(row))
        around = _AROUND[peak]  # the cells within 4 of the peak, and their offsets from it
        weights = row[around]
        total = float(weights.sum())
        offset = float(_OFFSETS @ weights) / total if total else 0.0
        self._phase = ((peak + offset) / CELLS) % 1.0

    # -- beats ---------------------------------------------------------------------------
    def _next_beat_time(self) -> float:
        assert self._belief_time is not None
        period = self.period
        last = self._belief_time - self._phase * period
        if self.last_beat is None:
            return last
        earliest = self.last_beat.time + _MIN_GAP * period
        steps = math.ceil((earliest - last) / period)
        return last + max(steps, 0) * period if steps > 0 else last

    def _decide_until(self, now: float) -> list[Beat]:
        beats: list[Beat] = []
        while self._belief_time is not None:
            due = self._next_beat_time()
            decided_at = due + self._window_seconds()
            if decided_at >= now:
                break
            placed = self._smooth(due) if self._smoothing else due
            time = placed
            played = any(abs(t - time) <= _PLAYED_WITHIN * self.period for t in self._onset_times)
            if not played and self.late:
                heard = self._late_onset(time, now)
                deadline = time + self.late * self.period
                if heard is not None:  # the performer came in late: the beat is that onset,
                    time, decided_at, played = heard, now, True  # decided now (when heard)
                elif now < deadline:
                    break  # not heard yet: wait for it (the running mean below waits too)
                else:
                    decided_at = deadline  # a rest: the beat stays where it was predicted
            self._deviation += _DEV_RATE * (abs(placed - due) / self.period - self._deviation)
            self._phase_sd = min(max(_DEV_GAIN * self._deviation, self._least_phase_sd),
                                 _PHASE_SD_MAX)
            beats.append(self._emit(time, decided_at, played))
        return beats

    def _late_onset(self, due: float, now: float) -> float | None:
        """The first onset after the beat predicted at ``due`` (seconds) but within ``late``
        beats of it, if any, and if it was heard no longer ago than a window (a beat placed on
        it ``now`` is decided as soon after it as any: the belief may have moved the beat's
        prediction since)."""
        window = self._window_seconds()
        for t in self._onset_times:
            if (due + _PLAYED_WITHIN * self.period < t <= due + self.late * self.period
                    and now - t <= window):
                return t
        return None

    def _window_seconds(self) -> float:
        """How long after a beat falls it is decided (seconds)."""
        return self.window * self.period if self.window_s is None else self.window_s

    def _emit(self, time: float, decided_at: float, played: bool) -> Beat:
        beat = Beat(time, decided_at, self.next_index, played)
        self.last_beat = beat
        self.next_index += 1
        return beat

    def _lost(self, time: float) -> bool:
        """The performer comes back after a pause or fermata, off the expected beat."""
        if len(self._onset_times) < 2:
            return False
        gap = time - self._onset_times[-2]
        if gap < _REANCHOR_GAP * self.period:
            return False
        due = self._next_beat_time()
        phase = ((time - due) / self.period) % 1.0
        return min(phase, 1.0 - phase) > _REANCHOR_OFF
