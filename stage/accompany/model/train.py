"""Training the accompanist and the chord predictor on POP909 (songs 001-700; 701-800 for
validation), and shipping them: torch checkpoint, ONNX export, a JSON card of the run.

Run through ``stage train accompanist|chords``. Imports torch: never on the stage.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from stage.accompany.model.data import TRAIN_SONGS, VALID_SONGS, load_split
from stage.accompany.model.features import (
    ControlScale,
    SongArrays,
    bar_example,
    beat_sequence,
    memory_hints,
    song_arrays,
    stack,
)
from stage.accompany.model.loop import RunSettings, train
from stage.accompany.model.nets import (
    Accompanist,
    AccompanistConfig,
    ChordConfig,
    ChordPredictor,
)
from stage.accompany.model.vocab import CHORD_STEP_FEATURES, transpose_class

log = logging.getLogger(__name__)

WEIGHTS_DIR = Path(__file__).parent / "weights"
SHIFTS = (-5, 7)
"""Transpositions drawn for every example: -5 .. +6 semitones, so every key is seen."""


@dataclass(frozen=True)
class Songs:
    train: list[SongArrays]
    valid: list[SongArrays]


def load_songs(limit: int | None = None) -> Songs:
    train_numbers = list(TRAIN_SONGS)[:limit] if limit else TRAIN_SONGS
    valid_numbers = list(VALID_SONGS)[:max(4, limit // 8)] if limit else VALID_SONGS
    return Songs([song_arrays(s) for s in load_split(train_numbers)],
                 [song_arrays(s) for s in load_split(valid_numbers)])


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _trained_seconds(history: list[dict[str, float]], began: float) -> float:
    """Training time over every session of a resumed run (this session's, when unlogged)."""
    return float(history[-1]["seconds"]) if history else time.perf_counter() - began


# -- the accompanist -----------------------------------------------------------------------
def accompanist_losses(model: Accompanist, batch: dict[str, np.ndarray]
                       ) -> tuple[torch.Tensor, dict[str, float]]:
    t = {k: torch.from_numpy(v) for k, v in batch.items()}
    onset, held, velocity = model(t["context"], t["target"], t["conditioning"])
    onset_loss = F.binary_cross_entropy_with_logits(onset, t["onset"])
    held_loss = F.binary_cross_entropy_with_logits(held, t["held"])
    struck = (t["onset"].sum(-1) > 0).float()
    vel_loss = ((velocity - t["velocity"]) ** 2 * struck).sum() / struck.sum().clamp(min=1.0)
    loss = 4.0 * onset_loss + 2.0 * held_loss + vel_loss
    return loss, {"onset": float(onset_loss.detach()), "held": float(held_loss.detach()),
                  "velocity": float(vel_loss.detach())}


def _bars(songs: list[SongArrays]) -> list[tuple[int, int]]:
    return [(i, b) for i, s in enumerate(songs) for b in range(len(s.grid.bars))]


def train_accompanist(settings: RunSettings, config: AccompanistConfig, limit: int | None,
                      resume: bool) -> tuple[Accompanist, dict[str, Any]]:
    songs = load_songs(limit)
    scale = ControlScale.fit(songs.train)
    index = _bars(songs.train)
    fixed = np.random.default_rng(7)
    valid_index = _bars(songs.valid)
    valid_pick = [valid_index[i] for i in fixed.choice(len(valid_index),
                                                       min(512, len(valid_index)), False)]
    valid_batch = stack([bar_example(songs.valid[s], b, scale) for s, b in valid_pick])
    torch.manual_seed(settings.seed)
    model = Accompanist(config)

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        picks = rng.integers(0, len(index), settings.batch)
        shifts = rng.integers(*SHIFTS, settings.batch)
        batch = stack([bar_example(songs.train[index[p][0]], index[p][1], scale, int(k))
                       for p, k in zip(picks, shifts, strict=True)])
        return accompanist_losses(model, batch)

    def evaluate() -> dict[str, float]:
        loss, parts = accompanist_losses(model, valid_batch)
        return {"valid_loss": float(loss), **{f"valid_{k}": v for k, v in parts.items()}}

    began = time.perf_counter()
    history = train(settings, "accompanist", model, batch_loss, evaluate, resume,
                    {"config": config.as_dict()})
    threshold = calibrate_threshold(model, songs.train, scale)
    info = {"history": history, "seconds": _trained_seconds(history, began),
            "threshold": threshold, "scale": {"notes": scale.notes,
                                              "loudness": scale.loudness,
                                              "onsets": scale.onsets},
            "train_songs": len(songs.train), "valid_songs": len(songs.valid),
            "train_bars": len(index)}
    return model, info


def calibrate_threshold(model: Accompanist, songs: list[SongArrays], scale: ControlScale,
                        bars: int = 512) -> float:
    """The onset probability above which a note plays, chosen on training bars (never the
    validation songs) so that the decoded bars hold as many notes as the real pianist's."""
    from stage.accompany.model.runtime import decode_bar

    rng = np.random.default_rng(11)
    index = _bars(songs)
    picks = [index[i] for i in rng.choice(len(index), min(bars, len(index)), replace=False)]
    batch = stack([bar_example(songs[s], b, scale) for s, b in picks])
    with torch.no_grad():
        onset, held, velocity = model(torch.from_numpy(batch["context"]),
                                      torch.from_numpy(batch["target"]),
                                      torch.from_numpy(batch["conditioning"]))
    probs, sounding = torch.sigmoid(onset).numpy(), torch.sigmoid(held).numpy()
    wanted = float(batch["onset"].sum())
    low, high = 0.02, 0.98
    for _ in range(14):  # bisection: fewer notes as the threshold rises
        middle = (low + high) / 2
        count = sum(len(decode_bar(probs[i], sounding[i], velocity[i].numpy(), middle))
                    for i in range(len(picks)))
        low, high = (middle, high) if count > wanted else (low, middle)
    return (low + high) / 2


# -- the chord predictor -------------------------------------------------------------------
WINDOW_BEATS = 64
MELODY_DROPOUT = 0.15
"""Share of training windows without melody: the follower may give chords alone."""


Sequence = tuple[np.ndarray, np.ndarray, np.ndarray]
"""Per beat of a song: chord class, the progression memory's hint, features."""


def _sequences(songs: list[SongArrays]) -> list[Sequence]:
    out = []
    for song in songs:
        chords, features = beat_sequence(song.grid)
        out.append((chords, memory_hints(chords), features))
    return out


def _transposed(sequence: Sequence, shift: int) -> Sequence:
    chords, hints, features = sequence
    moved = features.copy()
    moved[..., :12] = np.roll(features[..., :12], shift, axis=-1)
    return transpose_class(chords, shift), transpose_class(hints, shift), moved


def chord_accuracy(model: ChordPredictor, sequences: list[Sequence]) -> tuple[float, float]:
    """(next-beat accuracy, loss) with the true chords so far (teacher forcing)."""
    right = total = 0
    losses = []
    for chords, hints, features in sequences:
        if len(chords) < 2:
            continue
        state = torch.zeros(1, 1, model.config.hidden)
        logits, _ = model(torch.from_numpy(chords[None, :-1]),
                          torch.from_numpy(hints[None, :-1]),
                          torch.from_numpy(features[None, :-1]), state)
        target = torch.from_numpy(chords[1:])
        losses.append(float(F.cross_entropy(logits[0], target, reduction="sum")))
        right += int((logits[0].argmax(-1) == target).sum())
        total += len(target)
    return right / max(total, 1), sum(losses) / max(total, 1)


def train_chords(settings: RunSettings, config: ChordConfig, limit: int | None, resume: bool
                 ) -> tuple[ChordPredictor, dict[str, Any]]:
    songs = load_songs(limit)
    train_seqs = [s for s in _sequences(songs.train) if len(s[0]) > WINDOW_BEATS + 1]
    valid_seqs = _sequences(songs.valid)
    weights = np.array([len(s[0]) for s in train_seqs], dtype=np.float64)
    weights /= weights.sum()
    torch.manual_seed(settings.seed)
    model = ChordPredictor(config)

    def batch_loss(rng: np.random.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        size = (settings.batch, WINDOW_BEATS + 1)
        chords, hints = np.zeros(size, dtype=np.int64), np.zeros(size, dtype=np.int64)
        feats = np.zeros((*size, CHORD_STEP_FEATURES), dtype=np.float32)
        for row, song in enumerate(rng.choice(len(train_seqs), settings.batch, p=weights)):
            start = int(rng.integers(0, len(train_seqs[song][0]) - WINDOW_BEATS - 1))
            window = tuple(a[start:start + WINDOW_BEATS + 1] for a in train_seqs[song])
            c, h, f = _transposed(window, int(rng.integers(*SHIFTS)))
            if rng.random() < MELODY_DROPOUT:
                f[:, :12] = 0.0
            chords[row], hints[row], feats[row] = c, h, f
        state = torch.zeros(1, settings.batch, config.hidden)
        logits, _ = model(torch.from_numpy(chords[:, :-1]), torch.from_numpy(hints[:, :-1]),
                          torch.from_numpy(feats[:, :-1]), state)
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                               torch.from_numpy(chords[:, 1:]).reshape(-1))
        return loss, {}

    def evaluate() -> dict[str, float]:
        accuracy, loss = chord_accuracy(model, valid_seqs)
        return {"valid_loss": loss, "valid_accuracy": accuracy}

    began = time.perf_counter()
    history = train(settings, "chords", model, batch_loss, evaluate, resume,
                    {"config": config.as_dict()})
    return model, {"history": history, "seconds": _trained_seconds(history, began),
                   "train_songs": len(songs.train), "valid_songs": len(songs.valid)}
