"""A song's chord chart: sections of bars, each bar's chords splitting it evenly, and a form.

A bar written ``"C G"`` holds C for its first half and G for its second; ``"N"`` is no chord.
The chart is a prior for the follower's chord anticipation and the band's harmony.
"""

from __future__ import annotations

from dataclasses import dataclass

from stage.engine.harmony import Chord
from stage.engine.state import Meter

Bar = tuple[Chord | None, ...]


@dataclass(frozen=True, slots=True)
class ChartSection:
    name: str
    bars: tuple[Bar, ...]

    @classmethod
    def parse(cls, name: str, bars: list[str]) -> ChartSection:
        """``bars`` like ``["C", "Am F", "N"]``; raises ValueError on a bad chord label."""
        parsed = []
        for bar in bars:
            labels = bar.split()
            if not labels:
                raise ValueError(f"empty bar in section {name!r}")
            parsed.append(tuple(Chord.parse(label) for label in labels))
        return cls(name, tuple(parsed))


@dataclass(frozen=True, slots=True)
class ChordChart:
    """``sections`` by name; ``form`` the order they are played in."""

    sections: dict[str, ChartSection]
    form: tuple[str, ...]

    def __post_init__(self) -> None:
        missing = [name for name in self.form if name not in self.sections]
        if missing:
            raise ValueError(f"form names sections with no chart: {', '.join(missing)}")

    def bars(self) -> list[tuple[str, Bar]]:
        """Every bar of the form in order, with its section name."""
        return [(name, bar) for name in self.form for bar in self.sections[name].bars]

    def chord_at(self, bar_index: int, tick_in_bar: int, meter: Meter) -> Chord | None:
        """The chart's chord at ``tick_in_bar`` (ticks) of bar ``bar_index`` (0-based, wraps)."""
        bars = self.bars()
        if not bars:
            return None
        _, bar = bars[bar_index % len(bars)]
        slot = min(tick_in_bar * len(bar) // meter.ticks_per_bar, len(bar) - 1)
        return bar[max(slot, 0)]
