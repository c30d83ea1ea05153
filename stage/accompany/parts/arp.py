"""Arpeggiator: the chord's tones one at a time across octaves, up, down or both ways."""

from __future__ import annotations

from stage.accompany.parts.base import BarPlan, HarmonyView, Part, unit_random
from stage.accompany.style import Style
from stage.accompany.voicing import extensions, pitch_near
from stage.engine.events import Event, Note
from stage.engine.harmony import CHORD_INTERVALS, Chord, Key

DIRECTIONS = ("up", "down", "updown", "random")


class Arp(Part):
    """Mix options: ``direction`` (up, down, updown, random) and ``octaves`` (1-3);
    complexity from 0.7 adds an octave, mood lifts the starting octave."""

    def __init__(self, style: Style, seed: int) -> None:
        super().__init__("arp", style, seed)
        self.direction = str(self.mix.option("direction", "up"))
        if self.direction not in DIRECTIONS:
            raise ValueError(f"arp direction must be one of {DIRECTIONS}")
        self.octaves = max(1, min(3, int(self.mix.option("octaves", 2))))
        self._cache: tuple[tuple[Chord, int, float, float], tuple[int, ...]] | None = None

    def play_bar(self, plan: BarPlan, lines: dict[str, tuple[str, ...]],
                 harmony: HarmonyView, start_tick: int, end_tick: int,
                 out: list[Event]) -> None:
        for step, tick, chord in self.chord_steps(plan, lines, harmony, start_tick, end_tick):
            run = self.run(plan, chord, harmony.key)
            pitch = run[self._position(step.tick // step.length, len(run), step.tick)]
            duration = max(1, int(step.length * (step.held + 1) * self.mix.gate))
            vel = self.step_velocity(plan, step.char, tick)
            out.append(Note(tick, duration, pitch, vel, self.mix.channel, self.name,
                            self.pattern_source(plan)))

    def run(self, plan: BarPlan, chord: Chord, key: Key) -> tuple[int, ...]:
        """The chord's pitches, low to high, over the octaves this bar plays."""
        controls = plan.controls
        octaves = min(3, self.octaves + (1 if controls.complexity >= 0.7 else 0))
        signature = (chord, octaves, controls.mood, controls.complexity)
        if self._cache and self._cache[0] == signature:
            return self._cache[1]
        low, high = self.mix.low, self.mix.high
        lift = 12 if controls.mood > 0.7 and high - low >= 12 * (octaves + 1) else 0
        root = pitch_near(chord.root, low + 5 + lift, low, high)
        intervals = sorted({*CHORD_INTERVALS[chord.quality],
                            *((pc - chord.root) % 12 for pc in
                              extensions(chord, key, controls.mood, controls.complexity))})
        pitches = [root + 12 * octave + interval for octave in range(octaves)
                   for interval in intervals]
        run = tuple(p for p in pitches if p <= high) or (root,)
        self._cache = (signature, run)
        return run

    def _position(self, counter: int, size: int, tick: int) -> int:
        if self.direction == "up":
            return counter % size
        if self.direction == "down":
            return size - 1 - counter % size
        if self.direction == "updown":
            cycle = max(1, 2 * size - 2)
            phase = counter % cycle
            return phase if phase < size else cycle - phase
        return int(unit_random(self.seed, self.salt, tick) * size)
