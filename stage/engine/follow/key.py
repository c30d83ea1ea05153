"""Key tracking: a decaying pitch-class memory correlated with key profiles, with hysteresis.

Pure: :class:`KeyTracker` is fed chroma (pitch-class weights) per beat with its time in
seconds. A modulation is accepted when another key has led for ``confirm_s`` seconds, so a
borrowed chord does not change the key but a new section does.
"""

from __future__ import annotations

import math

import numpy as np

from stage.engine.harmony import Key

# Pitch-class profiles measured on POP909's training songs (001-700) by
# ``python -m stage.engine.follow.chord_fit --keys``: the played weights relative to the
# annotated tonic (pop's minor is Aeolian: a strong flat seventh, hardly a leading tone).
_MAJOR = np.array([0.998, 0.011, 0.637, 0.016, 0.669, 0.477, 0.022, 1.0, 0.036, 0.62,
                   0.037, 0.357])
_MINOR = np.array([1.0, 0.022, 0.412, 0.691, 0.035, 0.601, 0.019, 0.89, 0.394, 0.036,
                   0.655, 0.076])


def _profiles() -> tuple[np.ndarray, list[Key]]:
    rows, keys = [], []
    for mode, profile in (("maj", _MAJOR), ("min", _MINOR)):
        for tonic in range(12):
            row = np.roll(profile, tonic)
            rows.append((row - row.mean()) / row.std())
            keys.append(Key(tonic, mode))
    return np.array(rows), keys


_PROFILES, _KEYS = _profiles()


def key_scores(chroma: np.ndarray) -> np.ndarray:
    """Correlation of ``chroma`` with each key profile (12 major, then 12 minor)."""
    spread = chroma.std()
    if spread <= 0:
        return np.zeros(len(_KEYS))
    return np.asarray(_PROFILES @ ((chroma - chroma.mean()) / spread) / 12.0)


class KeyTracker:
    """``memory_s`` is the decay time of the pitch-class memory (seconds)."""

    def __init__(self, prior: Key | None = None, memory_s: float = 24.0,
                 confirm_s: float = 6.0, margin: float = 0.03) -> None:
        self.memory_s = memory_s
        self.confirm_s = confirm_s
        self.margin = margin
        self.key = prior
        self._memory = np.zeros(12)
        self._last_time: float | None = None
        self._challenger: Key | None = None
        self._challenger_since = 0.0
        if prior is not None:
            # A prior is a few seconds of imagined evidence: real playing soon outweighs it.
            self._memory = np.roll(_MAJOR if prior.mode == "maj" else _MINOR, prior.tonic) * 2.0

    def update(self, time: float, chroma: np.ndarray) -> Key | None:
        """Add ``chroma`` heard up to ``time`` (seconds); returns the key now decided."""
        if self._last_time is not None:
            self._memory *= math.exp(-(time - self._last_time) / self.memory_s)
        self._last_time = time
        self._memory += chroma
        scores = key_scores(self._memory)
        best = _KEYS[int(np.argmax(scores))]
        if self.key is None:
            if self._memory.sum() > 1.0:
                self.key = best
            return self.key
        current_score = scores[_KEYS.index(self.key)]
        if best == self.key or scores.max() - current_score < self.margin:
            self._challenger = None
        elif best != self._challenger:
            self._challenger, self._challenger_since = best, time
        elif time - self._challenger_since >= self.confirm_s:
            self.key, self._challenger = best, None
        return self.key
