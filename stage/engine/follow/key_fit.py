"""Fit the key tracker's model on POP909's training split (songs 001-700).

Each song is followed exactly as live (:class:`~stage.engine.follow.midi.MidiFollower`), and
what its key tracker is fed per beat is recorded: so the model learns from the evidence it
will see, beats and chords as decided causally. Samples are the evidence shares after every
beat, with the key annotated (key_audio.txt) at that moment. For a few songs the bass or the
chords are left out, so that a follower that cannot give them still gets a sound answer.

    python -m stage.engine.follow.key_fit [--data DIR] [--songs 1-700] [--out PATH]

writes ``key_weights.json`` beside this module (the key tracker loads it).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from stage.engine.follow.fit_data import add_data_argument
from stage.engine.follow.key import KeyTracker, key_index
from stage.engine.follow.key_model import WEIGHTS_PATH, KeyEvidence
from stage.engine.harmony import Chord, Key

log = logging.getLogger(__name__)

TAUS = (4.0, 16.0, 64.0)
"""Memory time scales (seconds): a phrase, a section, the song so far."""

_DROP_SHARE = 0.15
"""Share of songs heard without bass, and (independently) without chords."""

Beat = tuple[float, np.ndarray, int | None, Chord | None]


class _Recorder:
    """Stands in for the follower's key tracker and keeps what it was fed; the decisions
    come from the shipped model when there is one (they steer the chord recogniser)."""

    def __init__(self) -> None:
        self.fed: list[Beat] = []
        self.tracker = KeyTracker() if WEIGHTS_PATH.exists() else None

    def update(self, time: float, chroma: np.ndarray, bass: int | None = None,
               chord: Chord | None = None) -> Key | None:
        self.fed.append((time, chroma.copy(), bass, chord))
        return None if self.tracker is None else self.tracker.update(time, chroma, bass, chord)


def song_beats(folder: Path) -> list[Beat]:
    """What the follower's key tracker is fed over one POP909 song."""
    import mido

    from stage.engine.events import MidiMessage
    from stage.engine.follow.midi import MidiFollower
    from stage.engine.ports.midifile import load_performance
    from stage.engine.state import Meter
    from stage.engine.time import NS_PER_S, PPQ, TempoMap

    path = folder / f"{folder.name}.mid"
    first = next((m.tempo for m in mido.MidiFile(str(path)).tracks[0]
                  if m.type == "set_tempo"), 500_000)
    bpm = mido.tempo2bpm(first)
    follower = MidiFollower(Meter(4, 4), bpm)
    recorder = _Recorder()
    follower.keys = recorder  # type: ignore[assignment]
    tempo = TempoMap(bpm * Meter(4, 4).ticks_per_beat / PPQ)
    last = 0
    for message in load_performance(path):
        last = message.time_ns
        follower.hear(MidiMessage(message.time_ns, message.data), message.time_ns, tempo)
    follower.state(last + 2 * NS_PER_S, tempo)
    return recorder.fed


def annotated(folder: Path) -> list[tuple[float, float, int]]:
    spans = []
    for line in (folder / "key_audio.txt").read_text().splitlines():
        parts = line.split()
        if len(parts) >= 3:
            spans.append((float(parts[0]), float(parts[1]), key_index(Key.parse(parts[2]))))
    return spans


def samples(beats: list[Beat], spans: list[tuple[float, float, int]], taus: tuple[float, ...],
            drop_bass: bool, drop_chords: bool) -> tuple[np.ndarray, np.ndarray]:
    """Evidence shares after each beat (beats x groups x 12) and the annotated key index."""
    evidence = KeyEvidence(taus)
    rows, targets = [], []
    for time, chroma, bass, chord in beats:
        evidence.add(time, chroma, None if drop_bass else bass, None if drop_chords else chord)
        target = next((k for start, end, k in spans if start <= time < end), -1)
        if target >= 0 and evidence.heard:
            rows.append(evidence.shares())
            targets.append(target)
    return np.array(rows).reshape(len(rows), -1, 12), np.array(targets, dtype=int)


def fit(x: np.ndarray, y: np.ndarray, hidden: int = 32, epochs: int = 5,
        seed: int = 0) -> dict[str, list]:
    """Softmax over the 24 keys of the shared per-tonic network; Adam on minibatches."""
    import torch

    from stage.engine.follow.key_model import _TONIC_AT_ZERO

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    first = torch.nn.Linear(x.shape[1] * 12, hidden)
    second = torch.nn.Linear(hidden, 2)
    params = [*first.parameters(), *second.parameters()]
    optimiser = torch.optim.Adam(params, lr=3e-3, weight_decay=1e-4)
    x32 = x.astype(np.float32)
    for epoch in range(epochs):
        order, total = rng.permutation(len(y)), 0.0
        for start in range(0, len(y), 512):
            batch = order[start:start + 512]
            rotated = x32[batch][:, :, _TONIC_AT_ZERO].transpose(0, 2, 1, 3)
            inputs = torch.from_numpy(np.ascontiguousarray(rotated).reshape(len(batch), 12, -1))
            logits = second(torch.tanh(first(inputs))).permute(0, 2, 1).reshape(len(batch), 24)
            loss = torch.nn.functional.cross_entropy(logits, torch.from_numpy(y[batch]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total += loss.item() * len(batch)
        log.info("epoch %d: cross-entropy %.4f", epoch, total / len(y))
    return {"w1": first.weight.detach().numpy().round(5).tolist(),
            "b1": first.bias.detach().numpy().round(5).tolist(),
            "w2": second.weight.detach().numpy().round(5).tolist(),
            "b2": second.bias.detach().numpy().round(5).tolist()}


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description="fit the key model on POP909 001-700")
    add_data_argument(parser)
    parser.add_argument("--songs", default="1-700")
    parser.add_argument("--out", type=Path, default=WEIGHTS_PATH)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--drop", type=float, default=_DROP_SHARE,
                        help="share of songs heard without bass, and without chords")
    args = parser.parse_args()
    first, _, last = args.songs.partition("-")
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for number in range(int(first), int(last or first) + 1):
        folder = args.data / "pop909" / f"{number:03d}"
        if not folder.is_dir():
            continue
        drop_bass, drop_chords = rng.random(2) < args.drop
        x, y = samples(song_beats(folder), annotated(folder), TAUS, drop_bass, drop_chords)
        xs.append(x)
        ys.append(y)
    x, y = np.concatenate(xs), np.concatenate(ys)
    log.info("%d beats from %d songs", len(y), len(xs))
    weights: dict[str, object] = {"taus": list(TAUS), **fit(x, y, epochs=args.epochs)}
    weights["trained_on"] = f"POP909 {args.songs}, {len(y)} beats"
    args.out.write_text(json.dumps(weights) + "\n")
    log.info("wrote %s", args.out)


if __name__ == "__main__":
    main()
