"""Onset groups: note-ons merged into the events a listener hears as one, and what they are.

A chord or a strummed spread is one onset. Once its notes are all in, a group is classed by
what it tells about the metre: the bass (its lowest note reaches down to the lowest notes of
the last two seconds: a relative register, so a melody alone has one), a chord (three notes
or more above the bass), or a single note. Bass onsets fall on the beat far more often than
anywhere else; single notes in pop melodies lean to the off-beat; chords lie in between.
A group is also told by how new its pitch classes are (the share not heard in the second
before it): harmony changes on the beat, so a bass note or chord bringing new pitch classes
leans to it, and a repeated one away from it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

ONSET_MERGE_S = 0.035
"""Note-ons closer than this (seconds) make one onset: a chord, a strummed spread."""

BASS, CHORD, SINGLE = 0, 1, 2
CLASSES = ("bass", "chord", "single")

_NOVEL_SPAN_S = 1.0
_BASS_SPAN_S = 2.0
_BASS_REACH = 4
"""A group is the bass when its lowest note is within this many semitones of the lowest note
of the last ``_BASS_SPAN_S`` seconds."""


@dataclass(slots=True)
class OnsetGroup:
    """Note-ons heard as one onset at ``time`` (seconds)."""

    time: float
    strength: float
    lowest: int
    notes: int = 1
    kind: int = SINGLE  # known once closed
    accent: float = 1.0  # loudness per note over the last two seconds' (known once closed)
    classes: int = 0  # its pitch classes, a bit each
    novel: float = 0.0  # share of them not heard in the second before it (known once closed)
    heard_beat: float | None = None  # audio: the beat model's activation at it (the highest)
    bass_rise: float | None = None  # audio: how much the bass power grew at it (the most)
    attack: float | None = None  # audio: how much the spectrum above the bass grew
    closed: bool = False


class OnsetGrouper:
    """Merges note-ons into groups and classes each group when it closes."""

    def __init__(self) -> None:
        self.open: OnsetGroup | None = None
        self._lows: deque[tuple[float, int]] = deque(maxlen=64)
        self._loudness: deque[tuple[float, float]] = deque(maxlen=64)
        self._heard: deque[tuple[float, int]] = deque(maxlen=64)

    def note_on(self, time: float, velocity: int, pitch: int) -> tuple[OnsetGroup | None, bool]:
        """A note-on at ``time`` (seconds). Returns the group closed by it (or None), and
        whether this note started a new group."""
        strength = 0.25 + velocity / 127.0
        group = self.open
        if group is not None and time - group.time < ONSET_MERGE_S:
            group.strength += strength
            group.lowest = min(group.lowest, pitch)
            group.notes += 1
            group.classes |= 1 << (pitch % 12)
            return None, False
        closed = self.close()
        self.open = OnsetGroup(time, strength, pitch, classes=1 << (pitch % 12))
        return closed, True

    def close_before(self, now: float) -> OnsetGroup | None:
        """Close the open group if no note can join it any more at ``now`` (seconds)."""
        if self.open is not None and now - self.open.time >= ONSET_MERGE_S:
            return self.close()
        return None

    def close(self) -> OnsetGroup | None:
        group = self.open
        if group is None:
            return None
        self.open = None
        lows = [low for t, low in self._lows if group.time - t < _BASS_SPAN_S]
        if not lows or group.lowest <= min(lows) + _BASS_REACH:
            group.kind = BASS
        else:
            group.kind = CHORD if group.notes >= 3 else SINGLE
        loudness = group.strength / group.notes
        recent = [x for t, x in self._loudness if group.time - t < _BASS_SPAN_S]
        if recent:
            group.accent = loudness * len(recent) / sum(recent)
        heard = 0
        for t, classes in self._heard:
            if group.time - t < _NOVEL_SPAN_S:
                heard |= classes
        group.novel = (group.classes & ~heard).bit_count() / group.classes.bit_count()
        self._heard.append((group.time, group.classes))
        group.closed = True
        self._lows.append((group.time, group.lowest))
        self._loudness.append((group.time, loudness))
        return group
