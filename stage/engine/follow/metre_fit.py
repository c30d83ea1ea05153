"""Learn where in the beat each kind of onset falls, from POP909's training split (001-700).

For every onset group (:mod:`stage.engine.follow.onsets`) of every training song, the phase
within its annotated beat (``beat_midi.txt``) is counted in ``CELLS`` cells; the counts,
blurred by human timing (a few cells) and floored, become a likelihood ratio per class and
cell: how much more likely an onset of that class is at that point of the beat than anywhere.
Songs are split by feel first: a song whose onsets fall more on the beat's thirds than on its
halves and quarters is a triplet (shuffle, 12/8) song, and gets the triplet template; the
others the straight one. The beat pointer (:mod:`stage.engine.follow.pointer`) believes in
both feels at once and multiplies its belief by the matching template.

    python -m stage.engine.follow.metre_fit [--data DIR] [--out PATH]

writes ``metre_template.json`` beside this module (the pointer loads it at import).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

from stage.engine.follow.onsets import CLASSES, OnsetGrouper
from stage.engine.ports.midifile import load_performance

CELLS = 48
TEMPLATE_PATH = Path(__file__).with_name("metre_template.json")
_BLUR_CELLS = 1.5
_FLOOR = 0.15


def song_phases(midi: Path, beats: np.ndarray) -> list[tuple[int, float]]:
    """(class, phase in beats 0-1) of every onset group between the first and last beat."""
    grouper = OnsetGrouper()
    groups = []
    for message in load_performance(midi):
        data = message.data
        if len(data) == 3 and data[0] & 0xF0 == 0x90 and data[2] > 0:
            closed, _ = grouper.note_on(message.time_ns / 1e9, data[2], data[1])
            if closed is not None:
                groups.append(closed)
    last = grouper.close()
    if last is not None:
        groups.append(last)
    out = []
    for group in groups:
        i = int(np.searchsorted(beats, group.time + 1e-9)) - 1
        if 0 <= i < len(beats) - 1:
            out.append((group.kind, (group.time - beats[i]) / (beats[i + 1] - beats[i])))
    return out


def template(counts: np.ndarray) -> np.ndarray:
    """Likelihood ratios per class and cell from raw phase counts (classes x CELLS)."""
    offsets = np.arange(-6, 7)
    kernel = np.exp(-0.5 * (offsets / _BLUR_CELLS) ** 2)
    kernel /= kernel.sum()
    blurred = np.stack([
        sum(w * np.roll(row, int(o)) for o, w in zip(offsets, kernel, strict=True))
        for row in counts])
    ratio = blurred / blurred.sum(axis=1, keepdims=True) * counts.shape[1]
    return (1.0 - _FLOOR) * ratio + _FLOOR


def is_triplet(counts: np.ndarray) -> bool:
    """More onsets on the beat's thirds than on its halves and quarters."""
    total = counts.sum(axis=0)
    thirds = total[[CELLS // 3, 2 * CELLS // 3]].sum()
    straight = total[[CELLS // 4, CELLS // 2, 3 * CELLS // 4]].sum()
    return bool(thirds > straight)


def fit(data: Path, songs: range) -> dict[str, object]:
    counts = np.zeros((2, len(CLASSES), CELLS))  # straight, triplet
    used = [0, 0]
    for number in songs:
        folder = data / f"{number:03d}"
        if not folder.is_dir():
            continue
        beats = np.loadtxt(folder / "beat_midi.txt")[:, 0]
        song = np.zeros((len(CLASSES), CELLS))
        for kind, phase in song_phases(folder / f"{number:03d}.mid", beats):
            song[kind, round(phase * CELLS) % CELLS] += 1
        feel = int(is_triplet(song))
        counts[feel] += song
        used[feel] += 1
    return {"cells": CELLS, "classes": list(CLASSES), "feels": ["straight", "triplet"],
            "songs": used, "onsets": counts.sum(axis=2).astype(int).tolist(),
            "ratio": [np.round(template(c), 4).tolist() for c in counts]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default = Path(os.environ.get("STAGE_DATA", Path(__file__).parents[4] / "shared/data"))
    parser.add_argument("--data", type=Path, default=default)
    parser.add_argument("--out", type=Path, default=TEMPLATE_PATH)
    args = parser.parse_args()
    result = fit(args.data / "pop909", range(1, 701))
    args.out.write_text(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if k != "ratio"}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
