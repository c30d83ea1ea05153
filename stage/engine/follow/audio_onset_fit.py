"""Learn what the beat model's activation at an audio onset tells of its place in the beat.

The audio follower hears onsets, and for each the beat model's activation (the highest from
just before the onset until its onset group closed or it was known, :func:`activation_at`).
How likely an onset is at each phase of the beat, given that activation, is counted here on
POP909 training songs the shipped beat model never trained on (the songs after
``TRAIN_LIMIT`` in ``stage train beats``' seeded draw), rendered as its training audio is
(:func:`audio_beat_data.render_audio`: rubato, pianos, rooms) and heard at 48 kHz as a live
input is: each onset's phase in its annotated beat is counted per activation bin in
``CELLS`` cells, blurred and floored as :mod:`metre_fit` does. The ratio to all onsets'
counts is the evidence the beat pointer applies to an audio onset (``BeatPointer.onset(...,
heard_beat=)``): a graded calibration of the model, where a threshold would throw away how
sure it was. The same onsets are counted per bin of their bass rise and of their attack too
(:class:`audio_features.AudioOnset`), for the pointer's ``bass_rise=`` and ``attack=``
evidence.

    python -m stage.engine.follow.audio_onset_fit [--data DIR] [--jobs N] [--out PATH]

writes ``audio_onset_template.json`` beside this module (the pointer loads it at import).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from multiprocessing import Pool
from pathlib import Path

import numpy as np

from stage.engine.follow.audio_beat_model import BeatActivations, BeatListener, BeatModel
from stage.engine.follow.fit_data import add_data_argument
from stage.engine.follow.metre_fit import CELLS, given_template
from stage.engine.follow.onsets import ONSET_MERGE_S

ACTIVATION_EDGES = (0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9)
"""Bins of an onset's beat activation."""
BASS_EDGES = (-0.5, 0.0, 0.5, 1.0, 2.0, 3.0)
"""Bins of an onset's bass rise (log power ratio)."""
ATTACK_EDGES = (70.0, 85.0, 100.0, 115.0, 130.0, 160.0)
"""Bins of an onset's attack (summed growth of the compressed 300-4000 Hz spectrum)."""
READINGS = {"activation": ACTIVATION_EDGES, "bass": BASS_EDGES, "attack": ATTACK_EDGES}
"""Each reading of an onset and its bins, in the order their rows are counted."""
_ENDS = np.cumsum([len(edges) + 1 for edges in READINGS.values()]).tolist()
ROWS = {name: slice(end - len(edges) - 1, end)
        for (name, edges), end in zip(READINGS.items(), _ENDS, strict=True)}
"""Each reading's rows in a song's counts."""
ACTIVATION_BEFORE_S = 0.015
"""An onset's activation is the highest from this long before it until it was known."""
TEMPLATE_PATH = Path(__file__).with_name("audio_onset_template.json")
LIVE_RATE = 48_000
"""The rate the follower hears at live and in the benchmark: the fit hears the same."""


def activation_at(times: np.ndarray, known: np.ndarray, activations: BeatActivations
                  ) -> np.ndarray:
    """Per onset (``times``, known at ``known``): the highest beat activation from
    ``ACTIVATION_BEFORE_S`` before it until its onset group closed (``ONSET_MERGE_S``
    after it) or it was known, whichever is later, as the follower reads it; 0 where no
    frame falls there."""
    low = np.searchsorted(activations.times, times - ACTIVATION_BEFORE_S)
    high = np.searchsorted(activations.times, np.maximum(known, times + ONSET_MERGE_S),
                           side="right")
    return np.array([float(activations.beat[a:b].max()) if b > a else 0.0
                     for a, b in zip(low, high, strict=True)])


def song_counts(samples: np.ndarray, rate: int, beats: np.ndarray,
                model: BeatModel) -> np.ndarray:
    """Onset phases per bin of each of :data:`READINGS` in turn, and cell (bins x CELLS), of
    one song's audio, heard in 256-sample blocks as :func:`audio_offline.follow_samples`
    hears a file."""
    from stage.engine.follow.audio_features import FrontEnd

    front, listener = FrontEnd(rate, pitch=False), BeatListener(rate, model)
    onsets, blocks = [], []
    for start in range(0, len(samples), 256):
        block = samples[start:start + 256]
        _, heard = front.push(block)
        onsets += [(o.time, o.known_at, o.bass_rise, o.attack) for o in heard]
        blocks.append(listener.push(block))
    counts = np.zeros((_ENDS[-1], CELLS))
    if not onsets:
        return counts
    activations = BeatActivations(*(np.concatenate([getattr(b, f) for b in blocks])
                                    for f in ("times", "beat", "downbeat")))
    times, known, rises, attacks = np.array(onsets).T
    values = (activation_at(times, known, activations), rises, attacks)
    index = np.searchsorted(beats, times + 1e-9) - 1
    inside = (index >= 0) & (index < len(beats) - 1)
    start, end = beats[index[inside]], beats[index[inside] + 1]
    cells = np.round((times[inside] - start) / (end - start) * CELLS).astype(int) % CELLS
    for (name, edges), value in zip(READINGS.items(), values, strict=True):
        bins = ROWS[name].start + np.searchsorted(edges, value[inside])
        np.add.at(counts, (bins, cells), 1)
    return counts


def _song(job: tuple[int, Path, Path | None, int]) -> np.ndarray:
    from scipy.signal import resample_poly

    from stage.engine.follow.audio_beat_data import RATE, render_audio

    number, pop909, weights, seed = job
    with tempfile.TemporaryDirectory() as scratch:
        rendered = render_audio(number, pop909, Path(scratch), seed)
    if rendered is None:
        return np.zeros((_ENDS[-1], CELLS))
    samples, rows = rendered
    live = resample_poly(samples, LIVE_RATE // RATE, 1)
    return song_counts(live, LIVE_RATE, rows[:, 0], BeatModel(weights))


def fit(pop909: Path, songs: list[int], weights: Path | None, seed: int,
        jobs: int) -> dict[str, object]:
    work = [(number, pop909, weights, seed) for number in songs]
    with Pool(jobs) as pool:
        counts = np.sum(pool.map(_song, work, chunksize=1), axis=0)
    model = BeatModel(weights)
    # One class (every audio onset): the ratio of each bin's phases to all onsets' phases,
    # for each reading of the onsets apart.
    result: dict[str, object] = {"cells": CELLS, "beat_model":
                                 model.card["checkpoint_sha256"][:12], "songs": songs}
    for name, edges in READINGS.items():
        part = counts[ROWS[name]]
        result[f"{name}_edges"] = list(edges)
        result["onsets" if name == "activation" else f"{name}_onsets"] = \
            part.sum(axis=1).astype(int).tolist()
        result[f"{name}_ratio"] = np.round(given_template(part[None])[0], 4).tolist()
    return result


def main() -> int:
    from stage.engine.follow.audio_beat_data import calibration_songs

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_data_argument(parser)
    parser.add_argument("--weights", type=Path, help="beat model folder (default: shipped)")
    parser.add_argument("--seed", type=int, default=909, help="the training draw's seed")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", type=Path, default=TEMPLATE_PATH)
    args = parser.parse_args()
    result = fit(args.data / "pop909", calibration_songs(args.seed), args.weights, args.seed,
                 args.jobs)
    args.out.write_text(json.dumps(result) + "\n")
    print(json.dumps({k: v for k, v in result.items() if not k.endswith("_ratio")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
