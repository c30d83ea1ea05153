"""What the follower knows at a moment: the performance state every part plays from."""

from __future__ import annotations

from dataclasses import dataclass, field

from stage.engine.harmony import Chord, Key
from stage.engine.time import PPQ


@dataclass(frozen=True, slots=True)
class Meter:
    """``beats_per_bar`` beats of 1/``beat_unit`` notes: 4/4, 3/4, 6/8 ..."""

    beats_per_bar: int = 4
    beat_unit: int = 4

    def __post_init__(self) -> None:
        if self.beats_per_bar < 1 or self.beat_unit not in (1, 2, 4, 8, 16):
            raise ValueError(f"bad meter {self.beats_per_bar}/{self.beat_unit}")

    @property
    def ticks_per_beat(self) -> int:
        """Ticks per notated beat (a quarter in 4/4, an eighth in 6/8)."""
        return PPQ * 4 // self.beat_unit

    @property
    def ticks_per_bar(self) -> int:
        return self.ticks_per_beat * self.beats_per_bar

    @classmethod
    def parse(cls, text: str) -> Meter:
        beats, _, unit = text.partition("/")
        return cls(int(beats), int(unit or 4))

    def __str__(self) -> str:
        return f"{self.beats_per_bar}/{self.beat_unit}"


@dataclass(frozen=True, slots=True)
class PerformanceState:
    """The followed state at ``tick`` (ticks since the origin).

    ``held`` are the MIDI pitches sounding now (sustain pedal included); ``dynamics`` is the
    recent loudness 0-1; ``density`` the recent notes per beat.
    """

    tick: int = 0
    bpm: float = 120.0
    meter: Meter = field(default_factory=Meter)
    bar_start_tick: int = 0
    chord: Chord | None = None
    next_chord: Chord | None = None
    key: Key | None = None
    held: frozenset[int] = frozenset()
    dynamics: float = 0.5
    density: float = 0.0

    @property
    def lowest_held(self) -> int | None:
        return min(self.held) if self.held else None

    @property
    def beat_in_bar(self) -> int:
        """0-based beat of ``tick`` within its bar."""
        return (self.tick - self.bar_start_tick) // self.meter.ticks_per_beat
