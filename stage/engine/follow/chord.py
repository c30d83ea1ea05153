"""Chord recognition from held notes: templates scored against pitch-class weights and bass.

Pure functions over a 12-bin chroma (any non-negative weights) and the lowest sounding pitch.
A seventh chord must earn its seventh: tetrads pay a small penalty, so a plain triad wins
unless the seventh really sounds. The key, when known, favours diatonic chords a little, and
the chord already playing is kept unless a new one is clearly better (no flicker).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stage.engine.harmony import CHORD_INTERVALS, Chord, Key

log = logging.getLogger(__name__)

WEIGHTS_PATH = Path(__file__).with_name("chord_weights.json")
"""Learned templates (see chord_fit.py); without the file the written templates serve."""

QUALITIES = ("maj", "min", "7", "maj7", "min7", "dim", "hdim7", "aug", "sus2", "sus4")
"""The qualities the tracker names."""

# Extra cost by quality: rarer or richer chords need more evidence.
_QUALITY_COST = {"maj": 0.0, "min": 0.0, "7": 0.06, "maj7": 0.08, "min7": 0.06,
                 "dim": 0.12, "hdim7": 0.14, "aug": 0.2, "sus2": 0.21, "sus4": 0.2}
_ROOT_IN_BASS = 0.2
_BASS_IN_CHORD = 0.04
_MISSING_TONE = 0.35


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


def features(chroma: np.ndarray) -> np.ndarray:
    """Per root (12 x 24): the weights and the presence of each pitch class above that root."""
    total = float(chroma.sum())
    norm = chroma / total if total > 0 else chroma
    present = (chroma > 0.1 * chroma.max()).astype(float) if total > 0 else chroma
    return np.concatenate([norm[_ABOVE_ROOT], present[_ABOVE_ROOT]], axis=1)


_ABOVE_ROOT = (np.arange(12)[None, :] + np.arange(12)[:, None]) % 12
"""[root, interval] -> pitch class: one gather instead of 24 rolls per decision."""


@dataclass(frozen=True, slots=True)
class ChordModel:
    """Learned templates: ``w`` (qualities x 24 features), ``v`` (qualities x 13: the bass
    note's interval above the root, 12 = no bass) and ``b`` (qualities)."""

    w: np.ndarray
    v: np.ndarray
    b: np.ndarray

    @classmethod
    def load(cls, path: Path) -> ChordModel | None:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            log.info("no chord model at %s; using written templates", path)
            return None
        if tuple(data.get("qualities", ())) != QUALITIES:
            log.warning("chord model %s is for other qualities; using written templates", path)
            return None
        return cls(np.array(data["w"]), np.array(data["v"]), np.array(data["b"]))

    def scores(self, chroma: np.ndarray, bass_pc: int | None) -> np.ndarray:
        """Log-odds per (quality, root), flattened quality-major like the templates."""
        feats = features(chroma)
        logits = self.w @ feats.T + self.b[:, None]  # qualities x roots
        # The bass note's interval above each root (12: nothing sounding).
        rel_bass = (np.full(12, 12) if bass_pc is None
                    else (bass_pc - np.arange(12)) % 12)
        logits += self.v[:, rel_bass]
        return np.asarray(logits.reshape(-1))


MODEL = ChordModel.load(WEIGHTS_PATH)
MODEL_STICKINESS = 0.4
"""How much better (log-odds) a new chord must be to replace the one playing."""


def score_chords(chroma: np.ndarray, bass_pc: int | None, key: Key | None = None,
                 model: ChordModel | None = MODEL) -> np.ndarray:
    """A score per chord (QUALITIES x 12 roots, quality-major); higher is better."""
    written = _template_scores(chroma, bass_pc)
    if model is not None and float(chroma.sum()) > 0:
        # The learned weights know pop's habits; the written templates keep a clean chord
        # (every tone, nothing else) named as written, however rare its quality.
        score = model.scores(chroma, bass_pc) + _WRITTEN_WEIGHT * written
        if key is not None:
            score = score + 0.3 * _diatonic(key)
        return score
    if key is not None:
        written = written + 0.05 * _diatonic(key)
    return written


_WRITTEN_WEIGHT = 2.0


def clean_chord(chroma: np.ndarray, bass_pc: int | None) -> int | None:
    """The template index when ``chroma`` is exactly one chord's tones (every tone sounding,
    almost nothing else) over its root in the bass: such a chord is named as written,
    however rare its quality. Anything less clear is left to the scores."""
    total = float(chroma.sum())
    if total <= 0:
        return None
    present = chroma > 0.05 * total
    exact = np.flatnonzero((_TEMPLATES > 0).__eq__(present[None, :]).all(axis=1))
    rooted = [int(i) for i in exact if _ROOTS[i] == bass_pc]
    return rooted[0] if rooted else None


def _template_scores(chroma: np.ndarray, bass_pc: int | None) -> np.ndarray:
    total = float(chroma.sum())
    if total <= 0:
        return np.zeros(len(_CHORDS))
    norm = chroma / total
    inside = _TEMPLATES @ norm
    # Each chord tone should sound: a missing tone costs, most for the root and third.
    missing = ((_TEMPLATES * (norm[None, :] < 0.03)).sum(axis=1)) / _SIZES
    score = inside - _MISSING_TONE * missing - _COSTS
    if bass_pc is not None:
        score += _ROOT_IN_BASS * (bass_pc == _ROOTS) + _BASS_IN_CHORD * (_TEMPLATES[:, bass_pc] > 0)
    return np.asarray(score)


def _diatonic(key: Key) -> np.ndarray:
    scale = np.zeros(12)
    scale[list(key.scale)] = 1.0
    return np.asarray((_TEMPLATES @ scale) >= _SIZES - 0.5, dtype=float)


def recognise(chroma: np.ndarray, bass: int | None, key: Key | None = None,
              current: Chord | None = None, stickiness: float | None = None,
              model: ChordModel | None = MODEL) -> ChordGuess:
    """The chord sounding in ``chroma`` with lowest pitch ``bass`` (MIDI), or None for silence.

    ``current`` keeps its place unless another chord beats it by ``stickiness``.
    """
    if float(chroma.sum()) <= 0:
        return ChordGuess(None, 0.0)
    bass_pc = None if bass is None else bass % 12
    scores = score_chords(chroma, bass_pc, key, model)
    if stickiness is None:
        stickiness = MODEL_STICKINESS if model is not None else 0.06
    clean = clean_chord(chroma, bass_pc)
    best = int(np.argmax(scores)) if clean is None else clean
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
