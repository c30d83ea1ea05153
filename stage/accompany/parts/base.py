"""What every part shares: the bar plan, the harmony view, the step grid, feel and velocity.

A part is asked for a window [start_tick, end_tick) with the plans of the bars around it.
It walks its pattern's steps, places each (swing, humanize), keeps those that land inside
the window, and returns Notes with durations. Humanize comes from a seeded hash of the
step's tick, so a render is identical however the windows are cut.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from stage.accompany.arranger import END, FormBar
from stage.accompany.controls import ControlValues
from stage.accompany.style import PartMix, Style
from stage.engine.events import Event
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter
from stage.engine.time import PPQ

LEVELS = {"X": 1.0, "R": 1.0, "x": 0.82, "r": 0.85, "3": 0.8, "5": 0.8, "7": 0.78, "8": 0.8,
          "a": 0.72, "+": 0.7, "o": 0.5}
"""Velocity level of each step character, before energy scales it."""

GHOST_FROM = 0.35
EXTRA_FROM = 0.65
APPROACH_FROM = 0.3
TIMING_MARGIN = PPQ // 4
"""Ticks a step may move from its grid place (swing plus humanize) — planning looks this far."""


@dataclass(frozen=True, slots=True)
class BarPlan:
    """One bar as the band plays it: where it starts (ticks), its meter, its place in the
    form, and the controls in force for the whole bar."""

    start_tick: int
    meter: Meter
    form: FormBar
    controls: ControlValues
    swing: float

    @property
    def end_tick(self) -> int:
        return self.start_tick + self.meter.ticks_per_bar

    @property
    def section(self) -> str:
        return self.form.section


class HarmonyView(Protocol):
    """The band's harmony: the (coloured) chord at any tick — None where the chart marks
    no chord (N.C.: the harmony parts rest) — and the key."""

    @property
    def key(self) -> Key: ...

    def chord_at(self, tick: int) -> Chord | None: ...


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a pattern: ``index`` in the bar, its character, its grid tick and length
    (ticks), and ``held`` steps of ``-`` after it."""

    index: int
    char: str
    tick: int
    length: int
    held: int


