"""Options and helpers shared by the subcommands that play a show."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import mido

from stage.engine.ports.midifile import MidiFileError, read_midi_file
from stage.engine.state import Meter

log = logging.getLogger(__name__)


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


def add_performance_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracks", help="performer tracks, comma-separated names (default all)")
    parser.add_argument("--tempo", type=float, help="tempo prior in bpm (default: the file's)")
    parser.add_argument("--meter", help="meter prior, e.g. 4/4, 3/4, 6/8 (default: the file's)")


def parse_tracks(text: str | None) -> list[str] | None:
    return [t.strip() for t in text.split(",") if t.strip()] if text else None


def file_priors(path: Path) -> tuple[float, Meter]:
    """The first tempo and meter a MIDI file states (120 bpm, 4/4 when it states none)."""
    midi = read_midi_file(path)
    bpm, meter = 120.0, Meter()
    for track in midi.tracks:
        for msg in track:
            if msg.type == "set_tempo" and bpm == 120.0:
                bpm = mido.tempo2bpm(msg.tempo)
            elif msg.type == "time_signature" and meter == Meter() and msg.numerator > 1:
                meter = Meter(msg.numerator, msg.denominator)
    return round(bpm, 3), meter


def priors(args: argparse.Namespace, path: Path) -> tuple[float, Meter]:
    bpm, meter = file_priors(path)
    if args.tempo:
        bpm = args.tempo
    if args.meter:
        try:
            meter = Meter.parse(args.meter)
        except ValueError as exc:
            raise UsageError(f"--meter {args.meter}: {exc}") from None
    return bpm, meter


def fail(message: str, code: int = 2) -> int:
    print(f"stage: {message}", file=sys.stderr)
    return code


def guarded(fn: Any, args: argparse.Namespace) -> int:
    """Run a command body; user errors become one line on stderr and exit 2."""
    try:
        result: int = fn(args)
        return result
    except (UsageError, MidiFileError) as exc:
        return fail(str(exc))


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
