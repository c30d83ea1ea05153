"""The plug-in interfaces the engine drives; the band, the ears and the cues implement them.

The engine never imports ``accompany``, ``audience`` or ``visuals``: the show runner is
handed objects that satisfy these protocols.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stage.engine.events import Event, MidiMessage
from stage.engine.state import PerformanceState
from stage.engine.time import TempoMap


class Follower(Protocol):
    """The ears: hears every input message and reports the performance state."""

    def hear(self, message: MidiMessage, now_ns: int, tempo: TempoMap) -> None:
        """Take one input message heard at ``now_ns`` (ns); may append tempo changes."""
        ...

    def state(self, now_ns: int, tempo: TempoMap) -> PerformanceState:
        """The state at ``now_ns`` (ns), using only input heard up to then."""
        ...


class Generator(Protocol):
    """A part (or a whole band): plays windows ahead and may answer played notes at once."""

    name: str

    def window(
        self, state: PerformanceState, start_tick: int, end_tick: int
    ) -> Sequence[Event]:
        """Events for ticks in [start_tick, end_tick), each stamped within that window."""
        ...

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        """Events answering ``message`` at once (stamped ``state.tick``), or none."""
        ...
