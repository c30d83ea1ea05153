"""Follow the performer from MIDI: accuracy, decision lag and per-note cost, against baselines.

Runs the follower offline (virtual clock, every decision causal) over
- POP909 dev songs 701-800 (performer = all tracks): beats, chords, key, decision lag;
- the same songs through tempo curves (drift, ritardando, fermata, sudden change), with the
  ground truth moved by the same curve: beats;
- ASAP dev (60 human piano performances with rubato): beats.
Baselines in the same run: an inter-onset-interval beat tracker and a plain triad template
matcher on half-second frames. Prints one JSON object.

Priors: POP909 songs get the file's first tempo and 4/4 (as a setlist would state them);
ASAP performances get their piece's meter and tempo as a setlist would state them (the meter
of the first annotated downbeat, the tempo from the median annotated beat interval).

    python benchmarks/follow_midi.py [--limit N] [--data DIR]
"""

from __future__ import annotations

import argparse
import csv
import gc
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import mir_eval
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stage.engine.follow.baseline import frame_chords, ioi_beats  # noqa: E402
from stage.engine.follow.curves import CURVES, warp_messages  # noqa: E402
from stage.engine.follow.offline import analysis  # noqa: E402
from stage.engine.ports.midifile import load_performance  # noqa: E402
from stage.engine.state import Meter  # noqa: E402
from stage.engine.time import NS_PER_S  # noqa: E402

Messages = list[tuple[int, bytes]]


def beat_scores(ref: np.ndarray, est: Sequence[float]) -> dict[str, float]:
    ref_t = mir_eval.beat.trim_beats(np.asarray(ref))
    est_t = mir_eval.beat.trim_beats(np.asarray(sorted(est)))
    _, _, cmlt, amlt = mir_eval.beat.continuity(ref_t, est_t)
    return {"f": mir_eval.beat.f_measure(ref_t, est_t), "cmlt": cmlt, "amlt": amlt}


def chord_scores(ref_path: Path, starts: list[float], labels: list[str]) -> dict[str, float]:
    ref_intervals, ref_labels = mir_eval.io.load_labeled_intervals(str(ref_path))
    end = float(ref_intervals[-1, 1])
    keep = [(s, lab) for s, lab in zip(starts, labels, strict=True) if s < end]
    if not keep:
        keep = [(0.0, "N")]
    est_starts = [s for s, _ in keep]
    est_intervals = np.array([[s, e] for s, e in zip(est_starts, [*est_starts[1:], end],
                                                       strict=True)])
    scores = mir_eval.chord.evaluate(ref_intervals, ref_labels, est_intervals,
                                     [lab for _, lab in keep])
    return {"majmin": scores["majmin"], "sevenths": scores["sevenths"]}


def _mirex(label: str) -> str:
    """'Gb:maj' -> 'Gb major' (mir_eval.key's spelling)."""
    tonic, _, mode = label.partition(":")
    return f"{tonic} {'minor' if mode.startswith('min') else 'major'}"


def key_score(ref_path: Path, est: list[tuple[float, str]]) -> float:
    """Duration-weighted MIREX key score; time before the first decision scores 0."""
    total, score = 0.0, 0.0
    for line in ref_path.read_text().split("\n"):
        if not line.strip():
            continue
        start_text, end_text, label = line.split()[:3]
        start, end = float(start_text), float(end_text)
        total += end - start
        bounds = [*[t for t, _ in est], float("inf")]
        for (t0, est_label), t1 in zip(est, bounds[1:], strict=True):
            overlap = min(end, t1) - max(start, t0)
            if overlap > 0:
                score += overlap * mir_eval.key.weighted_score(_mirex(label), _mirex(est_label))
    return score / total if total else 0.0


@dataclass
class Costs:
    """Update times (ns) per note-on, per note-off and per sustain pedal message, wall and
    in this thread's CPU time (the wall time also counts the moments the OS gave the core to
    another process on a shared machine). A note-off can cost too: its held length is
    evidence for the beat, as is a change of the pedal."""

    note_on: list[int] = field(default_factory=list)
    note_on_cpu: list[int] = field(default_factory=list)
    note_off: list[int] = field(default_factory=list)
    note_off_cpu: list[int] = field(default_factory=list)
    pedal: list[int] = field(default_factory=list)
    pedal_cpu: list[int] = field(default_factory=list)


