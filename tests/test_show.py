"""The demo show and `stage render` end to end, offline."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import mido

from stage.cli import main

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "pop909" / "701" / "701.mid"


def test_demo_plays_every_song_and_part_with_no_stuck_notes(tmp_path: Path) -> None:
    assert main(["demo", "-o", str(tmp_path), "--no-wav"]) == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert len(summary["songs"]) == 6
    assert summary["stuck_notes"] == {} and summary["late_events"] == 0
    for part in ("performer", "drums", "bass", "keys", "pad", "arp"):
        assert summary["notes_per_part"][part] > 0, part
    # the demo's polls are answered by a seeded simulated crowd and steer the band
    crowd = summary["audience"]
    assert len(crowd["results"]) >= 3 and crowd["steers"]
    for steer in crowd["steers"]:
        assert all(0.0 <= v <= 1.0 for v in steer["controls"].values())
    starts = [song["start_s"] for song in summary["songs"]]
    assert starts == sorted(starts) and starts[0] == 0
    midi = mido.MidiFile(tmp_path / "performance.mid")
    names = [track.name for track in midi.tracks]
    assert names[:3] == ["stage", "performer", "drums"] and "bass" in names
    # every note-on has its note-off, per track
    for track in midi.tracks[1:]:
        sounding: dict[tuple[int, int], int] = {}
        for msg in track:
            if msg.type in ("note_on", "note_off"):
                key = (msg.channel, msg.note)
                delta = 1 if msg.type == "note_on" and msg.velocity else -1
                sounding[key] = sounding.get(key, 0) + delta
        assert not any(sounding.values()), track.name


def test_demo_is_byte_identical_twice(tmp_path: Path) -> None:
    for name in ("a", "b"):
        assert main(["demo", "-o", str(tmp_path / name), "--no-wav", "--seed", "7"]) == 0
    assert (tmp_path / "a" / "performance.mid").read_bytes() == (
        tmp_path / "b" / "performance.mid").read_bytes()


def test_render_with_a_setlist_plays_the_file_as_its_first_song(tmp_path: Path) -> None:
    code = main(["render", str(FIXTURE), "--setlist", str(ROOT / "setlists" / "demo.toml"),
                 "-o", str(tmp_path), "--no-wav"])
    assert code == 0
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["songs"][0]["notes_per_part"]["performer"] > 500


def test_render_without_setlist_follows_the_file_to_its_end(tmp_path: Path) -> None:
    assert main(["render", str(FIXTURE), "-o", str(tmp_path), "--no-wav"]) == 0
    midi = mido.MidiFile(tmp_path / "performance.mid")
    ends = {t.name: sum(m.time for m in t) for t in midi.tracks}
    # the band plays until the performer stops, not a few bars
    assert ends["drums"] > 0.8 * ends["performer"]


def test_bad_inputs_are_one_line_errors(tmp_path: Path) -> None:
    for args in (["render", str(ROOT / "tests" / "fixtures" / "corrupt.mid"), "-o", str(tmp_path)],
                 ["render", str(tmp_path / "missing.mid"), "-o", str(tmp_path)],
                 ["render", str(FIXTURE), "-o", str(tmp_path), "--meter", "5/7"]):
        proc = subprocess.run([sys.executable, "-m", "stage.cli", *args], capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 2, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("stage: "), proc.stderr


def test_demo_wav_is_heard_and_never_clips(tmp_path: Path) -> None:
    assert main(["demo", "-o", str(tmp_path)]) == 0
    wav = json.loads((tmp_path / "summary.json").read_text())["wav"]
    assert wav["clipped_samples"] == 0
    assert 0.1 < wav["peak"] <= 1.0
    assert wav["seconds"] > 600
