"""Chord recognition from held notes: templates scored against pitch-class weights and bass.

Pure functions over a 12-bin chroma (any non-negative weights) and the lowest sounding pitch.
A seventh chord must earn its seventh: tetrads pay a small penalty, so a plain triad wins
unless the seventh really sounds. The key, when known, favours diatonic chords a little, and
the chord already playing is kept unless a new one is clearly better (no flicker).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stage.engine.harmony import CHORD_INTERVALS, Chord, Key

QUALITIES = ("maj", "min", "7", "maj7", "min7", "dim", "hdim7", "aug", "sus2", "sus4")
"""The qualities the tracker names."""

# Extra cost by quality: rarer or richer chords need more evidence.
_QUALITY_COST = {"maj": 0.0, "min": 0.0, "7": 0.06, "maj7": 0.08, "min7": 0.06,
                 "dim": 0.12, "hdim7": 0.14, "aug": 0.2, "sus2": 0.14, "sus4": 0.12}


def _templates() -> tuple[np.ndarray, list[Chord]]:
    rows, chords = [], []
    for quality in QUALITIES:
        for root in range(12):
            row = np.zeros(12)
            for interval in CHORD_INTERVALS[quality]:
                row[(root + interval) % 12] = 1.0
            rows.append(row)
            chords.append(Chord(root, quality))
    return np.array(rows), chords


_TEMPLATES, _CHORDS = _templates()
_SIZES = _TEMPLATES.sum(axis=1)
_COSTS = np.array([_QUALITY_COST[c.quality] for c in _CHORDS])
_ROOTS = np.array([c.root for c in _CHORDS])


@dataclass(frozen=True, slots=True)
class ChordGuess:
    chord: Chord | None
    score: float


def score_chords(chroma: np.ndarray, bass_pc: int | None, key: Key | None = None) -> np.ndarray:
    """A score per template (rows of QUALITIES x 12 roots); higher is better."""
    total = float(chroma.sum())
    if total <= 0:
        return np.zeros(len(_CHORDS))
    norm = chroma / total
    inside = _TEMPLATES @ norm
    # Each chord tone should sound: a missing tone costs, most for the root and third.
    missing = ((_TEMPLATES * (norm[None, :] < 0.03)).sum(axis=1)) / _SIZES
    score = inside - 0.35 * missing - _COSTS
    if bass_pc is not None:
        score += 0.12 * (bass_pc == _ROOTS) + 0.04 * (_TEMPLATES[:, bass_pc] > 0)
    if key is not None:
        scale = np.zeros(12)
        scale[list(key.scale)] = 1.0
        diatonic = (_TEMPLATES @ scale) >= _SIZES - 0.5
        score += 0.05 * diatonic
    return np.asarray(score)


def recognise(chroma: np.ndarray, bass: int | None, key: Key | None = None,
              current: Chord | None = None, stickiness: float = 0.06) -> ChordGuess:
    """The chord sounding in ``chroma`` with lowest pitch ``bass`` (MIDI), or None for silence.

    ``current`` keeps its place unless another chord beats it by ``stickiness``.
    """
    if float(chroma.sum()) <= 0:
        return ChordGuess(None, 0.0)
    bass_pc = None if bass is None else bass % 12
    scores = score_chords(chroma, bass_pc, key)
    best = int(np.argmax(scores))
    chord = _CHORDS[best]
    if current is not None and current.quality in QUALITIES:
        index = QUALITIES.index(current.quality) * 12 + current.root
        if scores[best] - scores[index] < stickiness:
            best, chord = index, _CHORDS[index]
    inverted = bass_pc if bass_pc is not None and bass_pc in chord.pitch_classes else None
    return ChordGuess(Chord(chord.root, chord.quality, inverted), float(scores[best]))


def triad_match(chroma: np.ndarray) -> Chord | None:
    """The plain template matcher (the benchmark's baseline): binary major/minor triads."""
    if float(chroma.sum()) <= 0:
        return None
    present = (chroma > 0.1 * chroma.max()).astype(float)
    scores = _TEMPLATES[:24] @ present - 0.5 * (present.sum() - _TEMPLATES[:24] @ present)
    best = int(np.argmax(scores))
    return _CHORDS[best]
