"""The log's writer and reader, export, credits, and where a resumed show starts."""

from __future__ import annotations

import csv
import json
import threading
import time
from pathlib import Path
from typing import Any

import mido
import pytest
from conftest import TIMEOUT_S

from stage.accompany.controls import ControlValues
from stage.commands.credits import credits
from stage.commands.export import export
from stage.engine.events import Cue, MidiMessage, Note, NoteOn
from stage.engine.setlist import load_setlist
from stage.engine.showlog import ShowLog, ShowLogError, read_log
from stage.engine.showlog.resume import trim_song
from stage.engine.showlog.writer import LogWriter
from stage.engine.state import PerformanceState

ROOT = Path(__file__).resolve().parents[1]


def test_a_live_writer_drops_and_counts_rather_than_wait(tmp_path: Path) -> None:
    release = threading.Event()

    def slow_encode(item: tuple[Any, ...]) -> dict[str, Any]:
        release.wait(TIMEOUT_S)  # a disk that has stalled
        return {"t": "x", "n": item[1]}

    writer = LogWriter(tmp_path / "live.jsonl", slow_encode, block=False, queue_size=8)
    for number in range(100):
        writer.put(("x", number))  # returns at once, whatever the disk does
    assert writer.dropped >= 100 - 8 - 1
    release.set()
    writer.close()
    lines = (tmp_path / "live.jsonl").read_text().splitlines()
    assert len(lines) == 100 - writer.dropped


def test_an_offline_writer_keeps_everything_and_records_are_on_disk_before_close(
        tmp_path: Path) -> None:
    writer = LogWriter(tmp_path / "offline.jsonl", lambda item: {"t": "x", "n": item[1]},
                       block=True, queue_size=4)
    for number in range(1000):
        writer.put(("x", number))
    deadline = time.monotonic() + TIMEOUT_S  # the writer flushes by itself, unasked
    while len((tmp_path / "offline.jsonl").read_text().splitlines()) < 1000:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    writer.close()
    numbers = [json.loads(line)["n"] for line in
               (tmp_path / "offline.jsonl").read_text().splitlines()]
    assert numbers == list(range(1000)) and writer.dropped == 0


def test_a_cut_last_line_is_dropped_and_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "show.jsonl"
    path.write_text('{"t":"header"}\n{"t":"bar","song":0,"bar":1}\n{"t":"no')
    data = read_log(path)
    assert data.truncated and len(data.records) == 1 and not data.complete
    path.write_text('{"t":"header"}\nnot json\n')
    with pytest.raises(ShowLogError, match=r"show.jsonl:2: not a JSON line"):
        read_log(path)
    path.write_text('{"t":"bar"}\n')
    with pytest.raises(ShowLogError, match="no header"):
        read_log(path)


class _Plan:
    def __init__(self, controls: Any) -> None:
        self.controls = controls


class _Band:
    """A band as the probe sees it: a style's name and a plan per bar."""

    class style:
        name = "funk"

    def plan_at(self, tick: int, meter: Any, anchor: int) -> _Plan:
        return _Plan(ControlValues(energy=0.9 if tick >= 3840 else 0.5))


def _model_show(path: Path) -> None:
    """A small show by hand: pattern and model notes, a harmony voice, a cue, a poll."""
    show_log = ShowLog(path, {"setlist": None, "song": None, "crowd": {"kind": "live"}},
                       block=True)
    song = show_log.song(0, "Hand Made", [_Band()], 120.0, "4/4")
    state = PerformanceState()
    song.decided(state, 0)
    song.heard(MidiMessage(0, bytes((0x90, 60, 100)), "kbd"), 0, 0)
    song.generated(Note(0, 480, 36, 100, 9, "drums", "style:funk/main_a"), 0)
    for tick in (0, 960, 1920):
        song.generated(Note(tick, 480, 64, 90, 0, "keys", "model:accompanist@abcdef123456"), 0)
    song.generated(NoteOn(0, 67, 90, 5, "harmony"), 0)
    song.generated(Cue(0, "/stage/poll/open", ("more", "choice")), 0)
    show_log.put({"t": "poll", "song": 0, "bar": 0, "spec": {
        "id": "more", "kind": "choice", "question": "More?", "options": ["no", "yes"]}})
    show_log.put({"t": "result", "song": 0, "bar": 4, "result": {
        "poll": "more", "kind": "choice", "winner": 1, "value": 0.75, "counts": [1, 3],
        "voters": 4}})
    show_log.put({"t": "steer", "song": 0, "tick": 3840, "controls": {"energy": 0.9},
                  "section": None, "polls": ["more"]})
    song.generated(Note(3840, 480, 38, 110, 9, "drums", "style:funk/main_b"), 0)
    song.ended(7680, None)
    show_log.close()


