"""The simplest part that proves the path: a bass note on every beat, on the lowest held note."""

from __future__ import annotations

from collections.abc import Sequence

from stage.engine.events import Event, MidiMessage, Note
from stage.engine.state import PerformanceState

BASS_LOW, BASS_HIGH = 28, 43  # E1..G2: where a bass guitar's roots sit


class RootBass:
    """Plays the pitch class of the lowest held note in the bass register on each beat."""

    name = "bass"

    def __init__(self, channel: int = 1, gate: float = 0.8) -> None:
        self.channel = channel
        self.gate = gate

    def window(self, state: PerformanceState, start_tick: int, end_tick: int) -> Sequence[Event]:
        lowest = state.lowest_held
        if lowest is None:
            return ()
        beat = state.meter.ticks_per_beat
        pitch = BASS_LOW + (lowest - BASS_LOW) % 12
        velocity = max(1, min(127, round(40 + 70 * state.dynamics)))
        first = -(-start_tick // beat) * beat  # the first beat at or after start_tick
        return [Note(tick, int(beat * self.gate), pitch, velocity, self.channel, self.name)
                for tick in range(first, end_tick, beat)]

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()
