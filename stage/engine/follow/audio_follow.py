"""The audio follower: the MIDI follower's trackers, fed by audio features (and MIDI, fused).

:class:`AudioFollower` is a :class:`MidiFollower` whose ears also take audio: onsets go to
the MIDI follower's beat pointer (strength as velocity; onsets made by the kick or the bass,
or heard where the beat model says a beat starts, stand in for the bass notes the pointer
weighs more; the model's activation, the onset's bass rise and its attack are graded
evidence of its place in the beat too), per-hop chroma joins the note record the chord
and key trackers read (:class:`FusedNoteRecord`), loudness sets the dynamics, and the
monophonic pitch is what the performer holds. MIDI heard at the same time goes through the
MIDI path unchanged: both kinds of onset land in the one beat tracker (an onset heard on
both within 35 ms is one onset), and MIDI notes and audio chroma add up in one record.

Times are seconds on the show's clock (ns since the origin where the engine hands them in).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import replace
from typing import Protocol

import numpy as np

from stage.engine.chart import ChordChart
from stage.engine.events import MidiMessage
from stage.engine.follow.audio_beat import NeuralBeats
from stage.engine.follow.audio_beat_model import BeatActivations
from stage.engine.follow.audio_features import AudioFrame, AudioOnset
from stage.engine.follow.audio_onset_fit import ACTIVATION_BEFORE_S
from stage.engine.follow.midi import MidiFollower, TapConfig
from stage.engine.follow.notes import NoteRecord
from stage.engine.follow.onsets import ONSET_MERGE_S
from stage.engine.follow.pointer import BeatPointer
from stage.engine.harmony import Key
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import NS_PER_S, TempoMap

AUDIO_PORT = "audio"
"""MidiMessages made from the sung or played pitch carry this port name."""

AUDIO_BEAT_WINDOW_S = 0.045
"""The beat pointer's decision window for audio (seconds): a beat is decided this long
after it falls, from the onsets heard by then (the goal is 50 ms). Waiting longer gains
little: on 24 POP909 dev renders beat F was 0.7958 at 0.045 s, 0.7965 at 0.07 s."""
AUDIO_LATE_BEATS = 0.4
"""A beat no onset marked by its window waits this long (beats) for the performer: the first
onset after it is the beat, decided when it is heard (a pianist lingers into the beat, where
the belief's grid puts it on time); with none by then it is a rest, decided where it was
predicted. Chosen on ASAP every third performance (20), beat F 0.5648 without, 0.575 / 0.5883
/ 0.5949 / 0.5991 at 0.2 / 0.3 / 0.4 / 0.5 (0.5 puts off a rest's decision longest); on the
other 40, not used to choose, 0.5486 without, 0.5708 at 0.4; on the 24 POP909 benchmark
renders 0.828 without and 0.8283 at 0.4. The cost: rest beats (10 % of ASAP's, 25 % of
POP909's) are decided 0.4 beat after they fall, not 45 ms."""
BEAT_ACTIVATION = 0.4
"""An onset heard where the beat model's activation reaches this (from 15 ms before it until
its onset group closes, 35 ms after it, or it is known) marks the beat like a bass onset;
the activation is also graded evidence (the pointer's ACTIVATION_TEMPLATE). Chosen on ASAP
(every third performance) with the model trained on rubato: beat F 0.4803 / 0.5011 / 0.5232
/ 0.5119 / 0.5024 at 0.2 / 0.3 / 0.4 / 0.5 / 0.6 (marks alone). With a model, an onset's low
rise (kick, bass) no longer marks it by itself: the model hears that too, and a left hand
after the beat rises low as well (0.5331 -> 0.5372)."""
AUDIO_PHASE_SD = 0.04
"""The beat pointer's timing noise per beat for audio onsets (MIDI: 0.06). Audio onsets
carry no pitch, so each is weaker evidence and the belief must not slide after every
off-beat one: on ASAP (every third) beat F 0.5372 / 0.5507 / 0.5516 / 0.5466 at 0.06 / 0.04
/ 0.03 / 0.02; on 24 POP909 dev renders 0.8398 / 0.8423 / 0.8424."""
AUDIO_TEMPO_SD = 0.015
"""The beat pointer's tempo drift per beat for audio (standard deviation of log tempo;
MIDI: 0.025): an audio onset off the beat pulls a loosely held tempo along with the phase.
Chosen on ASAP every third performance (20), beat F 0.6033 / 0.6065 / 0.6062 / 0.6049 /
0.603 / 0.5955 at 0.012 / 0.015 / 0.018 / 0.02 / 0.025 / 0.035; on the other 40, not used to
choose, 0.5732 at 0.025 and 0.5801 at 0.015; on the 24 POP909 benchmark renders 0.826 and
0.8294 (recorded pointer input replayed)."""
_ACTIVATION_MEMORY_S = 1.0

_HISTORY_S = 40.0
_SHARPEN = 2.0
"""Audio chroma is raised to this power per hop: partials of one note spread over several
pitch classes (the fifth, the third above); the notes themselves stand out more."""
_BASS_SHARE = 0.35
"""The loudest bass pitch class must hold this share of the bass band to name the bass."""
_PITCH_CONFIDENCE = 0.8
_LOW_PITCH, _HIGH_PITCH = 36, 72
"""The lowest note the beat tracker is told of for a low onset, and for any other; and the
octave the audio's bass pitch class is put in for the chord tracker."""


class AudioFeed(Protocol):
    """Where a live follower takes its audio features from (see stage.engine.audio)."""

    def drain(self) -> tuple[list[AudioFrame], list[AudioOnset]]:
        """Everything analysed since the last call, times in show seconds."""
        ...


class BeatFeed(AudioFeed, Protocol):
    """A feed that also runs the beat model (see stage.engine.audio)."""

    def drain_beats(self) -> BeatActivations | None:
        """The beat activations since the last call (show seconds), or None without a model."""
        ...


class FusedNoteRecord(NoteRecord):
    """The MIDI note record plus audio chroma per hop: :meth:`weights` adds both up."""

    def __init__(self, hop_s: float = 0.0107) -> None:
        super().__init__()
        size = max(64, int(_HISTORY_S / hop_s))
        self._times = np.full(size, -np.inf)
        self._chroma = np.zeros((size, 12))
        self._bass = np.zeros((size, 12))
        self._next = 0
        self.pitch: int | None = None  # the monophonic pitch sounding now, if any

    def add_frame(self, frame: AudioFrame) -> None:
        slot = self._next % len(self._times)
        self._times[slot] = frame.time
        total = float(frame.chroma.sum())
        if total > 0:
            shaped = (frame.chroma / total) ** _SHARPEN
            self._chroma[slot] = shaped * (total / float(shaped.sum()))
        else:
            self._chroma[slot] = 0.0
        self._bass[slot] = frame.bass
        self._next += 1
        confident = frame.pitch is not None and frame.confidence >= _PITCH_CONFIDENCE
        self.pitch = round(frame.pitch) if confident and frame.pitch is not None else None

    def sounding(self) -> frozenset[int]:
        held = super().sounding()
        return held | {self.pitch} if self.pitch is not None else held

    def weights(self, start: float, end: float) -> tuple[np.ndarray, int | None]:
        """Pitch-class weights over [start, end) seconds: MIDI notes and audio hops."""
        chroma, bass = super().weights(start, end)
        inside = (self._times > start) & (self._times <= end)
        if not inside.any():
            return chroma, bass
        chroma = chroma + self._chroma[inside].sum(axis=0)
        band = self._bass[inside].sum(axis=0)
        total = float(band.sum())
        if bass is None and total > 0 and float(band.max()) >= _BASS_SHARE * total:
            bass = _LOW_PITCH + int(np.argmax(band))
        return chroma, bass


class AudioFollower(MidiFollower):
    """Follows tempo, beat, bar, chord and key from audio features, and MIDI when heard too.

    ``feed`` (live) is drained on every call from the engine; offline, hand the features in
    with :meth:`hear_audio`. Beats come from onsets through the beat pointer; the beat
    model's activations (handed in with the features, or drained from a feed that runs the
    model) tell which onsets mark the beat. With ``neural_beats`` the beat comes from the
    model's own decoder instead (:class:`NeuralBeats`: steadier, CMLt 0.59 against 0.43 on
    24 dev renders, but beat F 0.78 against 0.81, and 0.24 against 0.43 on ASAP).
    ``late_beats``: how long an unplayed beat waits for a late onset (``AUDIO_LATE_BEATS``;
    0: decided on the grid at its window). Other arguments as for :class:`MidiFollower`.
    """

    def __init__(self, meter: Meter | None = None, tempo_prior_bpm: float = 120.0,
                 chart: ChordChart | None = None, key_prior: Key | None = None,
                 tap: TapConfig | None = None, log_decisions: bool = False,
                 steer: bool = True, feed: AudioFeed | None = None,
                 beat_window_s: float = AUDIO_BEAT_WINDOW_S, hop_s: float = 0.0107,
                 neural_beats: bool = False, late_beats: float = AUDIO_LATE_BEATS) -> None:
        super().__init__(meter, tempo_prior_bpm, chart, key_prior, tap,
                         log_decisions=log_decisions, steer=steer)
        period = 60.0 / tempo_prior_bpm
        self.neural: NeuralBeats | None = NeuralBeats(period) if neural_beats else None
        if self.neural is not None:
            self.beats = self.neural  # type: ignore[assignment]  # the same interface
        else:
            # The window in seconds: a beat is decided ``beat_window_s`` after it falls,
            # whatever the tempo, or when it is heard, up to ``late_beats`` later.
            self.beats = BeatPointer(period, window_s=beat_window_s, phase_sd=AUDIO_PHASE_SD,
                                     late=late_beats, tempo_sd=AUDIO_TEMPO_SD)
        self._activations: deque[BeatActivations] = deque(maxlen=256)
        self._model_heard = False  # activations came: each onset is told the model's
        self.marked_by_model = 0  # onsets only the beat model marked as on a beat
        self.fused = FusedNoteRecord(hop_s)
        self.notes = self.fused
        self.feed = feed
        self.audio_onsets: deque[AudioOnset] = deque(maxlen=256)

    # -- Follower protocol ---------------------------------------------------------------
    def hear(self, message: MidiMessage, now_ns: int, tempo: TempoMap) -> None:
        """MIDI from the performer's controller; notes made from the audio's pitch (port
        ``AUDIO_PORT``) are already in the audio features and are not heard twice."""
        self._drain(now_ns, tempo)
        if message.port != AUDIO_PORT:
            super().hear(message, now_ns, tempo)

    def state(self, now_ns: int, tempo: TempoMap) -> PerformanceState:
        self._drain(now_ns, tempo)
        return super().state(now_ns, tempo)

    # -- audio ---------------------------------------------------------------------------
    def hear_audio(self, frames: Sequence[AudioFrame], onsets: Sequence[AudioOnset],
                   now_ns: int, tempo: TempoMap,
                   activations: BeatActivations | None = None) -> None:
        """Take the features (and beat activations) analysed up to ``now_ns`` (ns since the
        origin)."""
        now = now_ns / NS_PER_S
        if activations is not None and len(activations):
            self._model_heard = True
            self._activations.append(activations)
            if self.neural is not None:
                first = not self.neural.started
                beats = self.neural.hear(activations)
                if first and beats and self.steer_map:
                    self.grid.place_origin(int(beats[0].time * NS_PER_S), tempo)
                self._after_beats(beats, now)
        for frame in frames:
            self.fused.add_frame(frame)
            if frame.rms_db > -60.0:
                level = min(1.0, max(0.0, (frame.rms_db + 50.0) / 44.0))
                self.dynamics += 0.02 * (level - self.dynamics)
        for onset in sorted(onsets, key=lambda o: o.time):
            self._hear_open_group()
            self._hear_onset(onset, tempo)
        self._hear_open_group()
        self._after_beats(self.beats.advance(now), now)
        self._steer(now_ns, tempo)

    def _hear_onset(self, onset: AudioOnset, tempo: TempoMap) -> None:
        self.audio_onsets.append(onset)
        self._onsets.append(onset.time)
        first = not self.beats.started
        velocity = max(1, min(127, round(20 + 107 * onset.strength)))
        # Low onsets (kick, bass) and onsets where the model hears a beat stand in for the
        # bass notes the pointer weighs more. (An estimate of each onset's lowest note did no
        # better on POP909 renders: an 85 ms window cannot tell bass semitones apart, a
        # longer one would be late.)
        heard_beat = (self._activation_between(onset.time - ACTIVATION_BEFORE_S, onset.known_at)
                      if self._model_heard else None)
        if heard_beat is None:
            marks_beat = onset.low
        else:
            marks_beat = heard_beat >= BEAT_ACTIVATION
            self.marked_by_model += marks_beat and not onset.low
        # No note-off will tell how long it sounds; the activation is graded evidence too.
        beats = self.beats.onset(onset.time, velocity, _LOW_PITCH if marks_beat else _HIGH_PITCH,
                                 held=False, heard_beat=heard_beat,
                                 bass_rise=onset.bass_rise, attack=onset.attack)
        # A beat decided from this onset (the first one is a beat at once) is known only
        # when the onset is.
        beats = [replace(b, decided_at=onset.known_at) if b.decided_at >= onset.time else b
                 for b in beats]
        if first and self.steer_map and self.neural is None:
            self.grid.place_origin(int(onset.time * NS_PER_S), tempo)
        self._after_beats(beats, onset.known_at)

    def _hear_open_group(self) -> None:
        """The beat model hears an onset on after the onset detector knew it: until the
        onset's group closes, its activation is read on (the highest stands, and marks the
        group when it reaches ``BEAT_ACTIVATION``). Nothing is decided later for it: the
        group closes 35 ms after its onset, its beat is decided at 45 ms. Recorded pointer
        input of ASAP every third performance: beat F 0.595 reading until the onset was
        known (27 ms after it at the median), 0.6031 until the group closed (0.5957 with
        the activation read on but no onset newly marked: the mark is what counts); the
        other 40, not used to choose, 0.5708 / 0.5731; the 24 POP909 renders 0.8283 /
        0.8279."""
        if not self._model_heard or not isinstance(self.beats, BeatPointer):
            return
        since = self.beats.open_since
        if since is None:
            return
        heard = self._activation_between(since - ACTIVATION_BEFORE_S, since + ONSET_MERGE_S)
        marks_beat = heard >= BEAT_ACTIVATION
        if self.beats.heard_later(heard, _LOW_PITCH if marks_beat else _HIGH_PITCH):
            self.marked_by_model += 1

    def _activation_between(self, start: float, end: float) -> float:
        """The beat model's highest activation from ``start`` to ``end`` (seconds) among
        the frames heard (0 without the model); older activation blocks are let go."""
        blocks = self._activations
        while blocks and blocks[0].times[-1] < start - _ACTIVATION_MEMORY_S:
            blocks.popleft()
        peak = 0.0
        for block in reversed(blocks):  # newest first: only the last few reach the onset
            if block.times[-1] < start:
                break
            inside = (block.times >= start) & (block.times <= end)
            if inside.any():
                peak = max(peak, float(block.beat[inside].max()))
        return peak

    def _drain(self, now_ns: int, tempo: TempoMap) -> None:
        if self.feed is None:
            return
        frames, onsets = self.feed.drain()
        drain_beats = getattr(self.feed, "drain_beats", None)
        activations = drain_beats() if drain_beats is not None else None
        if frames or onsets or activations is not None:
            self.hear_audio(frames, onsets, now_ns, tempo, activations)
