"""Shared fixtures of the band tests: a known chart in C and its strong-beat check."""

from __future__ import annotations

from collections.abc import Iterable

from stage.engine.chart import ChartSection, ChordChart
from stage.engine.events import Cue, Event, Note
from stage.engine.harmony import Key
from stage.engine.state import Meter

KEY_C = Key(0, "maj")
METER = Meter(4, 4)
BAR = METER.ticks_per_bar
BEAT = METER.ticks_per_beat
CHART = ChordChart(
    {"verse": ChartSection.parse("verse", [
        "C", "A:min7", "F", "G:7", "E:min", "A:min", "D:min7 G:7", "C/3",
        "F:maj7", "G", "E:min7 A:min", "D:min G:sus4"])},
    ("verse",),
)
ONSET_SLACK = 40
"""Ticks after a beat within which a humanized or swung onset still counts as on it."""


def chart_chord(tick: int):  # type: ignore[no-untyped-def]
    return CHART.chord_at(tick // BAR, tick % BAR, METER)


def strong_beat_ratio(notes: Iterable[Note]) -> tuple[int, int]:
    """(chord tones, notes) among notes starting on beats 1 and 3 of a bar."""
    good = total = 0
    for note in notes:
        beat_tick = (note.tick // BEAT) * BEAT
        if note.tick - beat_tick >= ONSET_SLACK or (beat_tick % BAR) // BEAT not in (0, 2):
            continue
        chord = chart_chord(beat_tick)
        assert chord is not None
        total += 1
        good += note.pitch % 12 in chord.pitch_classes
    return good, total


def section_cues(events: Iterable[Event]) -> list[tuple[int, str]]:
    return [(e.tick, str(e.args[0])) for e in events
            if isinstance(e, Cue) and e.address == "/stage/section"]
