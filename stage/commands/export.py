"""``stage export LOG -o DIR``: a show log as DIR/performance.mid and DIR/timeline.csv.

The MIDI file has the performer's track (the logged inputs) and one track per part (the
logged generated events: notes become note-on/note-off pairs), songs joined end to end on
their bars, tempo from the songs and the follower's decisions. The CSV is the crowd's
timeline: every poll opened, tally, result, console command and the steers they made.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

from stage.commands._common import UsageError, guarded
from stage.engine.events import NoteOff, NoteOn
from stage.engine.ports.recorder import MidiRecorder
from stage.engine.showlog import ShowLogData, ShowLogError, read_log
from stage.engine.state import Meter
from stage.engine.time import TempoMap

TIMELINE_COLUMNS = ("song", "title", "show_bar", "tick", "kind", "poll", "winner", "value",
                    "voters", "detail")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="a show log (show.jsonl)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")


def song_offsets(data: ShowLogData) -> dict[int, int]:
    """Where each logged song starts in the joined show (ticks): the last one's end, on a bar."""
    ends = {int(r["song"]): int(r["end_tick"]) for r in data.of("song_end")}
    offsets, at = {}, 0
    for record in data.of("song"):
        index = int(record["song"])
        offsets[index] = at
        bar = Meter.parse(record.get("meter", "4/4")).ticks_per_bar
        end = ends.get(index, _last_tick(data, index))
        at += -(-end // bar) * bar
    return offsets


def _last_tick(data: ShowLogData, song: int) -> int:
    ticks = [int(r["tick"]) + int(r.get("dur", 0)) for r in data.records
             if r.get("song") == song and "tick" in r]
    return max(ticks, default=0)


def multitrack(data: ShowLogData) -> tuple[MidiRecorder, TempoMap, Meter]:
    """Performer and part tracks, the tempo map and the first song's meter."""
    offsets = song_offsets(data)
    recorder = MidiRecorder()
    songs = data.of("song")
    tempo = TempoMap(float(songs[0]["bpm"]) if songs else 120.0)
    meter = Meter.parse(songs[0].get("meter", "4/4")) if songs else Meter()
    for record in data.records:
        kind = record.get("t")
        if "song" not in record or kind not in ("song", "state", "in", "note", "midi"):
            continue
        offset = offsets.get(int(record["song"]), 0)
        if kind in ("song", "state"):
            tick = offset + int(record.get("tick", 0))
            if tick >= tempo.segments[-1].start_tick:
                tempo.set_tempo(float(record["bpm"]), tick)
        elif kind == "in":
            recorder.record_input(offset + int(record["tick"]), bytes.fromhex(record["data"]))
        elif kind == "note":
            tick, part = offset + int(record["tick"]), record.get("part") or "band"
            channel, pitch = int(record["ch"]), int(record["pitch"])
            recorder.send(NoteOn(tick, pitch, int(record["vel"]), channel, part), tick)
            end = tick + int(record["dur"])
            recorder.send(NoteOff(end, pitch, 0, channel, part), end)
        else:
            recorder.tracks[record.get("part") or "band"].append(
                (offset + int(record["tick"]), bytes.fromhex(record["data"])))
    return recorder, tempo, meter


def timeline_rows(data: ShowLogData) -> list[dict[str, Any]]:
    titles = {int(r["song"]): r.get("title", "") for r in data.of("song")}
    rows = []
    for record in data.of("poll", "tally", "result", "console", "steer"):
        kind, song = record["t"], int(record.get("song", 0))
        row: dict[str, Any] = {"song": song, "title": titles.get(song, ""),
                               "show_bar": record.get("bar", ""), "tick": record.get("tick", ""),
                               "kind": kind, "poll": "", "winner": "", "value": "",
                               "voters": "", "detail": ""}
        if kind == "poll":
            spec = record["spec"]
            row.update(kind="poll_open", poll=spec.get("id", ""), detail=json.dumps(spec))
        elif kind == "result":
            result = record["result"]
            row.update(poll=result["poll"], winner=_blank(result.get("winner")),
                       value=result["value"], voters=result.get("voters", ""),
                       detail=json.dumps({"counts": result.get("counts", [])}))
        elif kind == "tally":
            tally = record["tally"]
            row.update(poll=tally.get("poll", ""), value=_blank(tally.get("value")),
                       voters=_blank(tally.get("voters")), detail=json.dumps(tally))
        elif kind == "console":
            row.update(poll=record["command"].get("poll", ""),
                       detail=json.dumps(record["command"]))
        else:
            row.update(poll=" ".join(record.get("polls", [])), detail=json.dumps(
                {"controls": record.get("controls"), "section": record.get("section")}))
        rows.append(row)
    return rows


def _blank(value: Any) -> Any:
    return "" if value is None else value


def export(log_path: Path, out: Path) -> dict[str, Any]:
    try:
        data = read_log(log_path)
    except ShowLogError as exc:
        raise UsageError(str(exc)) from None
    recorder, tempo, meter = multitrack(data)
    midi = recorder.write(out / "performance.mid", tempo, meter)
    rows = timeline_rows(data)
    csv_path = out / "timeline.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=TIMELINE_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return {"midi": str(midi), "tracks": sorted(recorder.tracks),
            "notes_per_part": recorder.notes_per_part(), "timeline": str(csv_path),
            "timeline_rows": len(rows), "complete": data.complete}


def _run(args: argparse.Namespace) -> int:
    print(json.dumps(export(args.log, args.out), sort_keys=True))
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded(_run, args)
