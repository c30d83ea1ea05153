"""Model benchmark: the shipped accompanist and chord predictor on POP909's validation songs
(701-800), beside baselines measured in the same run. Prints one JSON object.

- ``keys``: the model keys part playing each song bar by bar (its own notes as its context,
  the sung melody as the performer, the annotated chords as the harmony, energy and density
  0.5, the pop-rock texture) against the pop-rock pattern keys part on the same chords and
  the real PIANO track: ``note_in_chord`` (share of notes whose pitch class is in the
  annotated chord at their onset, N.C. not counted) and ``onset_f`` (mir_eval onset
  F-measure, 50 ms, at 120 bpm, against the real PIANO's onsets; mean over songs).
- ``chords``: next-beat chord accuracy (root and quality) with the true chords so far: the
  model with and without the melody, the previous chord, the most frequent chord so far,
  and the follower's own progression memory; also on the beats where the chord changes.
- ``steering``: energy swept 0..1 (density following as the band's effective density) over
  fixed validation bars; Spearman between energy and the generated notes per bar and mean
  velocity, over the 11 levels' means (``levels``) and over every bar (``bars``); the same
  for the pattern part.
- ``inference_ms``: one bar (features + onnxruntime on one thread + decoding), p50/p99/max
  wall time and this thread's CPU time (wall minus what the loaded machine took away),
  beside the pattern part's bar and eager torch (one thread) on the same bars; one chord
  step.
- ``agreement``: largest |torch - onnxruntime| over the timed bars.

    .venv/bin/python benchmarks/model.py --songs 10     # quick
    .venv/bin/python benchmarks/model.py                # all validation songs
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from scipy.stats import spearmanr  # noqa: E402

from stage.accompany.controls import ControlValues  # noqa: E402
from stage.accompany.model import evaluate as ev  # noqa: E402
from stage.accompany.model.data import VALID_SONGS, SongGrid, load_split  # noqa: E402
from stage.accompany.model.runtime import (  # noqa: E402
    WEIGHTS_DIR,
    AccompanistRuntime,
    ChordRuntime,
    request_features,
)

LEVELS = [round(0.1 * i, 1) for i in range(11)]


def percentiles(values: list[float]) -> dict[str, float]:
    data = np.array(values)
    return {"p50": round(float(np.percentile(data, 50)), 4),
            "p99": round(float(np.percentile(data, 99)), 4),
            "max": round(float(data.max()), 4), "n": len(values)}


def keys_scores(runtime: AccompanistRuntime, songs: list[SongGrid]) -> dict[str, object]:
    sums = {name: [0, 0] for name in ("model", "pattern", "real_piano")}
    onset: dict[str, list[float]] = {"model": [], "pattern": []}
    notes_per_bar: dict[str, list[int]] = {"model": [], "pattern": [], "real_piano": []}
    for song in songs:
        played = {"model": ev.model_song(runtime, song, texture=ev.texture_of("pop-rock")),
                  "pattern": ev.pattern_song(song, "pop-rock")}
        played["real_piano"] = ev.real_song(song, range(len(song.bars)))
        for name, notes in played.items():
            hits, total = ev.note_in_chord(song, notes)
            sums[name][0] += hits
            sums[name][1] += total
            notes_per_bar[name].extend(len(v) for v in notes.values())
            if name in onset:
                onset[name].append(ev.onset_f(song, notes))
    return {
        "note_in_chord": {k: round(h / max(t, 1), 4) for k, (h, t) in sums.items()},
        "onset_f": {k: round(float(np.mean(v)), 4) for k, v in onset.items()},
        "notes_per_bar": {k: round(float(np.mean(v)), 2) for k, v in notes_per_bar.items()},
        "songs": len(songs), "bars": len(notes_per_bar["model"]),
    }


def steering(runtime: AccompanistRuntime, songs: list[SongGrid], bars: int
             ) -> dict[str, object]:
    rng = np.random.default_rng(5)
    picks = [(s, b) for s in songs for b in range(2, len(s.bars))]
    picks = [picks[i] for i in rng.choice(len(picks), min(bars, len(picks)), replace=False)]
    rows: dict[str, list[tuple[float, int, float]]] = {"model": [], "pattern": []}
    for energy in LEVELS:
        density = ControlValues(energy, 0.5).effective_density
        for song, bar in picks:
            start = int(song.bars[bar])
            own = [ev.PlayedNote(n.start, n.pitch, n.velocity) for n in song.keys
                   if start - 32 <= n.start < start]
            notes = runtime.generate(ev.bar_request(song, bar, own, energy, density, "block"))
            rows["model"].append(_row(energy, [n.velocity for n in notes]))
        for song, bar in picks[:40]:
            played = ev.pattern_song(song, "pop-rock", ControlValues(energy, 0.5), bar + 1)
            rows["pattern"].append(_row(energy, [n.velocity for n in played[bar]]))
    return {name: _spearman(r) for name, r in rows.items()} | {"bars": len(picks)}


def _row(energy: float, velocities: list[int]) -> tuple[float, int, float]:
    return energy, len(velocities), float(np.mean(velocities)) if velocities else 0.0


def _spearman(rows: list[tuple[float, int, float]]) -> dict[str, object]:
    data = np.array(rows)
    means = np.array([data[data[:, 0] == e].mean(axis=0) for e in LEVELS])
    out: dict[str, object] = {
        "notes_per_bar_by_level": [round(float(v), 2) for v in means[:, 1]],
        "velocity_by_level": [round(float(v), 1) for v in means[:, 2]]}
    for label, table in (("levels", means), ("bars", data)):
        density = spearmanr(table[:, 0], table[:, 1]).statistic
        velocity = spearmanr(table[:, 0], table[:, 2]).statistic
        out[label] = {"density": round(float(density), 4),
                      "velocity": round(float(velocity), 4)}
    return out


def timings(runtime: AccompanistRuntime, chords: ChordRuntime, songs: list[SongGrid],
            count: int, weights: Path) -> dict[str, object]:
    import torch

    from stage.accompany.model.nets import Accompanist, AccompanistConfig

    torch.set_num_threads(1)
    state = torch.load(weights / runtime.card["checkpoint"], weights_only=True)
    model = Accompanist(AccompanistConfig(**state["config"]))
    model.load_state_dict(state["model"])
    model.eval()
    requests = []
    for song in songs:
        for bar in range(2, len(song.bars)):
            start = int(song.bars[bar])
            own = [ev.PlayedNote(n.start, n.pitch, n.velocity) for n in song.keys
                   if start - 32 <= n.start < start]
            requests.append(ev.bar_request(song, bar, own, 0.5, 0.5, "block"))
    requests = requests[:count]
    onnx_ms, onnx_cpu_ms, torch_ms, pattern_ms, chord_ms = [], [], [], [], []
    worst = 0.0
    gc.collect()
    for request in requests:
        began, began_cpu = time.perf_counter_ns(), time.thread_time_ns()
        runtime.generate(request)
        onnx_ms.append((time.perf_counter_ns() - began) / 1e6)
        onnx_cpu_ms.append((time.thread_time_ns() - began_cpu) / 1e6)
        features = request_features(request)
        began = time.perf_counter_ns()
        with torch.no_grad():
            out = model(*(torch.from_numpy(f) for f in features))
        torch_ms.append((time.perf_counter_ns() - began) / 1e6)
        reference = runtime.session.run(None, dict(zip(
            ("context", "target", "conditioning"), features, strict=True)))
        worst = max(worst, max(float(np.abs(a.numpy() - b).max())
                               for a, b in zip(out, reference, strict=True)))
    for song in songs[:25]:
        ev.pattern_song(song, "pop-rock", timings=pattern_ms)
    for song in songs[:5]:
        hidden = chords.initial_state()
        for beat in range(min(200, song.steps // 4)):
            began = time.perf_counter_ns()
            _, hidden = chords.step(hidden, song.chord_objs[beat * 4], None, None, beat % 4)
            chord_ms.append((time.perf_counter_ns() - began) / 1e6)
    return {"model_bar_onnxruntime_1_thread": percentiles(onnx_ms),
            "model_bar_onnxruntime_1_thread_cpu": percentiles(onnx_cpu_ms),
            "model_bar_torch_eager_1_thread": percentiles(torch_ms),
            "pattern_bar": percentiles(pattern_ms),
            "chord_step_onnxruntime": percentiles(chord_ms),
            "agreement_max_abs_diff": worst}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, help="first N validation songs (default all)")
    parser.add_argument("--steer-bars", type=int, default=200)
    parser.add_argument("--timed-bars", type=int, default=2000)
    parser.add_argument("--weights", type=Path, help="weights folder (default: shipped)")
    args = parser.parse_args()
    numbers = list(VALID_SONGS)[:args.songs] if args.songs else list(VALID_SONGS)
    songs = load_split(numbers)
    runtime, chords = AccompanistRuntime(args.weights), ChordRuntime(args.weights)
    began = time.perf_counter()
    result = {
        "benchmark": "model", "split": f"POP909 {numbers[0]:03d}-{numbers[-1]:03d}",
        "accompanist": runtime.source, "chord_model": chords.source,
        "keys": keys_scores(runtime, songs),
        "chords": ev.chord_scores(chords, songs),
        "steering": steering(runtime, songs, args.steer_bars),
        "inference_ms": timings(runtime, chords, songs, args.timed_bars,
                                args.weights or WEIGHTS_DIR),
    }
    result["seconds"] = round(time.perf_counter() - began, 1)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
