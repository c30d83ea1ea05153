"""The show log of the demo (simulated crowd) and of a render: replay reproduces the show
byte for byte from the log alone; the log, not the simulator or the file, decides."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from stage.cli import main
from stage.commands.replay import replay
from stage.engine.showlog import read_log

ROOT = Path(__file__).resolve().parents[1]
PERFORMANCE = ROOT / "tests" / "fixtures" / "pop909" / "701" / "701.mid"
FAULTS_SHOW = ROOT / "tests" / "fixtures" / "faults_show.toml"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "-o", str(out), "--no-wav"]) == 0
    return out


def test_the_demo_log_holds_every_kind_of_record(demo: Path) -> None:
    data = read_log(demo / "show.jsonl")
    assert data.complete and not data.truncated
    assert data.header["setlist"]["sha256"] and data.header["crowd"]["kind"] == "simulated"
    kinds = {record["t"] for record in data.records}
    assert {"song", "in", "state", "bar", "note", "midi", "cue", "controls", "poll",
            "result", "steer", "song_end", "end"} <= kinds
    summary = json.loads((demo / "summary.json").read_text())
    # every generated note is in the log with its provenance, and every performer note
    notes = data.of("note")
    played = sum(n for part, n in summary["notes_per_part"].items()
                 if part not in ("performer", "harmony"))
    assert len(notes) >= played  # a note may be logged that the show's end cut short
    # pattern parts name their style and section; the neural keys part (when its weights
    # are shipped) its checkpoint
    assert all(n["src"].startswith(("style:", "model:")) and n["ctl"] is not None
               for n in notes)
    assert any(n["src"].startswith("style:") for n in notes)
    ins = [r for r in data.of("in") if bytes.fromhex(r["data"])[0] & 0xF0 == 0x90
           and bytes.fromhex(r["data"])[2] > 0]
    assert len(ins) == summary["notes_per_part"]["performer"]
    assert len(data.of("result")) == len(summary["audience"]["results"])
    assert data.of("end")[0]["dropped"] == 0


def test_replay_reproduces_the_demo_byte_for_byte(demo: Path, tmp_path: Path) -> None:
    report = replay(demo / "show.jsonl", tmp_path)
    assert report["exact"] and report["matched"] == report["generated_events"] > 10_000
    assert (tmp_path / "performance.mid").read_bytes() == (
        demo / "performance.mid").read_bytes()


def test_replay_steers_by_the_logged_results_not_a_new_crowd(demo: Path,
                                                             tmp_path: Path) -> None:
    # The crowd had chosen otherwise: the replay must follow the log and so differ.
    log = tmp_path / "show.jsonl"
    lines = (demo / "show.jsonl").read_text().splitlines()
    for index, line in enumerate(lines):
        record = json.loads(line)
        if record["t"] == "result" and record["result"]["poll"] == "chorus-energy":
            record["result"]["winner"] = 0  # "Keep it low" instead of "Full band"
            lines[index] = json.dumps(record)
    log.write_text("\n".join(lines) + "\n")
    report = replay(log, tmp_path / "out")
    assert not report["exact"] and report["first_miss"]["song"] == 0
    assert (tmp_path / "out" / "performance.mid").read_bytes() != (
        demo / "performance.mid").read_bytes()


def test_replay_refuses_a_changed_setlist_unless_forced(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    setlist = tmp_path / "show.toml"
    shutil.copy(FAULTS_SHOW, setlist)
    assert main(["demo", "--setlist", str(setlist), "-o", str(tmp_path / "show"),
                 "--no-wav"]) == 0
    log = tmp_path / "show" / "show.jsonl"
    assert main(["replay", str(log), "-o", str(tmp_path / "a")]) == 0
    capsys.readouterr()
    with setlist.open("a") as handle:
        handle.write("\n# edited after the show\n")
    assert main(["replay", str(log), "-o", str(tmp_path / "b")]) == 2
    assert "changed since the show" in capsys.readouterr().err
    assert main(["replay", str(log), "-o", str(tmp_path / "c"), "--force"]) == 0


def test_render_without_a_setlist_replays_from_its_inline_song(tmp_path: Path) -> None:
    assert main(["render", str(PERFORMANCE), "-o", str(tmp_path / "render"), "--no-wav",
                 "--style", "funk"]) == 0
    data = read_log(tmp_path / "render" / "show.jsonl")
    assert data.header["setlist"] is None and data.header["song"]["style"] == "funk"
    assert data.header["follow"] is True
    report = replay(tmp_path / "render" / "show.jsonl", tmp_path / "again")
    assert report["exact"]
    assert (tmp_path / "again" / "performance.mid").read_bytes() == (
        tmp_path / "render" / "performance.mid").read_bytes()
