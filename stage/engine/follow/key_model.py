"""The key tracker's evidence and its learned scorer (pure numpy on the hot path).

Evidence is heard per beat: the pitch-class weights since the last beat, the beat's bass
pitch class and the chord decided on the beat before. Each goes into decaying memories at a
few time scales (``taus``, seconds): a short one that hears a modulation within bars, a long
one that knows the song so far. A memory is read as shares (pitch classes, bass notes,
chord roots by quality), so loudness and audio-versus-MIDI scale do not matter.

The scorer is a small two-layer network shared by all twelve tonics: it reads the shares
rotated so the candidate tonic is at 0 and gives a major and a minor score. So it knows no
absolute key, and what it learned about, say, the relative minor (the same notes, but the
bass and the chords settle on another root) holds in every key. Fitted on POP909 001-700 by
``python -m stage.engine.follow.key_fit`` (see key_model_card.md).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from stage.engine.harmony import Chord

WEIGHTS_PATH = Path(__file__).with_name("key_weights.json")

GROUPS = 6
"""Blocks of 12 per time scale: pitch classes, bass, chord roots of four quality classes."""

_CHORD_CLASS = {"maj": 0, "maj7": 0, "maj6": 0, "min": 1, "min7": 1, "min6": 1, "7": 2}
"""Chord qualities by their say in the key: major, minor, dominant seventh; else 3."""

_FIRST_SPAN_S = 0.5
"""Weight (seconds) of the very first beat's bass, before a beat length is known."""

_GROUP_TOTAL = np.array([0, 1, 2, 2, 2, 2])
"""Which group total each block is a share of (the four chord blocks are one group)."""

_TONIC_AT_ZERO = (np.arange(12)[:, None] + np.arange(12)[None, :]) % 12
"""[tonic, interval] -> pitch class: rotates a block so the candidate tonic is at 0."""


class KeyEvidence:
    """Decaying memories of what was heard, at each of ``taus`` (seconds)."""

    def __init__(self, taus: tuple[float, ...]) -> None:
        self.taus = np.asarray(taus, dtype=float)
        self.memory = np.zeros((len(taus), GROUPS * 12))
        self.last_time: float | None = None
        self._last_span = _FIRST_SPAN_S
        self._pending_span = _FIRST_SPAN_S

    @property
    def heard(self) -> bool:
        """Whether any note has been heard (the key can be named)."""
        return bool(self.memory[:, :12].sum() > 0)

    def add(self, time: float, chroma: np.ndarray, bass: int | None = None,
            chord: Chord | None = None) -> None:
        """Add one beat heard up to ``time`` (seconds): ``chroma`` since the last add, the
        beat's lowest pitch ``bass`` (MIDI number or pitch class), the previous beat's
        ``chord``. Bass and chord weigh as long as the beat they came from lasted."""
        span = _FIRST_SPAN_S
        if self.last_time is not None:
            self.memory *= np.exp(-max(time - self.last_time, 0.0) / self.taus)[:, None]
            span = max(time - self.last_time, 0.0)
        self.last_time = time
        self.memory[:, :12] += chroma
        if bass is not None:
            self.memory[:, 12 + bass % 12] += span
        if chord is not None:
            block = _CHORD_CLASS.get(chord.quality, 3)
            self.memory[:, 24 + 12 * block + chord.root] += self._last_span
        self._last_span = span

    def seed(self, chroma: np.ndarray, bass: int, chord: Chord, seconds: float) -> None:
        """Imagined evidence (a setlist's key): ``seconds`` of ``chroma``, bass and chord."""
        self.memory[:, :12] += chroma / max(chroma.sum(), 1e-9) * seconds
        self.memory[:, 12 + bass % 12] += seconds
        self.memory[:, 24 + 12 * _CHORD_CLASS.get(chord.quality, 3) + chord.root] += seconds

    def shares(self) -> np.ndarray:
        """(time scales x GROUPS, 12): each memory as shares of its group."""
        blocks = self.memory.reshape(len(self.taus), GROUPS, 12)
        totals = blocks.sum(axis=2)
        totals[:, 2] = totals[:, 2:].sum(axis=1)  # the chord blocks share one total
        return (blocks / (totals[:, _GROUP_TOTAL, None] + 1e-6)).reshape(-1, 12)


@dataclass(frozen=True)
class KeyModel:
    """``hidden = tanh(w1 @ x + b1)``, ``(major, minor) = w2 @ hidden + b2`` per tonic,
    where ``x`` is the evidence rotated to the tonic."""

    taus: tuple[float, ...]
    w1: np.ndarray
    b1: np.ndarray
    w2: np.ndarray
    b2: np.ndarray
    rotated_w1: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # Rotating the weights once instead of the evidence per beat: one matrix product
        # gives every tonic's hidden layer. [tonic, hidden, block, pc] = w1[hidden, block,
        # (pc - tonic) % 12].
        blocks = self.w1.reshape(len(self.w1), -1, 12)
        back = (np.arange(12)[None, :] - np.arange(12)[:, None]) % 12  # [tonic, pc]
        rotated = blocks[:, :, back].transpose(2, 0, 1, 3)
        object.__setattr__(self, "rotated_w1", rotated.reshape(12 * len(self.w1), -1))

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> KeyModel:
        data = json.loads(path.read_text())
        return cls(tuple(data["taus"]), np.array(data["w1"]), np.array(data["b1"]),
                   np.array(data["w2"]), np.array(data["b2"]))

    def log_posterior(self, shares: np.ndarray) -> np.ndarray:
        """Log probability of each key (12 major tonics, then 12 minor) from
        :meth:`KeyEvidence.shares`."""
        hidden = np.tanh((self.rotated_w1 @ shares.reshape(-1)).reshape(12, -1) + self.b1)
        scores = (hidden @ self.w2.T + self.b2).T.reshape(24)  # major row, then minor row
        top = float(scores.max())
        return scores - (top + math.log(float(np.exp(scores - top).sum())))