def test_credits_name_styles_models_with_their_cards_and_crowd_decisions(
        tmp_path: Path) -> None:
    _model_show(tmp_path / "show.jsonl")
    cards = tmp_path / "weights"
    cards.mkdir()
    (cards / "accompanist.json").write_text(json.dumps({
        "checkpoint_sha256": "abcdef123456" + "0" * 52, "data": "POP909 (MIT)",
        "licence": "MIT"}))
    report = credits(tmp_path / "show.jsonl", cards)
    assert report["notes_by_source"] == {"model:accompanist@abcdef123456": 3,
                                         "style:funk/main_a": 1, "style:funk/main_b": 1,
                                         "style:funk/harmony": 1}
    assert report["share_by_source"]["model:accompanist@abcdef123456"] == 0.5
    assert report["styles"] == {"funk": 3}
    model = report["models"][0]
    assert model["card_matches"] and model["data"] == "POP909 (MIT)"
    assert model["licence"] == "MIT" and model["notes"] == 3
    decision = report["crowd_decisions"][0]
    assert decision["chose"] == "yes" and decision["voters"] == 4
    assert decision["steers"] == [{"tick": 3840, "controls": {"energy": 0.9},
                                   "section": None}]


def test_export_writes_performer_and_part_tracks_and_the_crowd_timeline(
        tmp_path: Path) -> None:
    _model_show(tmp_path / "show.jsonl")
    report = export(tmp_path / "show.jsonl", tmp_path / "out")
    midi = mido.MidiFile(tmp_path / "out" / "performance.mid")
    names = [track.name for track in midi.tracks]
    assert names[:2] == ["stage", "performer"] and {"drums", "keys", "harmony"} <= set(names)
    keys = next(t for t in midi.tracks if t.name == "keys")
    assert sum(1 for m in keys if m.type == "note_on" and m.velocity) == 3
    assert sum(1 for m in keys if m.type == "note_off") == 3
    rows = list(csv.DictReader((tmp_path / "out" / "timeline.csv").open()))
    assert [r["kind"] for r in rows] == ["poll_open", "result", "steer"]
    assert rows[1]["winner"] == "1" and rows[1]["voters"] == "4"
    assert report["timeline_rows"] == 3


def test_a_resumed_song_starts_at_its_bar_with_the_chart_and_polls_moved() -> None:
    song = load_setlist(ROOT / "setlists" / "songs" / "late-night-funk.toml").songs[0]
    trimmed = trim_song(song, 6)  # intro 4 bars, then 2 bars into the held vamp
    assert [trimmed.sections[name].name for name in trimmed.form] == [
        "vamp", "bridge", "vamp", "break", "vamp", "ending"]
    assert trimmed.sections[trimmed.form[0]].bars == 2  # the vamp's last 2 of 4 bars
    polls = {p.id: p for p in trimmed.polls}
    assert polls["how-wild"].open_bar == 6  # was bar 12 of the song
    assert polls["after-bridge"].open_section == "bridge"
    if song.chart is not None and trimmed.chart is not None:
        assert [b for _, b in trimmed.chart.bars()] == [b for _, b in song.chart.bars()][6:]
    assert trim_song(song, 0) is song
