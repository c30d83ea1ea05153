"""Key tracking: a decaying pitch-class memory correlated with key profiles, with hysteresis.

Pure: :class:`KeyTracker` is fed chroma (pitch-class weights) per beat with its time in
seconds. A modulation is accepted when another key has led for ``confirm_s`` seconds, so a
borrowed chord does not change the key but a new section does.
"""

from __future__ import annotations

import math

import numpy as np

from stage.engine.harmony import Key

# Temperley's (Kostka-Payne) profiles: sharper than Krumhansl's for pop and classical.
_MAJOR = np.array([0.748, 0.060, 0.488, 0.082, 0.670, 0.460, 0.096, 0.715, 0.104, 0.366,
                   0.057, 0.400])
_MINOR = np.array([0.712, 0.084, 0.474, 0.618, 0.049, 0.460, 0.105, 0.747, 0.404, 0.067,
                   0.133, 0.330])


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

    def __init__(self, prior: Key | None = None, memory_s: float = 100.0,
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
