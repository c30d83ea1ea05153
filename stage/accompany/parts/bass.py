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
            if chord is None:
                continue
            target_tick = self._target_tick(plan, step, chord, harmony) if char == "a" else None
            if char == "a" and target_tick is None:
                char = "5"  # nothing to approach (a long bar's middle): a chord tone
            if char == "a" and plan.controls.complexity < APPROACH_FROM:
                char = "r"
            if char == "a" and target_tick is not None:
                pitch = self._approach(plan, target_tick, harmony)
            else:
                pitch = self._tone(char, chord)
            duration = _hold(step, chord, harmony, self.mix.gate)
            vel = self.step_velocity(plan, step.char, tick)
            out.append(Note(tick, duration, pitch, vel, self.mix.channel, self.name,
                            self.pattern_source(plan)))
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

    @staticmethod
    def _target_tick(plan: BarPlan, step: Step, chord: Chord,
                     harmony: HarmonyView) -> int | None:
        """Where an approach note leads, within a beat: the next chord change or bar line."""
        horizon = step.tick + plan.meter.ticks_per_beat
        tick = step.tick + step.length
        while tick < min(horizon, plan.end_tick):
            if harmony.chord_at(tick) != chord:
                return tick
            tick += step.length
        return plan.end_tick if horizon >= plan.end_tick else None

    def _approach(self, plan: BarPlan, target_tick: int, harmony: HarmonyView) -> int:
        """A step into the chord at ``target_tick``: chromatic from below when the band
        plays complex, else the nearest scale tone beside its root."""
        after = harmony.chord_at(target_tick) or harmony.chord_at(target_tick - 1)
        target = self._root_pitch(after.bass_pc if after else harmony.key.tonic)
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
