"""Fit the chord recogniser's weights on POP909's training split (songs 001-700).

The model is a set of templates learned instead of written: for each quality, a weight per
pitch class above the root (on the played weights and on which pitch classes are present),
a weight for the bass note's interval above the root, and a bias. It is shared by all twelve
roots, so it is small (a few hundred numbers) and knows nothing of any song's key. Samples are
the first half of every annotated beat, measured exactly as the live follower measures them
(:func:`stage.engine.follow.notes.chroma_features`).

    python -m stage.engine.follow.chord_fit [--data DIR] [--songs 1-700] [--out PATH]

writes ``chord_weights.json`` beside this module (the follower loads it at import).
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import sys
from pathlib import Path

import numpy as np

from stage.engine.follow.chord import QUALITIES, WEIGHTS_PATH, features
from stage.engine.follow.fit_data import add_data_argument
from stage.engine.follow.notes import note_arrays, span_weights
from stage.engine.harmony import Chord

log = logging.getLogger(__name__)

_QUALITY_OF = {"maj6": "maj", "min6": "min", "dim7": "dim", "minmaj7": "min"}


def _label_at(intervals: list[tuple[float, float, str]], time: float) -> Chord | None:
    for start, end, label in intervals:
        if start <= time < end:
            try:
                chord = Chord.parse(label)
            except ValueError:
                return None
            if chord is None:
                return None
            quality = _QUALITY_OF.get(chord.quality, chord.quality)
            return Chord(chord.root, quality) if quality in QUALITIES else None
    return None


def song_samples(folder: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features (beats x roots x F), bass (beats), class index (beats) for one song."""
    from stage.engine.ports.midifile import load_performance

    messages = [(m.time_ns, m.data) for m in load_performance(folder / f"{folder.name}.mid")]
    starts, ends, pitches, velocities = note_arrays(messages)
    beats = np.loadtxt(folder / "beat_midi.txt")[:, 0]
    intervals = []
    for line in (folder / "chord_midi.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            intervals.append((float(parts[0]), float(parts[1]), parts[2]))
    rows, basses, targets = [], [], []
    for begin, after in itertools.pairwise(beats):
        chord = _label_at(intervals, begin + 0.25 * (after - begin))
        if chord is None:
            continue
        chroma, bass = span_weights(starts, ends, pitches, velocities, begin,
                                    begin + 0.5 * (after - begin))
        if chroma.sum() <= 0:
            continue
        rows.append(features(chroma))
        basses.append(-1 if bass is None else bass % 12)
        targets.append(QUALITIES.index(chord.quality) * 12 + chord.root)
    if not rows:
        return np.zeros((0, 12, 24)), np.zeros(0, int), np.zeros(0, int)
    return np.array(rows), np.array(basses), np.array(targets)


def fit(x: np.ndarray, bass: np.ndarray, y: np.ndarray, steps: int = 300) -> dict[str, list]:
    """Softmax regression with weights shared over roots; Adam, full batch."""
    n_q = len(QUALITIES)
    rng = np.random.default_rng(0)
    params = {"w": rng.normal(0, 0.01, (n_q, x.shape[2])), "v": np.zeros((n_q, 13)),
              "b": np.zeros(n_q)}
    moments = {k: (np.zeros_like(p), np.zeros_like(p)) for k, p in params.items()}
    rel_bass = np.where(bass[:, None] < 0, 12, (bass[:, None] - np.arange(12)[None, :]) % 12)
    onehot = np.eye(n_q * 12)[y]
    for step in range(1, steps + 1):
        logits = (np.einsum("srf,qf->sqr", x, params["w"])
                  + params["v"][:, rel_bass].transpose(1, 0, 2) + params["b"][None, :, None])
        flat = logits.reshape(len(y), -1)
        flat -= flat.max(axis=1, keepdims=True)
        prob = np.exp(flat)
        prob /= prob.sum(axis=1, keepdims=True)
        grad = ((prob - onehot) / len(y)).reshape(len(y), n_q, 12)
        grads = {"w": np.einsum("sqr,srf->qf", grad, x), "b": grad.sum(axis=(0, 2)),
                 "v": np.zeros((n_q, 13))}
        for b_rel in range(13):
            grads["v"][:, b_rel] = (grad * (rel_bass == b_rel)[:, None, :]).sum(axis=(0, 2))
        for key, g in grads.items():
            m, s = moments[key]
            m[:] = 0.9 * m + 0.1 * g
            s[:] = 0.999 * s + 0.001 * g * g
            params[key] -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(s / (1 - 0.999**step)) + 1e-8)
        if step % 50 == 0:
            accuracy = float((flat.argmax(axis=1) == y).mean())
            log.info("step %d: training accuracy %.3f", step, accuracy)
    return {k: np.round(p, 5).tolist() for k, p in params.items()}


def key_profiles(folders: list[Path]) -> dict[str, list[float]]:
    """Mean pitch-class weights relative to the annotated tonic, per mode (max = 1)."""
    from stage.engine.harmony import Key
    from stage.engine.ports.midifile import load_performance

    sums = {"maj": np.zeros(12), "min": np.zeros(12)}
    for folder in folders:
        messages = [(m.time_ns, m.data)
                    for m in load_performance(folder / f"{folder.name}.mid")]
        arrays = note_arrays(messages)
        for line in (folder / "key_audio.txt").read_text().splitlines():
            parts = line.split()
            try:
                key = Key.parse(parts[2])
            except (ValueError, IndexError):
                continue
            chroma, _ = span_weights(*arrays, float(parts[0]), float(parts[1]))
            if chroma.sum() > 0:
                sums[key.mode] += np.roll(chroma / chroma.sum(), -key.tonic)
    return {mode: np.round(total / total.max(), 3).tolist() for mode, total in sums.items()}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description="fit the chord recogniser on POP909 001-700")
    add_data_argument(parser)
    parser.add_argument("--songs", default="1-700")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps")
    parser.add_argument("--keys", action="store_true",
                        help="print the key profiles (for key.py) instead of fitting chords")
    args = parser.parse_args()
    first, _, last = args.songs.partition("-")
    if args.keys:
        folders = [args.data / "pop909" / f"{n:03d}" for n in range(int(first), int(last) + 1)]
        sys.stdout.write(json.dumps(key_profiles([f for f in folders if f.is_dir()])) + "\n")
        return
    xs, basses, ys = [], [], []
    for number in range(int(first), int(last or first) + 1):
        folder = args.data / "pop909" / f"{number:03d}"
        if folder.is_dir():
            x, bass, y = song_samples(folder)
            xs.append(x)
            basses.append(bass)
            ys.append(y)
    x, bass, y = np.concatenate(xs), np.concatenate(basses), np.concatenate(ys)
    log.info("%d beats from %d songs", len(y), len(xs))
    weights: dict[str, object] = dict(fit(x, bass, y, args.steps))
    weights["qualities"] = list(QUALITIES)
    weights["trained_on"] = f"POP909 {args.songs}, {len(y)} beats"
    args.out.write_text(json.dumps(weights) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
