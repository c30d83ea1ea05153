"""``stage check SETLIST``: validate a show or song file (and the songs it includes).

Prints ``file:line:col: message`` for every problem and exits 2, or one summary line and
exits 0. Never a traceback on bad input: an unexpected failure is itself reported as a
problem of the file being checked.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stage.engine.setlist import Problem, Show
from stage.engine.setlist_check import check_file

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("setlists", nargs="+", type=Path, metavar="SETLIST",
                        help="show or song TOML files (see the README's Setlist format)")


def run(args: argparse.Namespace) -> int:
    status = 0
    for path in args.setlists:
        show, problems = _check(path)
        for problem in problems:
            print(problem)
        if problems or show is None:
            status = 2
        else:
            print(summary(path, show))
    return status


def _check(path: Path) -> tuple[Show | None, list[Problem]]:
    try:
        return check_file(path)
    except Exception as exc:  # a checker bug must still end in one line, not a traceback
        log.debug("checking %s failed", path, exc_info=True)
        return None, [Problem(path, 1, 1, f"internal error while checking: {exc!r}")]


def summary(path: Path, show: Show) -> str:
    """One line: the show, its songs, how much is charted and how many polls."""
    charted = sum(len(song.chart.bars()) for song in show.songs if song.chart is not None)
    polls = sum(len(song.polls) for song in show.songs)
    songs = len(show.songs)
    return (f"{path}: ok: {show.title!r}, {songs} song{'s' * (songs != 1)}, "
            f"{charted} charted bars, {polls} poll{'s' * (polls != 1)}")
