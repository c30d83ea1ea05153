"""``stage render PERFORMANCE.mid -o OUT_DIR``: the file is the performer, offline.

With ``--setlist`` the file plays the setlist's first song (its tempo, chart, style, form)
and the rest of the show follows; without one the band plays ``--style`` on the file's own
tempo, and the MIDI follower finds the chords.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from stage.commands._common import add_performance_args, guarded, parse_tracks, priors
from stage.commands.demo import add_show_arguments, load_show, play
from stage.engine.harmony import Key
from stage.engine.setlist import Show, Song


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("performance", type=Path, help="the performer, as a MIDI file")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    parser.add_argument("--setlist", type=Path, help="play the performance as this show")
    parser.add_argument("--style", default="pop-rock", help="band style without a setlist")
    parser.add_argument("--key", help="key prior without a setlist, e.g. Gb:maj")
    add_performance_args(parser)
    add_show_arguments(parser)


def _render(args: argparse.Namespace) -> int:
    tracks = parse_tracks(args.tracks)
    if args.setlist:
        return play(args, load_show(args.setlist), args.performance, tracks)
    bpm, meter = priors(args, args.performance)
    song = Song(title=args.performance.stem, tempo=bpm, meter=meter,
                key=Key.parse(args.key) if args.key else None, style=args.style,
                form=(), sections={}, chart=None, source=args.performance)
    args.follow = True  # no chart: only the follower knows the chords
    return play(args, Show(title=args.performance.stem, songs=(song,)), args.performance, tracks)


def run(args: argparse.Namespace) -> int:
    return guarded(_render, args)
