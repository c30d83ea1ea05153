"""``stage render PERFORMANCE.mid -o OUT_DIR``: the file is the performer, offline."""

from __future__ import annotations

import argparse
from pathlib import Path

from stage.commands._common import (
    add_performance_args,
    guarded,
    parse_tracks,
    priors,
    write_json,
)
from stage.engine.ports.midifile import MidiFilePerformer
from stage.engine.prior import PriorFollower
from stage.engine.render import render


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("performance", type=Path, help="the performer, as a MIDI file")
    parser.add_argument("-o", "--out", type=Path, required=True, help="output folder")
    add_performance_args(parser)


def _render(args: argparse.Namespace) -> int:
    performer = MidiFilePerformer.from_file(args.performance, parse_tracks(args.tracks))
    bpm, meter = priors(args, args.performance)
    from stage.accompany.root_bass import RootBass

    result = render(performer, PriorFollower(meter), [RootBass()],
                    args.out / "performance.mid", bpm, meter)
    summary = {
        "performance": str(args.performance),
        "midi": str(result.midi_path),
        "duration_s": round(result.duration_s, 3),
        "notes_per_part": result.notes_per_part,
        "stuck_notes": result.stuck_notes,
        "late_events": result.late_events,
        "muted_parts": result.stats.muted_parts,
    }
    write_json(args.out / "summary.json", summary)
    parts = ", ".join(f"{p} {n}" for p, n in result.notes_per_part.items())
    print(f"rendered {result.duration_s:.1f} s -> {result.midi_path} ({parts}; "
          f"late {result.late_events}, stuck {sum(result.stuck_notes.values())})")
    return 0


def run(args: argparse.Namespace) -> int:
    return guarded(_render, args)
