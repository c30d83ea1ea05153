"""The MIDI follower: the engine's ears for a performer on a MIDI controller.

Composes the pure trackers (beats, chords, key, anticipation) behind the engine's Follower
protocol and steers the shared tempo map onto the followed beats. Times handed in are
nanoseconds since the show's origin; the trackers work in seconds.

Every decision is taken at a moment and uses only what was heard up to it: beats when their
window closes, chords ``chord_delay`` beats into the beat they name, the key at chord
decisions. With ``log_decisions`` the follower keeps them (what ``stage analyze`` prints).
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, field

from stage.engine.chart import ChordChart
from stage.engine.events import CC_SUSTAIN, MidiMessage
from stage.engine.follow.anticipate import ChordAnticipator
from stage.engine.follow.bars import BarFinder
from stage.engine.follow.beat import Beat
from stage.engine.follow.chord import recognise
from stage.engine.follow.grid import GridSteer
from stage.engine.follow.key import KeyTracker
from stage.engine.follow.notes import NoteRecord
from stage.engine.follow.pointer import BeatPointer
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import NS_PER_S, PPQ, TempoMap

log = logging.getLogger(__name__)

_TAP_RESET_S = 2.0
"""Taps further apart than this (seconds) start a new tap-tempo count."""


@dataclass(frozen=True, slots=True)
class TapConfig:
    """Tap tempo: a pad ``note`` and/or a ``control`` (CC, value >= 64 taps), on ``channel``
    (0-15, None = any). Taps set the tempo and put a beat on the last tap; they are not notes."""

    note: int | None = None
    control: int | None = None
    channel: int | None = None

    def is_tap(self, message: MidiMessage) -> bool:
        if self.channel is not None and message.channel != self.channel:
            return False
        data = message.data
        if self.note is not None and message.is_note_on and data[1] == self.note:
            return True
        return (self.control is not None and message.is_control_change
                and data[1] == self.control and data[2] >= 64)

    def swallows(self, message: MidiMessage) -> bool:
        """Messages of the tap pad/control that are not notes for the trackers."""
        if self.channel is not None and message.channel != self.channel:
            return False
        data = message.data
        if self.note is not None and (message.is_note_on or message.is_note_off):
            return data[1] == self.note
        return self.control is not None and message.is_control_change and data[1] == self.control


@dataclass(frozen=True, slots=True)
class Decision:
    """A logged decision: ``time`` it is about, ``decided_at`` (both seconds), its value."""

    time: float
    decided_at: float
    label: str
    downbeat: bool = False
    played: bool = False  # a beat: an onset marked it (else it fell in a rest)


@dataclass(slots=True)
class DecisionLog:
    beats: list[Decision] = field(default_factory=list)
    chords: list[Decision] = field(default_factory=list)
    keys: list[Decision] = field(default_factory=list)
    tempo: list[tuple[float, float]] = field(default_factory=list)  # (seconds, beat bpm)
    # Per beat index: the chord decided, and the chord anticipated for it a beat before.
    heard: dict[int, Chord | None] = field(default_factory=dict)
    anticipated: dict[int, Chord | None] = field(default_factory=dict)


class MidiFollower:
    """Follows tempo, beat, bar, chord and key from MIDI input.

    ``meter`` and ``tempo_prior_bpm`` (beats of the meter per minute) are the setlist's
    priors; ``chart`` the song's chord chart (for anticipation), ``key_prior`` its key,
    ``tap`` the tap-tempo pad. ``chord_delay`` is how far into a beat (beats) its chord is
    decided.
    """

    def __init__(self, meter: Meter | None = None, tempo_prior_bpm: float = 120.0,
                 chart: ChordChart | None = None, key_prior: Key | None = None,
                 tap: TapConfig | None = None, chord_delay: float = 0.9,
                 log_decisions: bool = False, steer: bool = True) -> None:
        self.meter = meter or Meter()
        self.beats = BeatPointer(60.0 / tempo_prior_bpm)
        self.notes = NoteRecord()
        self.keys = KeyTracker(key_prior)
        self.anticipator = ChordAnticipator(self.meter, chart)
        self.grid = GridSteer(self.meter)
        self.bars = BarFinder(self.meter.beats_per_bar)
        self.tap = tap
        self.chord_delay = chord_delay
        self.steer_map = steer
        self.log = DecisionLog() if log_decisions else None
        self.chord: Chord | None = None
        self.next_chord: Chord | None = None
        self.key: Key | None = key_prior
        self.dynamics = 0.5
        self._pending: deque[Beat] = deque()  # beats whose chord is not decided yet
        self._key_heard_until: float | None = None
        self._taps: list[float] = []
        self._onsets: deque[float] = deque(maxlen=64)

    @property
    def first_onset_tick(self) -> int | None:
        """The tick of the followed beat 0 (the performer's first onset), or None before the
        performer has played. Bar lines are always at multiples of the meter's bar in ticks;
        beat 0 starts on one until the harmony shows the downbeat is elsewhere (a pickup)."""
        return self.grid.origin_tick

    # -- Follower protocol ---------------------------------------------------------------
    def hear(self, message: MidiMessage, now_ns: int, tempo: TempoMap) -> None:
        """Take one message heard at ``now_ns`` (ns since the origin); may append tempo."""
        now = now_ns / NS_PER_S
        beats = self.beats.advance(now)
        self._after_beats(beats, now)
        if self.tap is not None and self.tap.swallows(message):
            tapped = self.tap.is_tap(message)
            if tapped:
                self._hear_tap(now, now_ns, tempo)
            self._steer(now_ns, tempo, tapped)
            return
        data = message.data
        if message.is_note_on:
            self.notes.note_on(now, data[1], data[2])
            self.dynamics += 0.1 * (data[2] / 127 - self.dynamics)
            self._onsets.append(now)
            first = not self.beats.started
            beats = self.beats.onset(now, data[2], data[1])
            if first and self.steer_map:
                self.grid.place_origin(now_ns, tempo)
            self._after_beats(beats, now)
        elif message.is_note_off:
            self.notes.note_off(now, data[1])
            self._after_beats(self.beats.release(now, data[1]), now)
        elif message.is_control_change and data[1] == CC_SUSTAIN:
            self.notes.set_pedal(now, data[2] >= 64)
            self._after_beats(self.beats.pedal(now, data[2] >= 64), now)
        self._steer(now_ns, tempo)

    def state(self, now_ns: int, tempo: TempoMap) -> PerformanceState:
        """The state at ``now_ns`` (ns since the origin), from input heard up to then."""
        now = now_ns / NS_PER_S
        self._after_beats(self.beats.advance(now), now)
        tick = tempo.tick_at(now_ns)
        bar_start = tick - tick % self.meter.ticks_per_bar
        period = self.beats.period
        recent = sum(1 for t in self._onsets if now - t < 2 * period)
        return PerformanceState(
            tick=tick, bpm=tempo.bpm_at(tick), meter=self.meter, bar_start_tick=bar_start,
            chord=self.chord, next_chord=self.next_chord, key=self.key,
            held=self.notes.sounding(), dynamics=self.dynamics, density=recent / 2.0,
        )

    # -- internals -----------------------------------------------------------------------
    def _hear_tap(self, now: float, now_ns: int, tempo: TempoMap) -> None:
        if self._taps and now - self._taps[-1] > _TAP_RESET_S:
            self._taps.clear()
        self._taps.append(now)
        first = not self.beats.started
        self._after_beats(self.beats.tap(self._taps[-5:]), now)
        if first and self.steer_map:
            self.grid.place_origin(now_ns, tempo)

    def _after_beats(self, beats: list[Beat], now: float) -> None:
        for beat in beats:
            self._pending.append(beat)
            if self.log is not None:
                self.log.beats.append(Decision(
                    beat.time, beat.decided_at, "beat", self.bars.is_downbeat(beat.index),
                    beat.played))
                self.log.tempo.append((beat.decided_at, self.beats.bpm))
        while self._pending:
            beat = self._pending[0]
            decide_at = max(beat.decided_at, beat.time + self.chord_delay * self.beats.period)
            if decide_at > now:
                break
            self._pending.popleft()
            self._decide_harmony(beat, decide_at)

    def _decide_harmony(self, beat: Beat, decided_at: float) -> None:
        chroma, bass = self.notes.weights(beat.time, decided_at)
        since = self._key_heard_until if self._key_heard_until is not None else beat.time
        key_chroma, _ = self.notes.weights(since, decided_at)
        self._key_heard_until = decided_at
        # The key hears the beat's bass and the chord decided on the beat before.
        key = self.keys.update(decided_at, key_chroma, bass, self.chord)
        if key != self.key and key is not None and self.log is not None:
            self.log.keys.append(Decision(decided_at, decided_at, key.label))
        self.key = key
        guess = recognise(chroma, bass, self.key, self.chord)
        moved = self.bars.heard(beat.index, guess.chord != self.chord)
        if moved:
            self.grid.move_downbeat(moved)
            log.debug("downbeat moved by %d beats at beat %d", moved, beat.index)
        if guess.chord != self.chord and self.log is not None:
            label = guess.chord.label if guess.chord is not None else "N"
            self.log.chords.append(Decision(beat.time, decided_at, label))
        self.chord = guess.chord
        melody = (self.notes.top_line(beat.time, decided_at)
                  if getattr(self.anticipator, "wants_melody", False) else None)
        self.anticipator.heard(beat.index, self.chord, melody)
        self.next_chord = self.anticipator.predict(beat.index + 1, self.chord)
        if self.log is not None:
            self.log.heard[beat.index] = self.chord
            self.log.anticipated[beat.index + 1] = self.next_chord

    def _steer(self, now_ns: int, tempo: TempoMap, tapped: bool = False) -> None:
        tracker = self.beats
        if not self.steer_map or tracker.next_time is None:
            return
        tracker_bpm_quarter = tracker.bpm * self.meter.ticks_per_beat / PPQ
        if not 1.0 <= tracker_bpm_quarter <= 1000.0:
            return
        self.grid.steer(now_ns, tempo, tracker.next_time, tracker.next_index, tracker.period,
                        tapped)
