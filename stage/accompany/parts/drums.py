"""Drums: GM percussion on channel 10 (index 9), one step line per instrument."""

from __future__ import annotations

from stage.accompany.parts.base import BarPlan, HarmonyView, Part, plays
from stage.accompany.style import DRUM_NOTES, MAIN_SECTIONS, Style
from stage.engine.events import Event, Note

HIT_TICKS = 120
"""Drum notes are short; the sound decays by itself (ticks)."""

LINE_GAIN = {"hat": 0.72, "pedal_hat": 0.6, "shaker": 0.55, "cabasa": 0.55, "ride": 0.78,
             "tambourine": 0.6, "open_hat": 0.78, "side_stick": 0.8, "conga_high": 0.75,
             "conga_low": 0.75, "claves": 0.7, "cowbell": 0.65}
"""Cymbals and hand percussion sit under kick and snare in the drummer's own balance."""

CRASH_FROM = 0.45
"""Energy from which a new section opens with a crash cymbal."""


class Drums(Part):
    def __init__(self, style: Style, seed: int) -> None:
        super().__init__("drums", style, seed)

    def play_bar(self, plan: BarPlan, lines: dict[str, tuple[str, ...]],
                 harmony: HarmonyView, start_tick: int, end_tick: int,
                 out: list[Event]) -> None:
        channel = self.mix.channel
        for line, patterns in lines.items():
            pitch = DRUM_NOTES[line]
            gain = LINE_GAIN.get(line, 1.0)
            for step in self.steps(plan, patterns, start_tick, end_tick):
                if not plays(step.char, plan.controls):
                    continue
                tick = self.place(plan, step)
                if start_tick <= tick < end_tick:
                    vel = self.step_velocity(plan, step.char, tick, gain)
                    out.append(Note(tick, HIT_TICKS, pitch, vel, channel, self.name,
                                    self.pattern_source(plan)))
        self._crash(plan, start_tick, end_tick, out)

    def _crash(self, plan: BarPlan, start_tick: int, end_tick: int, out: list[Event]) -> None:
        """A crash on the downbeat that opens a main section, when the band has energy."""
        tick = plan.start_tick
        if not (plan.form.first and plan.section in MAIN_SECTIONS):
            return
        if plan.controls.energy < CRASH_FROM or not start_tick <= tick < end_tick:
            return
        vel = self.step_velocity(plan, "X", tick, accent=0.95)
        out.append(Note(tick, HIT_TICKS * 4, DRUM_NOTES["crash"], vel, self.mix.channel,
                        self.name, self.pattern_source(plan)))
