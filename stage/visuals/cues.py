"""The cue generator: the beat, the bar, the tempo, the harmony and the energy as cues.

Cues go out in the ``/stage/...`` address space (see the README's "OSC address space");
an :class:`~stage.visuals.osc.OscOutput` translates them for the rig through a preset.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from stage.engine.events import Cue, Event, MidiMessage
from stage.engine.state import PerformanceState

log = logging.getLogger(__name__)

TEMPO_STEP_BPM = 0.5
"""A tempo cue goes out when the tempo moved more than this since the last one (bpm)."""

ENERGY_STEP = 0.05
"""An energy cue goes out on a downbeat when the dynamics moved more than this (0-1)."""


class CueGenerator:
    """A generator (name ``cues``) of beat, bar, tempo, chord, key and energy cues.

    ``/stage/beat`` (beat in bar 1-based, bar number 1-based) on every beat;
    ``/stage/bar`` (bar number) on every downbeat; ``/stage/tempo`` (bpm, float) when the
    tempo moves more than 0.5 bpm; ``/stage/chord`` and ``/stage/key`` (labels) when the
    follower changes them; ``/stage/energy`` (0-1) on downbeats when the dynamics move;
    ``/stage/scene`` (scene, song section) when a song section with a scene in ``scenes``
    (the setlist's ``[osc.scenes]``) starts, as ``section_at(tick)`` tells.
    """

    name = "cues"

    def __init__(self, part: str = "cue", scenes: Mapping[str, str] | None = None,
                 section_at: Callable[[int], str | None] | None = None) -> None:
        self.part = part
        self.scenes = dict(scenes or {})
        self.section_at = section_at
        self._section: str | None = None
        self._next_beat_tick: int | None = None
        self._bar = 0
        self._bpm: float | None = None
        self._chord: str | None = None
        self._key: str | None = None
        self._energy: float | None = None

    def window(self, state: PerformanceState, start_tick: int, end_tick: int
               ) -> Sequence[Event]:
        """Cues for ticks in [start_tick, end_tick), each stamped within that window."""
        if end_tick <= start_tick:
            return []
        cues = self._changes(state, start_tick)
        cues += self._beats(state, start_tick, end_tick)
        return cues

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()

    def _changes(self, state: PerformanceState, tick: int) -> list[Event]:
        cues: list[Event] = []
        if self._bpm is None or abs(state.bpm - self._bpm) > TEMPO_STEP_BPM:
            self._bpm = state.bpm
            cues.append(Cue(tick, "/stage/tempo", (round(float(state.bpm), 3),), self.part))
        key = state.key.label if state.key is not None else None
        if key is not None and key != self._key:
            self._key = key
            cues.append(Cue(tick, "/stage/key", (key,), self.part))
        chord = state.chord.label if state.chord is not None else "N"
        if chord != self._chord and (state.chord is not None or self._chord is not None):
            self._chord = chord
            cues.append(Cue(tick, "/stage/chord", (chord,), self.part))
        return cues

    def _beats(self, state: PerformanceState, start_tick: int, end_tick: int) -> list[Event]:
        meter = state.meter
        per_beat = meter.ticks_per_beat
        # Beats lie on the follower's bar grid; never repeat or go back past one already sent.
        offset = (start_tick - state.bar_start_tick) % per_beat
        tick = start_tick if offset == 0 else start_tick + per_beat - offset
        if self._next_beat_tick is not None:
            tick = max(tick, self._next_beat_tick)
        cues: list[Event] = []
        while tick < end_tick:
            beat = ((tick - state.bar_start_tick) // per_beat) % meter.beats_per_bar + 1
            if beat == 1 or self._bar == 0:
                self._bar += 1
            if beat == 1:
                cues.append(Cue(tick, "/stage/bar", (self._bar,), self.part))
                cues += self._energy_cue(state, tick)
            cues += self._scene_cue(tick)
            cues.append(Cue(tick, "/stage/beat", (beat, self._bar), self.part))
            tick += per_beat
        self._next_beat_tick = tick
        return cues

    def _scene_cue(self, tick: int) -> list[Event]:
        # Song sections start on beats: look on each one for a new section with a scene.
        if self.section_at is None or not self.scenes:
            return []
        section = self.section_at(tick)
        if section == self._section:
            return []
        self._section = section
        if section is None or section not in self.scenes:
            return []
        return [Cue(tick, "/stage/scene", (self.scenes[section], section), self.part)]

    def _energy_cue(self, state: PerformanceState, tick: int) -> list[Event]:
        energy = min(max(float(state.dynamics), 0.0), 1.0)
        if self._energy is not None and abs(energy - self._energy) <= ENERGY_STEP:
            return []
        self._energy = energy
        return [Cue(tick, "/stage/energy", (round(energy, 3),), self.part)]
