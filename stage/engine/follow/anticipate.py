"""Chord anticipation: the next beat's chord, said before it sounds.

With a chord chart the anticipator tracks where the performer is in the form: it aligns the
chords heard over the last bars with the chart (any start bar, since the performer may skip
or repeat), keeps the alignment while it holds, and reads the chart one beat ahead. Without a
chart it learns this song's harmonic rhythm and progressions as they are played: where in the
bar chords change and which chord follows which.
"""

from __future__ import annotations

from collections import Counter, defaultdict, deque

import numpy as np

from stage.engine.chart import ChordChart
from stage.engine.harmony import Chord
from stage.engine.state import Meter

_MATCH_BEATS = 16
"""Beats of heard chords compared with the chart to find the place in the form."""


def _same_harmony(a: Chord | None, b: Chord | None) -> bool:
    if a is None or b is None:
        return a is b
    return a.root == b.root and (a.quality in ("min", "min7", "dim", "hdim7")) == (
        b.quality in ("min", "min7", "dim", "hdim7"))


class ChartPosition:
    """Where the performer is in ``chart``: beat-level chord list and the current offset."""

    def __init__(self, chart: ChordChart, meter: Meter) -> None:
        self.meter = meter
        self.beats: list[Chord | None] = []
        for bar_index in range(len(chart.bars())):
            for beat in range(meter.beats_per_bar):
                self.beats.append(chart.chord_at(bar_index, beat * meter.ticks_per_beat, meter))
        self.offset = 0  # chart beat = performed beat index + offset
        self._heard: deque[tuple[int, Chord | None]] = deque(maxlen=_MATCH_BEATS)

    def heard(self, beat_index: int, chord: Chord | None) -> None:
        """The chord decided for performed beat ``beat_index``; re-aligns when it must."""
        self._heard.append((beat_index, chord))
        if len(self._heard) < 4 or not self.beats:
            return
        current = self._agreement(self.offset)
        if current >= 0.75 * len(self._heard):
            return
        # The performer's bar lines are the chart's: only whole-bar offsets are tried.
        candidates = range(0, len(self.beats), self.meter.beats_per_bar)
        best = max(candidates, key=self._agreement)
        if self._agreement(best) > current + 1:
            self.offset = best

    def _agreement(self, offset: int) -> int:
        n = len(self.beats)
        return sum(_same_harmony(self.beats[(i + offset) % n], c) for i, c in self._heard)

    def chord_at_beat(self, beat_index: int) -> Chord | None:
        if not self.beats:
            return None
        return self.beats[(beat_index + self.offset) % len(self.beats)]


class ProgressionMemory:
    """Without a chart: what followed each chord at each beat of the bar, in this song.

    The outcome counted is the next beat's chord (the same chord included), so holding and
    changing are learned together: "after C on beat 4 comes F" is foretold once heard twice
    and more often than anything else there.
    """

    def __init__(self, beats_per_bar: int) -> None:
        self.beats_per_bar = beats_per_bar
        self._next: dict[tuple[int, Chord | None], Counter[Chord | None]] = defaultdict(Counter)
        self._previous: tuple[int, Chord | None] | None = None

    def heard(self, beat_index: int, chord: Chord | None) -> None:
        if self._previous is not None and self._previous[0] == beat_index - 1:
            position = (beat_index - 1) % self.beats_per_bar
            self._next[(position, self._previous[1])][chord] += 1
        self._previous = (beat_index, chord)

    def predict(self, next_beat_index: int, current: Chord | None) -> Chord | None:
        position = (next_beat_index - 1) % self.beats_per_bar
        outcomes = self._next.get((position, current))
        if not outcomes:
            return current
        (chord, count), = outcomes.most_common(1)
        if count >= 2 and count > outcomes.get(current, 0):
            return chord
        return current


class ChordAnticipator:
    """The next beat's chord from the chart (when given) or the song's own history."""

    wants_melody = False
    """The follower hands the melody over only to an anticipator that reads it (a model)."""

    def __init__(self, meter: Meter, chart: ChordChart | None = None) -> None:
        self.chart = ChartPosition(chart, meter) if chart is not None else None
        self.memory = ProgressionMemory(meter.beats_per_bar)

    def heard(self, beat_index: int, chord: Chord | None,
              melody: np.ndarray | None = None) -> None:
        """The chord decided for performed beat ``beat_index`` (0 = the first onset). The
        melody over the beat (``melody``, 12 pitch-class shares) is not used here."""
        self.memory.heard(beat_index, chord)
        if self.chart is not None:
            self.chart.heard(beat_index, chord)

    def predict(self, next_beat_index: int, current: Chord | None) -> Chord | None:
        """The chord expected on performed beat ``next_beat_index``."""
        if self.chart is not None:
            return self.chart.chord_at_beat(next_beat_index)
        return self.memory.predict(next_beat_index, current)
