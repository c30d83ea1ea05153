"""Key tracking: per-beat evidence scored by a learned model, with hysteresis.

Pure: :class:`KeyTracker` is fed, per beat, the pitch-class weights heard since the last
beat, the beat's bass note and the chord decided on the beat before (all known by then), with
the time in seconds. :class:`~stage.engine.follow.key_model.KeyModel` turns memories of them
at several time scales into a probability per key. The key is named at the first beat with
notes (time before a decision is lost time), and changes when another key has led by
``margin`` (log probability) for ``confirm`` beats in a row and ``confirm_s`` seconds: a
borrowed chord or a tonicised bar does not change the key, a new section does.
"""

from __future__ import annotations

import numpy as np

from stage.engine.follow.key_model import KeyEvidence, KeyModel
from stage.engine.harmony import Chord, Key

# Pitch-class profiles measured on POP909's training songs (001-700) by
# ``python -m stage.engine.follow.chord_fit --keys``: the played weights relative to the
# annotated tonic (pop's minor is Aeolian: a strong flat seventh, hardly a leading tone).
# They seed the evidence with a setlist's key.
_MAJOR = np.array([0.998, 0.011, 0.637, 0.016, 0.669, 0.477, 0.022, 1.0, 0.036, 0.62,
                   0.037, 0.357])
_MINOR = np.array([1.0, 0.022, 0.412, 0.691, 0.035, 0.601, 0.019, 0.89, 0.394, 0.036,
                   0.655, 0.076])

KEYS: tuple[Key, ...] = tuple(Key(tonic, mode) for mode in ("maj", "min")
                              for tonic in range(12))
"""The 24 keys in the model's order: 12 major tonics, then 12 minor."""

_PRIOR_S = 4.0
"""Seconds of imagined evidence a setlist's key is worth: real playing soon outweighs it."""

_MODEL: KeyModel | None = None


def default_model() -> KeyModel:
    """The shipped model (``key_weights.json``), loaded once."""
    global _MODEL
    if _MODEL is None:
        _MODEL = KeyModel.load()
    return _MODEL


def key_index(key: Key) -> int:
    """The key's row in :data:`KEYS`."""
    return key.tonic % 12 + (12 if key.mode == "min" else 0)


class KeyTracker:
    """Names the key from per-beat evidence; ``prior`` is the setlist's key, if any."""

    def __init__(self, prior: Key | None = None, confirm: int = 2, margin: float = 0.5,
                 confirm_s: float = 0.0, model: KeyModel | None = None) -> None:
        self.model = model or default_model()
        self.confirm = confirm
        self.margin = margin
        self.confirm_s = confirm_s
        self.key = prior
        self.evidence = KeyEvidence(self.model.taus)
        self.log_posterior = np.full(24, -np.log(24.0))
        self._challenger: int | None = None
        self._challenger_beats = 0
        self._challenger_since = 0.0
        if prior is not None:
            profile = _MAJOR if prior.mode == "maj" else _MINOR
            self.evidence.seed(np.roll(profile, prior.tonic), prior.tonic,
                               Chord(prior.tonic, prior.mode), _PRIOR_S)

    def update(self, time: float, chroma: np.ndarray, bass: int | None = None,
               chord: Chord | None = None) -> Key | None:
        """Add a beat heard up to ``time`` (seconds): ``chroma`` since the last update, its
        lowest pitch ``bass``, the previous beat's ``chord``; returns the key now decided."""
        self.evidence.add(time, chroma, bass, chord)
        if not self.evidence.heard:
            return self.key
        self.log_posterior = self.model.log_posterior(self.evidence.shares())
        best = int(np.argmax(self.log_posterior))
        if self.key is None:
            self.key = KEYS[best]
            return self.key
        current = key_index(self.key)
        if best == current or self.log_posterior[best] - self.log_posterior[current] < self.margin:
            self._challenger = None
        elif best != self._challenger:
            self._challenger, self._challenger_beats, self._challenger_since = best, 0, time
        else:
            self._challenger_beats += 1
            if (self._challenger_beats >= self.confirm
                    and time - self._challenger_since >= self.confirm_s):
                self.key, self._challenger = KEYS[best], None
        return self.key
