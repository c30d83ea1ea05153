"""``stage replay LOG -o OUT_DIR``: play a logged show again on the virtual clock.

The band is rebuilt from the log's header (setlist, checked by its content hash; seeds;
flags); the performer is the log's own input events at their logged times; the crowd is the
log's poll results, tallies and console commands at the show bars they arrived on. Writes
OUT_DIR/performance.mid and OUT_DIR/show.jsonl, then compares every generated event with the
original log and prints one JSON report.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stage.commands._common import UsageError, guarded
from stage.engine.harmony import Key
from stage.engine.ports.midifile import MidiFilePerformer, TimedMessage
from stage.engine.setlist import SetlistError, Show, Song, load_setlist
from stage.engine.show import SongPlugins, play_show_offline
from stage.engine.showlog import ReplayLink, ShowLogData, ShowLogError, read_log
from stage.engine.showlog.log import file_hash
from stage.engine.showlog.resume import trim_song
from stage.engine.showlog.session import open_log
from stage.engine.state import Meter

log = logging.getLogger(__name__)

GENERATED = ("note", "midi", "cue")
COMPARED = ("t", "tick", "dur", "pitch", "vel", "ch", "part", "src", "data", "address",
            "args")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="a show log (show.jsonl)")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="replay even if the setlist changed since the show")


class HeldPerformer(MidiFilePerformer):
    """The logged performer of a song that ended before its performer did: it never
    reports finished, so the song ends where it ended then."""

    @property
    def finished(self) -> bool:
        return False


class LoggedLiveInput(MidiFilePerformer):
    """A live port's logged messages: an input that never plays out (like the port)."""

    ends = False


def rebuild_show(data: ShowLogData, force: bool = False) -> Show:
    """The show the log was made from: its setlist (same content), or its inline song."""
    header = data.header
    setlist = header.get("setlist")
    if setlist:
        path = Path(setlist["path"])
        digest = file_hash(path)
        if digest is None:
            raise UsageError(f"{data.path}: the show's setlist {path} is gone")
        if digest != setlist.get("sha256") and not force:
            raise UsageError(f"{path} changed since the show (sha256 differs); "
                             "--force replays it anyway")
        try:
            return load_setlist(path)
        except SetlistError as exc:
            raise UsageError(str(exc).splitlines()[0]) from None
    spec = header.get("song")
    if not spec:
        raise UsageError(f"{data.path}: the header names neither a setlist nor a song")
    performer = (header.get("performer") or {}).get("path")
    song = Song(title=spec["title"], tempo=float(spec["tempo"]),
                meter=Meter.parse(spec["meter"]),
                key=Key.parse(spec["key"]) if spec.get("key") else None, style=spec["style"],
                form=(), sections={}, chart=None, source=Path(performer) if performer else None)
    return Show(title=spec["title"], songs=(song,))


def _inputs(records: Iterable[dict[str, Any]]) -> tuple[list[TimedMessage], str]:
    messages = [TimedMessage(int(r["ns"]), bytes.fromhex(r["data"]), r.get("port", ""))
                for r in records]
    return messages, (messages[0].track if messages else "performer")


