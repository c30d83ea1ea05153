"""``stage analyze``: the JSON format, the priors, the tracks, and unreadable files."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import mir_eval
import numpy as np
import pytest
from conftest import ROOT, data_dir

from stage.cli import main

FIXTURE = ROOT / "tests" / "fixtures" / "pop909" / "701" / "701.mid"


def _load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "follow_midi_bench", ROOT / "benchmarks" / "follow_midi.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def analyze(capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    assert main(["analyze", *args]) == 0
    return json.loads(capsys.readouterr().out)


def test_the_json_has_every_decision_with_its_moment(capsys: pytest.CaptureFixture[str]) -> None:
    result = analyze(capsys, str(FIXTURE), "--json")
    assert {"beats", "chords", "key", "tempo"} <= result.keys()
    assert len(result["beats"]) > 100
    for beat in result["beats"]:
        assert set(beat) == {"time", "decided_at", "downbeat", "played"}
        assert beat["decided_at"] >= beat["time"] - 1e-6
    for chord in result["chords"]:
        assert chord["decided_at"] >= chord["start"]
        if chord["label"] != "N":
            mir_eval.chord.encode(chord["label"])  # raises on a malformed label
    assert result["key"][0]["label"].split(":")[1] in ("maj", "min")
    assert all(t["bpm"] > 0 for t in result["tempo"])
    downbeats = [i for i, b in enumerate(result["beats"]) if b["downbeat"]]
    bars = np.diff(downbeats)  # the bar's phase may move (a pickup), its length may not
    assert np.mean(bars == 4) > 0.9 and np.all((bars >= 1) & (bars < 8))


def test_meter_and_tempo_priors(capsys: pytest.CaptureFixture[str]) -> None:
    result = analyze(capsys, str(FIXTURE), "--json", "--meter", "3/4", "--tempo", "66")
    downbeats = [i for i, b in enumerate(result["beats"]) if b["downbeat"]]
    bars = np.diff(downbeats)
    assert np.mean(bars == 3) > 0.9 and np.all((bars >= 1) & (bars < 6))
    assert result["tempo"][0]["bpm"] == pytest.approx(66, rel=0.2)


def test_tracks_choose_the_performer(capsys: pytest.CaptureFixture[str]) -> None:
    melody = analyze(capsys, str(FIXTURE), "--json", "--tracks", "MELODY")
    everyone = analyze(capsys, str(FIXTURE), "--json")
    assert melody["beats"] != everyone["beats"]


@pytest.mark.parametrize("name", ["corrupt.mid", "missing.mid"])
def test_unreadable_file_is_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str], name: str) -> None:
    path = ROOT / "tests" / "fixtures" / name
    assert main(["analyze", str(path), "--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and name in err


def test_pop909_beats_and_chords_beat_the_baselines(capsys: pytest.CaptureFixture[str]) -> None:
    folder: Path = data_dir() / "pop909" / "704"
    if not folder.is_dir():
        pytest.skip(f"POP909 data not found at {folder} (set STAGE_DATA)")
    bench = _load_benchmark()
    beat_scores, chord_scores = bench.beat_scores, bench.chord_scores
    from stage.engine.follow.baseline import frame_chords, ioi_beats
    from stage.engine.follow.offline import analyze_messages
    from stage.engine.state import Meter

    messages, bpm = bench.pop909_song(folder)
    result = analyze_messages(messages, Meter(4, 4), bpm)
    ref = np.loadtxt(folder / "beat_midi.txt")[:, 0]
    ours = beat_scores(ref, [b["time"] for b in result["beats"]])["f"]
    base = beat_scores(ref, ioi_beats(messages, 60 / bpm))["f"]
    assert ours > 0.9 and ours > base
    chords = chord_scores(folder / "chord_midi.txt", [c["start"] for c in result["chords"]],
                          [c["label"] for c in result["chords"]])
    base_chords = chord_scores(folder / "chord_midi.txt", *frame_chords(messages))
    assert chords["majmin"] > 0.7 and chords["majmin"] > base_chords["majmin"]


def test_a_file_faster_than_120_bpm_is_heard_at_its_own_tempo(tmp_path: Path) -> None:
    import mido

    from stage.engine.ports.midifile import load_performance

    midi = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    track.append(mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(130), time=0))
    for _ in range(8):
        track.append(mido.Message("note_on", note=60, velocity=90, time=0))
        track.append(mido.Message("note_off", note=60, velocity=0, time=480))
    midi.tracks.append(track)
    path = tmp_path / "fast.mid"
    midi.save(path)
    onsets = [m.time_ns for m in load_performance(path) if m.data[0] & 0xF0 == 0x90]
    assert np.diff(onsets) / 1e9 == pytest.approx(60 / 130, rel=1e-5)
