"""Bar position: which beat is the downbeat, from where the harmony changes.

The first onset starts bar 1 until the music says otherwise: chords change on downbeats far
more often than elsewhere, so when changes keep landing on another beat of the bar (a pickup
started the song, or the performer skipped a beat), that beat becomes the downbeat.
The meter itself comes from the setlist; only the bar's phase is followed.
"""

from __future__ import annotations

import numpy as np

_DECAY = 0.995
"""Per beat: the change counts forget over about fifty bars."""

_MIN_CHANGES = 6.0
_LEAD = 2.0


class BarFinder:
    """``offset``: the beat index (mod beats per bar) that falls on a downbeat."""

    def __init__(self, beats_per_bar: int) -> None:
        self.beats_per_bar = beats_per_bar
        self.offset = 0
        self._changes = np.zeros(beats_per_bar)

    def is_downbeat(self, beat_index: int) -> bool:
        return (beat_index - self.offset) % self.beats_per_bar == 0

    def heard(self, beat_index: int, chord_changed: bool) -> int:
        """The chord decision for beat ``beat_index``; returns how many beats the downbeat
        moved (0 when it stays), in the range [-bpb/2, bpb/2]."""
        if self.beats_per_bar == 1:
            return 0
        self._changes *= _DECAY
        if chord_changed:
            self._changes[beat_index % self.beats_per_bar] += 1.0
        best = int(np.argmax(self._changes))
        current = self.offset % self.beats_per_bar
        if (best == current or self._changes.sum() < _MIN_CHANGES
                or self._changes[best] < _LEAD * self._changes[current]):
            return 0
        move = (best - current) % self.beats_per_bar
        if move > self.beats_per_bar // 2:
            move -= self.beats_per_bar
        self.offset = best
        return move