def replay_songs(data: ShowLogData, show: Show, crowd: ReplayLink | None
                 ) -> list[SongPlugins]:
    """Each logged song's plug-ins, its performer the logged inputs."""
    from stage.audience.bridge import ShowBars
    from stage.commands._songs import song_plugins

    header = data.header
    live = bool(header.get("live"))
    seed = int((header.get("seeds") or {}).get("seed", 0))
    inputs_by_song: dict[int, list[dict[str, Any]]] = {}
    for record in data.of("in"):
        inputs_by_song.setdefault(int(record["song"]), []).append(record)
    ends = {int(r["song"]): r for r in data.of("song_end")}
    bars = ShowBars()
    songs = []
    for record in data.of("song"):
        index, start_bar = int(record["song"]), int(record.get("start_bar", 0))
        if index >= len(show.songs):
            raise UsageError(f"{data.path}: song {index} is not in the setlist")
        song = trim_song(show.songs[index], start_bar)
        messages, port = _inputs(inputs_by_song.get(index, []))
        end = ends.get(index, {})
        performer: MidiFilePerformer | None = None
        if live and messages:
            performer = LoggedLiveInput(messages, port)
        elif not live and (messages or (index == 0 and header.get("performer"))):
            kind = HeldPerformer if end.get("inputs_finished") is False else MidiFilePerformer
            performer = kind(messages, port)
        plugins = song_plugins(song, performer, seed=seed + index, follow=bool(
            header.get("follow")), live=live, crowd=crowd, bars=bars,
            cues=bool(header.get("cues")))
        if end.get("stopped"):  # stopped mid-song (a signal): stop where it stopped
            plugins.stop_tick = int(end["end_tick"])
        songs.append(plugins)
    return songs


def _make_result(record: dict[str, Any]) -> Any:
    from stage.audience.polls import PollResult

    return PollResult(str(record["poll"]), str(record["kind"]), record.get("winner"),
                      float(record["value"]), tuple(int(c) for c in record.get("counts", ())),
                      int(record.get("voters", 0)))


def generated(data: ShowLogData) -> list[list[tuple[Any, ...]]]:
    """The generated events of each song, in log order, as comparable tuples."""
    per_song: dict[int, list[tuple[Any, ...]]] = {}
    order: list[int] = []
    for record in data.records:
        if record.get("t") == "song":
            order.append(int(record["song"]))
        elif record.get("t") in GENERATED:
            key = tuple(json.dumps(record.get(k)) for k in COMPARED)
            per_song.setdefault(int(record["song"]), []).append(key)
    return [per_song.get(index, []) for index in order]


def compare(original: ShowLogData, replayed: ShowLogData) -> dict[str, Any]:
    """How many generated events the replay reproduced, song by song, and the first miss."""
    before, after = generated(original), generated(replayed)
    total = sum(len(song) for song in before)
    matched, first_miss = 0, None
    for number, (old, new) in enumerate(zip(before, after, strict=False)):
        for position, (a, b) in enumerate(zip(old, new, strict=False)):
            if a == b:
                matched += 1
            elif first_miss is None:
                first_miss = {"song": number, "event": position, "original": a, "replay": b}
        if first_miss is None and len(old) != len(new):
            first_miss = {"song": number, "original_events": len(old), "replay_events": len(new)}
    return {"generated_events": total,
            "replayed_events": sum(len(song) for song in after), "matched": matched,
            "exact": first_miss is None and len(before) == len(after), "first_miss": first_miss}


def replay(log_path: Path, out: Path, force: bool = False) -> dict[str, Any]:
    try:
        data = read_log(log_path)
    except ShowLogError as exc:
        raise UsageError(str(exc)) from None
    show = rebuild_show(data, force)
    crowd = ReplayLink(data.records, _make_result) if data.header.get("crowd") else None
    songs = replay_songs(data, show, crowd)
    header = {k: v for k, v in data.header.items()
              if k not in ("t", "format", "version", "created")}
    header["replay_of"] = str(log_path)
    show_log = open_log(out / "show.jsonl", header, block=True)
    try:
        result = play_show_offline(songs, out / "performance.mid", (), show_log)
    finally:
        show_log.close()
    report = compare(data, read_log(show_log.path))
    report.update({"log": str(log_path), "midi": str(result.midi_path),
                   "show_log": str(show_log.path), "songs": len(songs),
                   "original_complete": data.complete, "stuck_notes": result.stuck_notes,
                   "late_events": result.late_events})
    return report


def _run(args: argparse.Namespace) -> int:
    report = replay(args.log, args.out, args.force)
    print(json.dumps(report, sort_keys=True))
    return 0 if report["exact"] else 1


def run(args: argparse.Namespace) -> int:
    return guarded(_run, args)
