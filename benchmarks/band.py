"""Band benchmark: generation cost per bar per part, and musical checks on POP909 dev songs.

Each development song (701-800) is played by the band with its own chord annotations
(``chord_midi.txt``, one chord per beat) as the chart and its annotated key, while its sung
melody (the MIDI file's MELODY track) is fed to ``react`` for harmony voices. Figures:

- ``cost_per_bar_us``: wall time of each part's window calls summed per bar (p50/p99/max);
- ``react_us``: time of one ``react`` call on a melody note-on;
- ``strong_beat_chord_tones``: share of notes starting on beats 1 and 3 (beat 1 in 3/4)
  whose pitch class is in the annotated chord, per part;
- ``chord_match``: share of stretches of one annotated chord (two beats or more, within a
  bar) where the chord heard in the band's bass, keys and pad (template match on their
  pitch classes, root and major/minor) is the annotation's;
- ``harmony_in_key``: share of harmony voices in the annotated key.

The baseline, run on the same songs in the same run: naive root-position block chords on
every beat with the root in the bass.

    .venv/bin/python benchmarks/band.py --limit 10        # quick
    .venv/bin/python benchmarks/band.py                   # all 100 dev songs, every style
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import os
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import mido

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stage.accompany.band import Band  # noqa: E402
from stage.accompany.style import list_styles, load_style  # noqa: E402
from stage.engine.chart import ChartSection, ChordChart  # noqa: E402
from stage.engine.events import Event, MidiMessage, Note, NoteOn  # noqa: E402
from stage.engine.harmony import CHORD_INTERVALS, Chord, Key  # noqa: E402
from stage.engine.state import Meter, PerformanceState  # noqa: E402
from stage.engine.time import PPQ  # noqa: E402

WINDOW_TICKS = PPQ // 2
ONSET_SLACK = 40  # ticks after a beat within which a humanized onset counts as on it
MINOR_FAMILY = {"min", "min7", "dim", "dim7", "hdim7", "min6", "minmaj7"}
HARMONIC_PARTS = ("bass", "keys", "pad", "arp")


@dataclass
class Song:
    number: str
    bpm: float
    meter: Meter
    chart: ChordChart
    bars: int
    keys: list[tuple[int, Key]]  # (from tick, key)
    melody: list[tuple[int, bytes]]  # (tick, MIDI bytes)

    def key_at(self, tick: int) -> Key:
        current = self.keys[0][1]
        for start, key in self.keys:
            if start <= tick:
                current = key
        return current


def parse_chord(label: str) -> Chord | None:
    try:
        return Chord.parse(label)
    except ValueError:  # a quality outside the table: keep its triad
        root, _, rest = label.partition(":")
        quality = "min" if rest.startswith(("min", "dim", "hdim")) else "maj"
        return Chord.parse(f"{root}:{quality}")


def load_song(folder: Path) -> Song | None:
    beats = [tuple(float(x) for x in line.split()) for line in
             (folder / "beat_midi.txt").read_text().split("\n") if line.strip()]
    if len(beats) < 16:
        return None
    times = [b[0] for b in beats]
    beat_s = statistics.median(b - a for a, b in itertools.pairwise(times))
    downbeats = [i for i, b in enumerate(beats) if b[2] > 0.5]
    if len(downbeats) < 2:
        return None
    per_bar = round(statistics.median(b - a for a, b in itertools.pairwise(downbeats)))
    meter = Meter(per_bar if per_bar in (2, 3, 4, 6) else 4, 4)
    origin = times[downbeats[0]]
    spans = []
    for line in (folder / "chord_midi.txt").read_text().split("\n"):
        parts = line.split()
        if len(parts) == 3:
            spans.append((float(parts[0]), float(parts[1]), parse_chord(parts[2])))
    end_s = spans[-1][1]
    bars = max(1, int((end_s - origin) / (beat_s * meter.beats_per_bar)))

    def chord_at(seconds: float) -> Chord | None:
        for start, stop, chord in spans:
            if start <= seconds < stop:
                return chord
        return None

    chart_bars = []
    for bar in range(bars):
        slots = [chord_at(origin + (bar * meter.beats_per_bar + beat + 0.5) * beat_s)
                 for beat in range(meter.beats_per_bar)]
        chart_bars.append(tuple(slots))
    chart = ChordChart({"song": ChartSection("song", tuple(chart_bars))}, ("song",))
    bpm = 60.0 / beat_s

    def tick_of(seconds: float) -> int:
        return round((seconds - origin) / beat_s * PPQ)

    keys = []
    for line in (folder / "key_audio.txt").read_text().split("\n"):
        parts = line.split()
        if len(parts) == 3:
            keys.append((tick_of(float(parts[0])), Key.parse(parts[2])))
    melody = read_melody(folder / f"{folder.name}.mid", tick_of)
    return Song(folder.name, bpm, meter, chart, bars, keys or [(0, Key(0))], melody)


def read_melody(path: Path, tick_of) -> list[tuple[int, bytes]]:  # type: ignore[no-untyped-def]
    midi = mido.MidiFile(path)
    # POP909 is quantized to one tempo per song; it lives in the conductor track.
    tempo = next((m.tempo for t in midi.tracks for m in t if m.type == "set_tempo"), 500000)
    out: list[tuple[int, bytes]] = []
    for track in midi.tracks:
        if track.name != "MELODY":
            continue
        ticks = 0
        for message in track:
            ticks += message.time
            if message.type in ("note_on", "note_off"):
                tick = tick_of(mido.tick2second(ticks, midi.ticks_per_beat, tempo))
                if tick >= 0:
                    out.append((tick, bytes(message.bytes()[:3])))
    return out


class BlockChords:
    """The naive baseline: the chart chord's root-position triad on every beat, root below."""

    name = "baseline"

    def __init__(self, chart: ChordChart) -> None:
        self.bars = [bar for _, bar in chart.bars()]

    def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
        beat = state.meter.ticks_per_beat
        bar_ticks = state.meter.ticks_per_bar
        out: list[Event] = []
        for tick in range(-(-start // beat) * beat, end, beat):
            bar = self.bars[(tick // bar_ticks) % len(self.bars)]
            chord = bar[min((tick % bar_ticks) * len(bar) // bar_ticks, len(bar) - 1)]
            if chord is None:
                continue
            root = 48 + chord.root
            out.append(Note(tick, beat - 60, 36 + chord.root, 90, 1, "bass"))
            out.extend(Note(tick, beat - 60, root + i, 80, 2, "keys")
                       for i in CHORD_INTERVALS[chord.quality][:3])
        return out

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()


def play(generator, song: Song, timings: list[tuple[int, str, int, int]] | None,  # type: ignore[no-untyped-def]
         react_ns: list[int] | None) -> list[Event]:
    bar = song.meter.ticks_per_bar
    end = song.bars * bar
    events: list[Event] = []
    melody = song.melody
    next_note = 0
    for start in range(0, end, WINDOW_TICKS):
        stop = start + WINDOW_TICKS
        while next_note < len(melody) and melody[next_note][0] < stop:
            tick, data = melody[next_note]
            next_note += 1
            state = PerformanceState(tick=tick, bpm=song.bpm, meter=song.meter,
                                     bar_start_tick=(tick // bar) * bar, key=song.key_at(tick))
            began = time.perf_counter_ns()
            answer = generator.react(MidiMessage(tick, data), state)
            if react_ns is not None and data[0] & 0xF0 == 0x90 and data[2] > 0:
                react_ns.append(time.perf_counter_ns() - began)
            events.extend(answer)
        state = PerformanceState(tick=start, bpm=song.bpm, meter=song.meter,
                                 bar_start_tick=(start // bar) * bar, key=song.key_at(start))
        if isinstance(generator, Band):
            steer(generator, song, start)
        began, began_cpu = time.perf_counter_ns(), time.thread_time_ns()
        events.extend(generator.window(state, start, stop))
        if timings is not None:
            whole = "window" if isinstance(generator, Band) else "baseline"
            timings.append((start, whole, time.perf_counter_ns() - began,
                            time.thread_time_ns() - began_cpu))
    return events


FORM_BARS = 8
"""The benchmark's arrangement: intro, then main A, B, C, D changing every 8 bars (each
change with its automatic fill), and the ending in the last bars."""


def steer(band: Band, song: Song, tick: int) -> None:
    bar_ticks = song.meter.ticks_per_bar
    if tick % bar_ticks:
        return
    bar = tick // bar_ticks
    if bar == song.bars - 3:
        band.command_section("ending")
    elif bar > 2 and bar % FORM_BARS == 0 and bar < song.bars - 3:
        band.command_section(("main_a", "main_b", "main_c", "main_d")[(bar // FORM_BARS) % 4])


def strong_beat_counts(events: Sequence[Event], song: Song) -> dict[str, list[int]]:
    """part -> [chord tones, notes] for notes starting on the bar's strong beats."""
    meter = song.meter
    beat, bar = meter.ticks_per_beat, meter.ticks_per_bar
    strong = (0, meter.beats_per_bar // 2) if meter.beats_per_bar % 2 == 0 else (0,)
    counts: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for event in events:
        if not isinstance(event, Note) or event.part not in HARMONIC_PARTS:
            continue
        beat_tick = (event.tick // beat) * beat
        if event.tick - beat_tick >= ONSET_SLACK or (beat_tick % bar) // beat not in strong:
            continue
        chord = song.chart.chord_at(beat_tick // bar, beat_tick % bar, meter)
        if chord is None:
            continue
        counts[event.part][1] += 1
        counts[event.part][0] += event.pitch % 12 in chord.pitch_classes
    return counts


def heard_chord(weights: list[float]) -> tuple[int, str]:
    """The major or minor triad that best explains a bar's pitch-class weights."""
    best, best_score = (0, "maj"), float("-inf")
    for root in range(12):
        for quality, third in (("maj", 4), ("min", 3)):
            tones = {root, (root + third) % 12, (root + 7) % 12}
            score = sum(w for pc, w in enumerate(weights) if pc in tones) - 0.6 * sum(
                w for pc, w in enumerate(weights) if pc not in tones)
            score += 0.5 * weights[root]  # the root is the likeliest doubled tone
            if score > best_score:
                best, best_score = (root, quality), score
    return best


def chord_matches(events: Sequence[Event], song: Song) -> tuple[int, int]:
    """(segments whose heard chord matches, segments judged): a segment is a run of at
    least two beats of one annotated chord within a bar; judged on root and major/minor."""
    meter = song.meter
    beat, bar = meter.ticks_per_beat, meter.ticks_per_bar
    segments: list[tuple[int, int, Chord]] = []
    for index, chords in enumerate(b for _, b in song.chart.bars()):
        start = 0
        for slot in range(1, len(chords) + 1):
            if slot == len(chords) or chords[slot] != chords[start]:
                chord = chords[start]
                if chord is not None and slot - start >= 2 and \
                        not chord.quality.startswith("sus"):  # no third to judge
                    segments.append((index * bar + start * beat, index * bar + slot * beat,
                                     chord))
                start = slot
    by_bar: dict[int, list[Note]] = defaultdict(list)
    for event in events:
        if isinstance(event, Note) and event.part in ("bass", "keys", "pad"):
            by_bar[event.tick // bar].append(event)
    good = total = 0
    for seg_start, seg_end, chord in segments:
        weights = [0.0] * 12
        for index in (seg_start // bar - 1, seg_start // bar):
            for note in by_bar.get(index, ()):
                overlap = min(note.tick + note.duration, seg_end) - max(note.tick, seg_start)
                if overlap > 0:
                    weights[note.pitch % 12] += overlap * (2.0 if note.part == "bass" else 1.0)
        if not any(weights):
            continue
        family = "min" if chord.quality in MINOR_FAMILY else "maj"
        total += 1
        good += heard_chord(weights) == (chord.root, family)
    return good, total


def spread(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    ordered = sorted(values)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(pick(0.5), 2), "p99": round(pick(0.99), 2),
            "max": round(ordered[-1], 2), "n": len(ordered)}


def per_bar_us(timings: list[tuple[int, str, int, int]], bar: int, cpu: bool = False
               ) -> dict[str, list[float]]:
    sums: dict[tuple[str, int], int] = defaultdict(int)
    for start, part, wall_ns, cpu_ns in timings:
        sums[(part, start // bar)] += cpu_ns if cpu else wall_ns
    out: dict[str, list[float]] = defaultdict(list)
    for (part, _), ns in sums.items():
        out[part].append(ns / 1000.0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default=os.environ.get(
        "STAGE_DATA", str(ROOT.parent / "shared" / "data")))
    parser.add_argument("--limit", type=int, default=100, help="songs from 701 on")
    parser.add_argument("--styles", default=",".join(list_styles()))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--no-gc", action="store_true",
                        help="disable Python's cyclic garbage collector during the run (its "
                             "pauses over the events this script keeps make the max figures)")
    args = parser.parse_args()
    if args.no_gc:
        gc.disable()
    folders = [Path(args.data) / "pop909" / f"{n:03d}" for n in range(701, 801)]
    folders = [f for f in folders if f.is_dir()][: args.limit]
    if not folders:
        print(json.dumps({"error": f"no POP909 dev songs under {args.data}"}))
        return 1
    styles = [s for s in args.styles.split(",") if s]
    # A song is played only in the styles of its own meter (no waltz for a 4/4 song).
    meters = {s: load_style(s).meter.beats_per_bar for s in styles}
    songs_per_style: dict[str, int] = defaultdict(int)
    cost: dict[str, list[float]] = defaultdict(list)
    cpu: dict[str, list[float]] = defaultdict(list)  # thread CPU time: without preemption
    ratios: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    matches: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    react_ns: list[int] = []
    in_key = [0, 0]
    songs = bars = 0
    for folder in folders:
        song = load_song(folder)
        if song is None:
            continue
        songs += 1
        bars += song.bars
        fitting = [s for s in styles if meters[s] == song.meter.beats_per_bar]
        runs = [("baseline", BlockChords(song.chart))] + [
            (style, Band(style, seed=args.seed, chart=song.chart, key=song.keys[0][1],
                         harmony_source="chart", start_section="intro")) for style in fitting]
        for style in fitting:
            songs_per_style[style] += 1
        for label, generator in runs:
            timings: list[tuple[int, str, int, int]] = []
            if isinstance(generator, Band):
                generator.timings = timings
            events = play(generator, song, timings, react_ns if label != "baseline" else None)
            for part, samples in per_bar_us(timings, song.meter.ticks_per_bar).items():
                cost["baseline" if label == "baseline" else part].extend(samples)
            for part, samples in per_bar_us(timings, song.meter.ticks_per_bar, True).items():
                cpu["baseline" if label == "baseline" else part].extend(samples)
            for part, (good, total) in strong_beat_counts(events, song).items():
                ratios[label][part][0] += good
                ratios[label][part][1] += total
            good, total = chord_matches(events, song)
            matches[label][0] += good
            matches[label][1] += total
            for event in events:
                if isinstance(event, NoteOn) and event.part == "harmony":
                    in_key[1] += 1
                    in_key[0] += event.pitch % 12 in song.key_at(event.tick).scale
    band_ratio: dict[str, float] = {}
    for part in HARMONIC_PARTS:
        good = sum(ratios[s][part][0] for s in styles)
        total = sum(ratios[s][part][1] for s in styles)
        if total:
            band_ratio[part] = round(good / total, 4)
    pattern_p99_ms = max(spread(cost[p]).get("p99", 0.0) for p in
                         ("drums", "bass", "keys", "pad", "arp") if cost[p]) / 1000.0
    pattern_cpu_p99_ms = max(spread(cpu[p]).get("p99", 0.0) for p in
                             ("drums", "bass", "keys", "pad", "arp") if cpu[p]) / 1000.0
    result = {
        "songs": songs, "bars": bars, "gc": "off" if args.no_gc else "on", "styles": styles,
        "songs_per_style": dict(songs_per_style),
        "window_ticks": WINDOW_TICKS,
        "cost_per_bar_us": {part: spread(v) for part, v in sorted(cost.items())
                            if part != "baseline"},
        "cost_note": "per part: its window calls summed per bar; window: the whole "
                     "Band.window (planning, every part, sorting) per bar; cost is wall "
                     "time, cpu is this thread's CPU time (no time lost to other processes)",
        "baseline_cost_per_bar_us": spread(cost["baseline"]),
        "cpu_per_bar_us": {part: spread(v) for part, v in sorted(cpu.items())
                           if part != "baseline"},
        "baseline_cpu_per_bar_us": spread(cpu["baseline"]),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "react_us": spread([ns / 1000.0 for ns in react_ns]),
        "strong_beat_chord_tones": band_ratio,
        "baseline_strong_beat_chord_tones": {
            p: round(g / t, 4) for p, (g, t) in ratios["baseline"].items() if t},
        "strong_beat_chord_tones_per_style": {
            s: {p: round(g / t, 4) for p, (g, t) in ratios[s].items() if t}
            for s in styles if songs_per_style[s]},
        "chord_match": {
            "band": round(sum(matches[s][0] for s in styles) /
                          max(1, sum(matches[s][1] for s in styles)), 4),
            "baseline": round(matches["baseline"][0] / max(1, matches["baseline"][1]), 4),
            "per_style": {s: round(matches[s][0] / max(1, matches[s][1]), 4)
                          for s in styles if songs_per_style[s]},
            "segments_judged_baseline": matches["baseline"][1],
            "segments_judged_band": sum(matches[s][1] for s in styles),
        },
        "harmony_in_key": round(in_key[0] / max(1, in_key[1]), 4),
        "harmony_voices": in_key[1],
        "target_pattern_p99_ms_per_bar": 1.0,
        "pattern_p99_ms_per_bar": round(pattern_p99_ms, 4),
        "meets_target": pattern_p99_ms <= 1.0,
        "pattern_cpu_p99_ms_per_bar": round(pattern_cpu_p99_ms, 4),
        "meets_target_cpu": pattern_cpu_p99_ms <= 1.0,
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