def timed_follow(messages: Messages, meter: Meter, bpm: float,
                 costs: Costs | None = None) -> dict[str, Any]:
    """Follow ``messages``, timing every note-on's, note-off's and pedal message's update
    into ``costs``."""
    from stage.engine.events import CC_SUSTAIN, MidiMessage
    from stage.engine.follow.midi import MidiFollower
    from stage.engine.time import PPQ, TempoMap

    costs = costs if costs is not None else Costs()
    follower = MidiFollower(meter, bpm, log_decisions=True)
    tempo = TempoMap(bpm * meter.ticks_per_beat / PPQ)
    # As a live show does at its start (stage.engine.live): what exists now is kept out of
    # the collector, so a full collection over this process's growing heap of earlier
    # songs' results (21-32 ms seen) is not counted against one note.
    gc.collect()
    gc.freeze()
    for time_ns, data in messages:
        message = MidiMessage(time_ns, data)
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        follower.hear(message, time_ns, tempo)
        wall, cpu = time.perf_counter_ns() - start, time.thread_time_ns() - start_cpu
        if message.is_note_on:
            costs.note_on.append(wall)
            costs.note_on_cpu.append(cpu)
        elif message.is_note_off:
            costs.note_off.append(wall)
            costs.note_off_cpu.append(cpu)
        elif message.is_control_change and data[1] == CC_SUSTAIN:
            costs.pedal.append(wall)
            costs.pedal_cpu.append(cpu)
    end_ns = messages[-1][0] + 2 * NS_PER_S
    follower.state(end_ns, tempo)
    return analysis(follower, tempo, end_ns / NS_PER_S)


def decision_lags(result: dict[str, Any]) -> list[float]:
    """Chord decision lag in beats (decided_at - start over the beat period then)."""
    tempo = result["tempo"]
    times = np.array([t["time"] for t in tempo]) if tempo else np.array([0.0])
    bpms = np.array([t["bpm"] for t in tempo]) if tempo else np.array([120.0])
    lags = []
    for chord in result["chords"]:
        i = max(int(np.searchsorted(times, chord["decided_at"], side="right")) - 1, 0)
        lags.append((chord["decided_at"] - chord["start"]) * bpms[i] / 60.0)
    return lags


def pop909_song(folder: Path) -> tuple[Messages, float]:
    midi = mido.MidiFile(str(folder / f"{folder.name}.mid"))
    tempo = next((m.tempo for m in midi.tracks[0] if m.type == "set_tempo"), 500_000)
    messages = [(m.time_ns, m.data) for m in load_performance(folder / f"{folder.name}.mid")]
    return messages, mido.tempo2bpm(tempo)


def run_pop909(songs: list[Path], costs: Costs, base_costs: list[int]) -> dict[str, Any]:
    rows: dict[str, list[float]] = {}
    lags: list[float] = []

    def add(name: str, value: float) -> None:
        rows.setdefault(name, []).append(float(value))

    for folder in songs:
        messages, bpm = pop909_song(folder)
        beat_table = np.loadtxt(folder / "beat_midi.txt")
        ref_beats = beat_table[:, 0]
        result = timed_follow(messages, Meter(4, 4), bpm, costs)
        downbeats = [b["time"] for b in result["beats"] if b["downbeat"]]
        add("downbeat_f", mir_eval.beat.f_measure(
            mir_eval.beat.trim_beats(beat_table[beat_table[:, 2] > 0, 0]),
            mir_eval.beat.trim_beats(np.array(downbeats))))
        for name, value in beat_scores(ref_beats, [b["time"] for b in result["beats"]]).items():
            add(f"beat_{name}", value)
        add("grid_beat_f", beat_scores(ref_beats, [b["time"] for b in result["grid"]])["f"])
        chords = chord_scores(folder / "chord_midi.txt", [c["start"] for c in result["chords"]],
                              [c["label"] for c in result["chords"]])
        for name, value in chords.items():
            add(f"chord_{name}", value)
        lags.extend(decision_lags(result))
        anticipation = result["anticipation"]
        add("anticipation_accuracy", anticipation["accuracy"])
        add("anticipation_hold_baseline", anticipation["hold_accuracy"])
        add("anticipation_at_changes", anticipation["change_accuracy"])
        add("key_weighted", key_score(folder / "key_audio.txt",
                                      [(k["start"], k["label"]) for k in result["key"]]))
        base = ioi_beats(messages, 60.0 / bpm, base_costs)
        for name, value in beat_scores(ref_beats, base).items():
            add(f"baseline_beat_{name}", value)
        b_starts, b_labels = frame_chords(messages)
        for name, value in chord_scores(folder / "chord_midi.txt", b_starts, b_labels).items():
            add(f"baseline_chord_{name}", value)
    out: dict[str, Any] = {k: round(statistics.fmean(v), 4) for k, v in rows.items()}
    out["songs"] = len(songs)
    out["chord_lag_beats_median"] = round(statistics.median(lags), 3) if lags else None
    return out