def mix64(value: int) -> int:
    """splitmix64: a fast, well-spread 64-bit hash."""
    value = (value + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return value ^ (value >> 31)


def unit_random(seed: int, salt: int, tick: int) -> float:
    """A reproducible number in [0, 1) for (seed, salt, tick)."""
    return mix64((seed * 1_000_003 + salt) * 0x1000003 + tick) / 2.0**64


def velocity(level: float, energy: float, gain: float, jitter: float = 0.0) -> int:
    """MIDI velocity for a step ``level`` (0-1) at ``energy`` (0-1): 40-120 scaled by level."""
    value = level * (40.0 + 80.0 * energy) * gain + jitter
    return max(1, min(127, round(value)))


def plays(char: str, controls: ControlValues) -> bool:
    """Whether an optional step sounds at these controls (ghosts and extras by density)."""
    if char == "o":
        return controls.effective_density >= GHOST_FROM
    if char == "+":
        return controls.effective_density >= EXTRA_FROM
    return char not in ".-"


class Part:
    """Base of the pattern parts. Subclasses implement :meth:`play_bar`."""

    def __init__(self, name: str, style: Style, seed: int) -> None:
        self.name = name
        self.style = style
        self.mix: PartMix = style.mix[name]
        self.seed = seed
        self.salt = sum(ord(c) * 131**i for i, c in enumerate(name)) & 0xFFFF
        self._hit_cache: dict[tuple[str, int], list[tuple[int, str, int]]] = {}
        self._sources: dict[str, str] = {}

    def pattern_source(self, plan: BarPlan) -> str:
        """The notes' provenance for the show log: ``style:<style>/<section>`` (interned)."""
        found = self._sources.get(plan.section)
        if found is None:
            found = self._sources[plan.section] = f"style:{self.style.name}/{plan.section}"
        return found

    def play(self, plans: Sequence[BarPlan], harmony: HarmonyView, start_tick: int,
             end_tick: int) -> list[Event]:
        """Events of this part that sound in [start_tick, end_tick) (ticks)."""
        out: list[Event] = []
        for plan in plans:
            if plan.section == END or plan.end_tick + TIMING_MARGIN <= start_tick:
                continue
            lines = self.style.sections[plan.section].lines(self.name)
            if lines:
                self.play_bar(plan, lines, harmony, start_tick, end_tick, out)
        return out

    def play_bar(self, plan: BarPlan, lines: dict[str, tuple[str, ...]],
                 harmony: HarmonyView, start_tick: int, end_tick: int,
                 out: list[Event]) -> None:
        raise NotImplementedError

    # -- the grid ----------------------------------------------------------------------
    def steps(self, plan: BarPlan, patterns: tuple[str, ...], start_tick: int,
              end_tick: int) -> Iterator[Step]:
        """The pattern's steps whose grid tick is near the window (played ones filtered by
        :meth:`place`). Patterns written in the style's meter are laid on the bar's meter."""
        pattern = patterns[plan.form.bar_in_section % len(patterns)]
        per_beat = max(1, len(pattern) // self.style.meter.beats_per_bar)
        length = max(1, plan.meter.ticks_per_beat // per_beat)
        count = per_beat * plan.meter.beats_per_bar
        hits = self._hits(pattern, count)
        # Only steps that swing and humanize can move into the window are candidates.
        spread = self.style.humanize_timing + 1
        late = round(plan.swing * PPQ * 4 / self.style.swing_unit / 3) + spread
        first = max(0, -(-(start_tick - late - plan.start_tick) // length))
        last = min(count, (end_tick + spread - plan.start_tick) // length + 1)
        for index, char, held in hits[bisect.bisect_left(hits, (first,)):]:
            if index >= last:
                break
            yield Step(index, char, plan.start_tick + index * length, length, held)

    def _hits(self, pattern: str, count: int) -> list[tuple[int, str, int]]:
        """(index, character, held steps) of every sounding step of ``pattern`` laid over
        ``count`` steps, cached: patterns are few and bars are many."""
        key = (pattern, count)
        hits = self._hit_cache.get(key)
        if hits is None:
            size = len(pattern)
            hits = []
            for index in range(count):
                char = pattern[index % size]
                if char in ".-":
                    continue
                held = 0
                while index + held + 1 < count and pattern[(index + held + 1) % size] == "-":
                    held += 1
                hits.append((index, char, held))
            self._hit_cache[key] = hits
        return hits

    def chord_steps(self, plan: BarPlan, lines: dict[str, tuple[str, ...]],
                    harmony: HarmonyView, start_tick: int, end_tick: int
                    ) -> Iterator[tuple[Step, int, Chord]]:
        """(step, placed tick, chord) for each ``pattern`` hit that plays at these controls,
        lands in [start_tick, end_tick) and has a chord under it (pitched parts)."""
        patterns = lines.get("pattern")
        if not patterns:
            return
        for step in self.steps(plan, patterns, start_tick, end_tick):
            if not plays(step.char, plan.controls):
                continue
            tick = self.place(plan, step)
            if not start_tick <= tick < end_tick:
                continue
            chord = harmony.chord_at(step.tick)
            if chord is not None:
                yield step, tick, chord

    def place(self, plan: BarPlan, step: Step) -> int:
        """The tick a step sounds at: its grid tick, swung and humanized, never before the
        bar line (so sections and fills start on it)."""
        offset = 0
        unit = PPQ * 4 // self.style.swing_unit
        position = step.tick - plan.start_tick
        if plan.swing > 0 and step.length <= unit and position % (2 * unit) == unit:
            offset += round(plan.swing * unit / 3)
        spread = self.style.humanize_timing
        if spread:
            offset += round((2 * unit_random(self.seed, self.salt, step.tick) - 1) * spread)
        return max(plan.start_tick, step.tick + offset)

    def step_velocity(self, plan: BarPlan, char: str, tick: int, accent: float = 1.0) -> int:
        spread = self.style.humanize_velocity
        jitter = 0.0
        if spread:
            jitter = (2 * unit_random(self.seed, self.salt + 7919, tick) - 1) * spread
        return velocity(LEVELS.get(char, 0.8) * accent, plan.controls.energy, self.mix.gain,
                        jitter)
