"""Harmony voices: every melody note the performer plays is answered at once by 1-3 voices
in the current chord and key, held while the melody note (or the sustain pedal) holds.

Only the top note of what the performer holds is harmonised, so a left-hand chord under a
right-hand melody is not doubled into mud. The work per note is a few comparisons: well
inside the engine's reaction budget.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from stage.accompany.style import PartMix
from stage.engine.events import CC_SUSTAIN, Event, MidiMessage, NoteOff, NoteOn
from stage.engine.harmony import Chord, Key

PERCUSSION = 9
"""GM channel 10 (0-based 9): notes there are drums and pads, never harmonised."""
MIN_GAP = 3
"""Semitones at least between a voice and the melody or the voice above it."""


@dataclass(slots=True)
class HarmonyVoices:
    """``mix`` options: ``voices`` (at middle energy, 1-3), ``above`` (true: the first voice
    sits above the melody, like a descant)."""

    mix: PartMix
    name: str = "harmony"
    voices: int = 2
    above: bool = False
    _sounding: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)
    _started: dict[tuple[int, int], int] = field(default_factory=dict)
    _held: set[tuple[int, int]] = field(default_factory=set)
    _pedal: dict[int, bool] = field(default_factory=dict)
    _deferred: list[int] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.voices = max(1, min(3, int(self.mix.option("voices", self.voices))))
        self.above = bool(self.mix.option("above", self.above))

    def answer(self, message: MidiMessage, tick: int, chord: Chord, key: Key,
               energy: float) -> list[Event]:
        """Events answering one performer message, stamped ``tick``."""
        if (message.is_note_on or message.is_note_off) and message.channel == PERCUSSION:
            return []  # drum pads are rhythm, not melody
        if message.is_note_on:
            return self._note_on(message, tick, chord, key, energy)
        if message.is_note_off:
            return self._note_off(message, tick)
        if message.is_control_change and message.data[1] == CC_SUSTAIN:
            down = message.data[2] >= 64
            self._pedal[message.channel] = down
            if not down and self._deferred:
                offs: list[Event] = [NoteOff(tick, p, 0, self.mix.channel, self.name)
                                     for p in self._deferred]
                self._deferred.clear()
                return offs
        return []

    def _note_on(self, message: MidiMessage, tick: int, chord: Chord, key: Key,
                 energy: float) -> list[Event]:
        melody = (message.channel, message.data[1])
        events = self._release(melody, tick)
        self._held.add(melody)
        if any(pitch > melody[1] for ch, pitch in self._held if ch == melody[0]):
            return events  # an inner note under the melody: leave it alone
        count = self.voices + (energy > 0.75) - (energy < 0.25)
        pitches = self.choose(melody[1], chord, key, max(1, min(3, count)))
        if not pitches:
            return events
        velocity = max(1, min(127, round(message.data[2] * 0.8 * self.mix.gain)))
        self._sounding[melody] = pitches
        self._started[melody] = tick
        events.extend(NoteOn(tick, p, velocity, self.mix.channel, self.name) for p in pitches)
        return events

    def _note_off(self, message: MidiMessage, tick: int) -> list[Event]:
        melody = (message.channel, message.data[1])
        self._held.discard(melody)
        pitches = self._sounding.pop(melody, ())
        self._started.pop(melody, None)
        if self._pedal.get(message.channel):
            self._deferred.extend(pitches)
            return []
        return [NoteOff(tick, p, 0, self.mix.channel, self.name) for p in pitches]

    def _release(self, melody: tuple[int, int], tick: int) -> list[Event]:
        pitches = self._sounding.pop(melody, ())
        self._started.pop(melody, None)
        return [NoteOff(tick, p, 0, self.mix.channel, self.name) for p in pitches]

    def choose(self, melody: int, chord: Chord, key: Key, count: int) -> tuple[int, ...]:
        """``count`` pitches in both chord and key near ``melody``: the nearest below it (or
        one above, with ``above``), each at least ``MIN_GAP`` from its neighbour."""
        scale = key.scale
        tones = [pc for pc in chord.pitch_classes if pc in scale]
        if melody % 12 not in chord.pitch_classes or len(tones) < 2:
            tones = _diatonic_triad_under(melody, scale)
        low, high = self.mix.low, self.mix.high
        chosen: list[int] = []
        if self.above:
            pitch = melody + MIN_GAP
            while pitch <= min(high, melody + 12) and pitch % 12 not in tones:
                pitch += 1
            if pitch <= min(high, melody + 12):
                chosen.append(pitch)
        edge = melody
        pitch = melody - MIN_GAP
        while len(chosen) < count and pitch >= max(low, melody - 19):
            if pitch % 12 in tones and edge - pitch >= MIN_GAP:
                chosen.append(pitch)
                edge = pitch
            pitch -= 1
        return tuple(chosen)

    def expire(self, tick: int, max_hold_ticks: int) -> list[Event]:
        """Offs for voices whose melody note has been held past ``max_hold_ticks`` — a lost
        note-off from the performer never leaves a voice hanging."""
        stale = [m for m, start in self._started.items() if tick - start > max_hold_ticks]
        events: list[Event] = []
        for melody in stale:
            events.extend(self._release(melody, tick))
            self._held.discard(melody)
        return events

    def release_all(self, tick: int) -> list[Event]:
        """Offs for every voice still sounding or waiting on the pedal."""
        events: list[Event] = []
        for melody in list(self._sounding):
            events.extend(self._release(melody, tick))
        events.extend(NoteOff(tick, p, 0, self.mix.channel, self.name) for p in self._deferred)
        self._deferred.clear()
        self._held.clear()
        return events


def _diatonic_triad_under(melody: int, scale: tuple[int, ...]) -> list[int]:
    """A passing melody note: harmonise in the key, a third and a fifth below its degree."""
    pc = melody % 12
    degrees = sorted(scale)
    index = min(range(len(degrees)), key=lambda i: (degrees[i] - pc) % 12)
    return [degrees[(index - 2) % len(degrees)], degrees[(index - 4) % len(degrees)]]
