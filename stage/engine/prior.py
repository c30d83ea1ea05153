"""The simplest ears: held notes and loudness, with tempo and meter from the setlist's prior.

Used when no follower is asked for (``--no-follow``) and as the reference the real follower
is tested against. It never changes the tempo map.
"""

from __future__ import annotations

from stage.engine.events import CC_SUSTAIN, MidiMessage
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import TempoMap


class HeldNotes:
    """Which pitches sound now: keys down plus those the sustain pedal holds."""

    def __init__(self) -> None:
        self.down: set[int] = set()
        self.sustained: set[int] = set()
        self.pedal = False

    def hear(self, message: MidiMessage) -> None:
        data = message.data
        if message.is_note_on:
            self.down.add(data[1])
            self.sustained.discard(data[1])
        elif message.is_note_off:
            self.down.discard(data[1])
            if self.pedal:
                self.sustained.add(data[1])
        elif message.is_control_change and data[1] == CC_SUSTAIN:
            self.pedal = data[2] >= 64
            if not self.pedal:
                self.sustained.clear()

    @property
    def sounding(self) -> frozenset[int]:
        return frozenset(self.down | self.sustained)


class PriorFollower:
    """Tempo and meter as the setlist says; chord and key as the chart or setlist says."""

    def __init__(self, meter: Meter | None = None, key: Key | None = None,
                 chord: Chord | None = None) -> None:
        self.meter = meter or Meter()
        self.key = key
        self.chord = chord
        self.held = HeldNotes()
        self.dynamics = 0.5

    def hear(self, message: MidiMessage, now_ns: int, tempo: TempoMap) -> None:
        self.held.hear(message)
        if message.is_note_on:
            # A slow average of velocity: loudness changes over a phrase, not a note.
            self.dynamics += 0.1 * (message.data[2] / 127 - self.dynamics)

    def state(self, now_ns: int, tempo: TempoMap) -> PerformanceState:
        tick = tempo.tick_at(now_ns)
        bar = self.meter.ticks_per_bar
        return PerformanceState(
            tick=tick, bpm=tempo.bpm_at(tick), meter=self.meter,
            bar_start_tick=tick - tick % bar, chord=self.chord, next_chord=self.chord,
            key=self.key, held=self.held.sounding, dynamics=self.dynamics,
        )
