"""`stage run`'s show log: a dated file in --log-dir, and --resume LOG after a crash."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stage.commands._common import UsageError
from stage.engine.setlist import Show, Song
from stage.engine.showlog import LoggedLink, ShowLog, ShowLogError, read_log
from stage.engine.showlog.resume import ResumePoint, resume_point, trim_song
from stage.engine.showlog.session import dated_path, open_log, show_header

log = logging.getLogger(__name__)


def add_log_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--log-dir", type=Path, default=Path("shows"),
                        help="folder for the show log (show-YYYYmmdd-HHMMSS.jsonl; "
                             "default ./shows)")
    parser.add_argument("--resume", type=Path, metavar="LOG",
                        help="resume a stopped or crashed show at its song and bar")


def resume_from(args: argparse.Namespace) -> ResumePoint | None:
    """The position to resume at (and the show's setlist into ``args.setlist``)."""
    if not args.resume:
        return None
    try:
        point = resume_point(read_log(args.resume))
    except ShowLogError as exc:
        raise UsageError(str(exc)) from None
    args.setlist = args.setlist or point.setlist
    log.info("resuming %s at song %d, bar %d", args.resume, point.song + 1, point.bar + 1)
    return point


def songs_from(show: Show, resume: ResumePoint | None) -> list[tuple[int, Song]]:
    """(setlist index, song) still to play: all, or from the resume point on."""
    if resume is None:
        return list(enumerate(show.songs))
    if resume.song >= len(show.songs):
        raise UsageError(f"{resume.setlist}: the show had already ended")
    try:
        first = trim_song(show.songs[resume.song], resume.bar)
    except ShowLogError as exc:
        raise UsageError(str(exc)) from None
    return [(resume.song, first), *((i, s) for i, s in enumerate(show.songs)
                                    if i > resume.song)]


def resumed_show(show: Show, resume: ResumePoint | None) -> Show:
    """The show as it plays from the resume point (the songs still to play)."""
    if resume is None:
        return show
    return dataclasses.replace(show, songs=tuple(song for _, song in songs_from(show, resume)))


@contextlib.contextmanager
def live_log(args: argparse.Namespace, show: Show, crowd: Any, performer: Any, follow: bool,
             resume: ResumePoint | None) -> Iterator[ShowLog]:
    """The live show's log, closed (with its ``end`` record) on every way out."""
    first = show.songs[0]
    song = None if args.setlist else {
        "title": first.title, "tempo": first.tempo, "meter": str(first.meter),
        "key": first.key.label if first.key else None, "style": first.style}
    header = show_header(
        "run", setlist=args.setlist, song=song,
        performer=args.performer if performer is not None else None,
        tracks=[t for t in (args.tracks or "").split(",") if t] or None, seed=0,
        follow=follow, cues=bool(args.osc), live=True,
        crowd={"kind": "live"} if crowd is not None else None,
        resumed_from=None if resume is None else {
            "log": str(Path(args.resume).resolve()), "song": resume.song, "bar": resume.bar})
    from stage.engine.ports.xruns import XrunCounter

    show_log = open_log(dated_path(args.log_dir), header, block=False)
    log.info("show log: %s", show_log.path)
    xruns = XrunCounter.open()
    show_log.health = lambda: {"xruns": xruns.count if xruns else None,
                               "log_dropped": show_log.dropped}
    try:
        yield show_log
    finally:
        health = show_log.health()
        show_log.close()
        if xruns is not None:
            xruns.close()
        print(f"show log {show_log.path}: xruns {health['xruns']}, "
              f"log records dropped {show_log.dropped}", file=sys.stderr)


def logged(crowd: Any, show_log: ShowLog) -> Any:
    return None if crowd is None else LoggedLink(crowd, show_log)


def first_position(resume: ResumePoint | None) -> tuple[int, int]:
    """(setlist index of the first song played, its first bar) for play_show_live."""
    return (resume.song, resume.bar) if resume else (0, 0)