def run_curves(songs: list[Path]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for curve_name, make_curve in CURVES.items():
        scores: dict[str, list[float]] = {}
        for folder in songs:
            messages, bpm = pop909_song(folder)
            duration = messages[-1][0] / NS_PER_S
            original = np.loadtxt(folder / "beat_midi.txt")[:, 0]
            curve = make_curve(duration, original)
            warped = warp_messages(messages, curve)
            ref = curve(original)
            result = timed_follow(warped, Meter(4, 4), bpm)
            for name, value in beat_scores(ref, [b["time"] for b in result["beats"]]).items():
                scores.setdefault(name, []).append(value)
            base = beat_scores(ref, ioi_beats(warped, 60.0 / bpm, []))
            for name, value in base.items():
                scores.setdefault(f"baseline_{name}", []).append(value)
        out[curve_name] = {k: round(statistics.fmean(v), 4) for k, v in scores.items()}
    for name in ("f", "cmlt", "baseline_f", "baseline_cmlt"):
        out[f"all_beat_{name}"] = round(statistics.fmean(
            out[c][name] for c in CURVES), 4)
    return out


def asap_items(data: Path, limit: int | None) -> list[tuple[Path, Path]]:
    with open(data / "metadata.csv") as handle:
        rows = list(csv.DictReader(handle))
    items = [(data / r["midi_performance"], data / r["performance_annotations"]) for r in rows]
    return items[:limit] if limit else items


def asap_priors(annotations: Path) -> tuple[np.ndarray, float, Meter]:
    times, meter = [], Meter(4, 4)
    for line in annotations.read_text().splitlines():
        parts = line.split("\t")
        if len(parts) < 3:
            continue
        times.append(float(parts[0]))
        fields = parts[2].split(",")
        if fields[0] == "db" and len(fields) > 1 and fields[1] and len(times) < 3:
            meter = Meter.parse(fields[1])
    beats = np.array(times)
    return beats, 60.0 / float(np.median(np.diff(beats))), meter


def run_asap(items: list[tuple[Path, Path]], costs: Costs) -> dict[str, Any]:
    scores: dict[str, list[float]] = {}
    for midi_path, annotation_path in items:
        ref, bpm, meter = asap_priors(annotation_path)
        messages = [(m.time_ns, m.data) for m in load_performance(midi_path)]
        result = timed_follow(messages, meter, bpm, costs)
        for name, value in beat_scores(ref, [b["time"] for b in result["beats"]]).items():
            scores.setdefault(f"beat_{name}", []).append(value)
        for name, value in beat_scores(ref, ioi_beats(messages, 60.0 / bpm, [])).items():
            scores.setdefault(f"baseline_beat_{name}", []).append(value)
    out: dict[str, Any] = {k: round(statistics.fmean(v), 4) for k, v in scores.items()}
    out["performances"] = len(items)
    return out


def cost_summary(costs: list[int]) -> dict[str, float]:
    if not costs:
        return {}
    values = np.array(costs) / 1000.0
    return {"p50_us": round(float(np.percentile(values, 50)), 2),
            "p99_us": round(float(np.percentile(values, 99)), 2),
            "max_us": round(float(values.max()), 2), "notes": len(costs)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("STAGE_DATA", ROOT.parent / "shared/data")))
    parser.add_argument("--limit", type=int, help="first N songs / performances of each set")
    args = parser.parse_args(argv)
    pop = args.data / "pop909"
    if not pop.is_dir():
        print(json.dumps({"error": f"no POP909 data at {pop}"}))
        return 2
    songs = [pop / f"{n:03d}" for n in range(701, 801) if (pop / f"{n:03d}").is_dir()]
    songs = songs[: args.limit] if args.limit else songs
    costs = Costs()
    base_costs: list[int] = []
    started = time.perf_counter()
    report: dict[str, Any] = {"pop909": run_pop909(songs, costs, base_costs)}
    report["tempo_curves"] = run_curves(songs)
    asap = args.data / "asap-dev"
    report["asap"] = (run_asap(asap_items(asap, args.limit), costs)
                      if asap.is_dir() else None)
    report["note_update_cost"] = cost_summary(costs.note_on)
    report["note_update_cpu_cost"] = cost_summary(costs.note_on_cpu)
    report["note_off_update_cost"] = cost_summary(costs.note_off)
    report["note_off_update_cpu_cost"] = cost_summary(costs.note_off_cpu)
    report["pedal_update_cost"] = cost_summary(costs.pedal)
    report["pedal_update_cpu_cost"] = cost_summary(costs.pedal_cpu)
    report["baseline_note_update_cost"] = cost_summary(base_costs)
    report["wall_s"] = round(time.perf_counter() - started, 1)
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
