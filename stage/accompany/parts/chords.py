"""Keys (comping) and pad: voiced chords on the pattern's hits, led smoothly chord to chord.

Energy adds voices and lifts the register; mood moves the register (brighter higher) and,
with complexity, picks the colour tones; the register stays inside the mix's limits.
"""

from __future__ import annotations

from stage.accompany.parts.base import BarPlan, HarmonyView, Part, Step
from stage.accompany.style import Style
from stage.accompany.voicing import VoiceLeader, extensions, tones_by_importance
from stage.engine.events import Event, Note
from stage.engine.harmony import Chord, Key


class ChordPart(Part):
    """``name`` 'keys' or 'pad'; mix options ``voices`` (at middle energy), ``rootless``,
    ``strum`` (ticks between voices, low to high)."""

    def __init__(self, name: str, style: Style, seed: int) -> None:
        super().__init__(name, style, seed)
        self.leader = VoiceLeader(self.mix.low, self.mix.high)
        self.voices = int(self.mix.option("voices", 4))
        self.rootless = bool(self.mix.option("rootless", False))
        self.strum = int(self.mix.option("strum", 0))
        self._last: tuple[Chord, int, int, bool] | None = None
        self._last_voicing: tuple[int, ...] = ()

    def play_bar(self, plan: BarPlan, lines: dict[str, tuple[str, ...]],
                 harmony: HarmonyView, start_tick: int, end_tick: int,
                 out: list[Event]) -> None:
        for step, tick, chord in self.chord_steps(plan, lines, harmony, start_tick, end_tick):
            voicing = self.voicing(plan, chord, harmony.key)
            duration = self._hold(step, chord, harmony)
            vel = self.step_velocity(plan, step.char, tick)
            for order, pitch in enumerate(voicing):
                at = min(tick + order * self.strum, end_tick - 1)
                out.append(Note(at, duration, pitch, vel, self.mix.channel, self.name,
                                self.pattern_source(plan)))

    def voicing(self, plan: BarPlan, chord: Chord, key: Key) -> tuple[int, ...]:
        """The voicing for ``chord`` with this bar's controls (reused while unchanged)."""
        controls = plan.controls
        count = max(2, min(6, self.voices - 1 + round(2 * controls.energy)))
        centre = (self.mix.low + self.mix.high) // 2
        centre += round(8 * (controls.mood - 0.5) + 4 * (controls.energy - 0.5))
        added = extensions(chord, key, controls.mood, controls.complexity)
        signature = (chord, count, centre, bool(added))
        if signature == self._last and self._last_voicing:
            return self._last_voicing
        tones = tones_by_importance(chord, added, self.rootless)
        self._last, self._last_voicing = signature, self.leader.voice(tones, count, centre)
        return self._last_voicing

    def _hold(self, step: Step, chord: Chord, harmony: HarmonyView) -> int:
        steps = 1
        while steps <= step.held and harmony.chord_at(step.tick + steps * step.length) == chord:
            steps += 1
        return max(1, int(steps * step.length * self.mix.gate))
