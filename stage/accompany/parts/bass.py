"""Bass: chord tones named by the pattern, roots low, approach notes into the next chord."""

from __future__ import annotations

from stage.accompany.parts.base import (
    APPROACH_FROM,
    BarPlan,
    HarmonyView,
    Part,
    Step,
    plays,
)
from stage.accompany.style import Style
from stage.accompany.voicing import pitch_near
from stage.engine.events import Event, Note
from stage.engine.harmony import CHORD_INTERVALS, Chord


class Bass(Part):
    def __init__(self, style: Style, seed: int) -> None:
        super().__init__("bass", style, seed)
        self.last_pitch: int | None = None

    def play_bar(self, plan: BarPlan, lines: dict[str, tuple[str, ...]],
                 harmony: HarmonyView, start_tick: int, end_tick: int,
                 out: list[Event]) -> None:
        patterns = lines.get("pattern")
        if not patterns:
            return
        for step in self.steps(plan, patterns, start_tick, end_tick):
            char = step.char
            if char == "o" and not plays(char, plan.controls):
                continue
            tick = self.place(plan, step)
            if not start_tick <= tick < end_tick:
                continue
            chord = harmony.chord_at(step.tick)
            if char == "a" and plan.controls.complexity < APPROACH_FROM:
                char = "r"
            approach = char == "a"
            pitch = self._approach(plan, step, harmony) if approach else self._tone(char, chord)
            duration = _hold(step, chord, harmony, self.mix.gate)
            vel = self.step_velocity(plan, step.char, tick)
            out.append(Note(tick, duration, pitch, vel, self.mix.channel, self.name))
            self.last_pitch = pitch

    def _root_pitch(self, pc: int) -> int:
        """Roots stay in the lowest octave and a half, close to the last note."""
        low = self.mix.low
        target = self.last_pitch if self.last_pitch is not None else low + 7
        return pitch_near(pc, target, low, min(self.mix.high, low + 16))

    def _tone(self, char: str, chord: Chord) -> int:
        intervals = CHORD_INTERVALS[chord.quality]
        root = self._root_pitch(chord.bass_pc)
        if char in "Rro":
            return root
        if char == "8":
            return root + 12 if root + 12 <= self.mix.high else root
        index = {"3": 1, "5": 2, "7": 3}[char]
        if index >= len(intervals):
            index = 2 if char == "7" else index  # no seventh: the fifth
        pc = (chord.root + intervals[index]) % 12
        return pitch_near(pc, root + 5, root, min(self.mix.high, root + 12))

    def _approach(self, plan: BarPlan, step: Step, harmony: HarmonyView) -> int:
        """A step into the next chord's root: chromatic from below when the band plays
        complex, else the nearest scale tone beside it."""
        after = step.tick + step.length * (step.held + 1)
        target = self._root_pitch(harmony.chord_at(after).bass_pc)
        if plan.controls.complexity >= 0.6:
            return target - 1 if target - 1 >= self.mix.low else target + 1
        scale = harmony.key.scale
        for offset in (2, -1, -2, 1):
            pitch = target + offset
            if pitch % 12 in scale and self.mix.low <= pitch <= self.mix.high:
                return pitch
        return target


def _hold(step: Step, chord: Chord, harmony: HarmonyView, gate: float) -> int:
    """Ticks the note sounds: through its held steps, cut where the chord changes."""
    steps = 1
    while steps <= step.held and harmony.chord_at(step.tick + steps * step.length) == chord:
        steps += 1
    return max(1, int(steps * step.length * gate))
