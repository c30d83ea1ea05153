"""``stage analyze PERFORMANCE.mid|.wav --json``: follow a performance offline, print decisions.

The follower hears the file on the virtual clock (a WAV through the causal audio front-end,
block by block) and prints one JSON object: ``beats``,
``chords``, ``key``, ``tempo`` (and ``grid``, the tempo map's beats), each decision with the
moment it was made (see the README's "stage analyze" section).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from stage.commands._common import UsageError, add_performance_args, guarded, parse_tracks, priors
from stage.engine.follow.offline import analyze_messages
from stage.engine.harmony import Key
from stage.engine.ports.midifile import load_performance
from stage.engine.state import Meter
from stage.engine.time import PPQ

AUDIO_SUFFIXES = (".wav", ".wave")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("performance", type=Path,
                        help="the performer, as a MIDI file or a PCM WAV recording")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON object (the only output format)")
    parser.add_argument("--key", help="key prior, e.g. Gb:maj or A:min")
    add_performance_args(parser)


def _analyze(args: argparse.Namespace) -> int:
    key = None
    if args.key:
        try:
            key = Key.parse(args.key)
        except ValueError as exc:
            raise UsageError(f"--key {args.key}: {exc}") from None
    if args.performance.suffix.lower() in AUDIO_SUFFIXES:
        result = _analyze_audio(args, key)
    else:
        messages = load_performance(args.performance, parse_tracks(args.tracks))
        quarter_bpm, meter = priors(args, args.performance)
        beat_bpm = quarter_bpm * PPQ / meter.ticks_per_beat
        result = analyze_messages([(m.time_ns, m.data) for m in messages], meter, beat_bpm,
                                  key_prior=key)
    result["performance"] = str(args.performance)
    json.dump(result, sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


def _analyze_audio(args: argparse.Namespace, key: Key | None) -> dict[str, Any]:
    """A recording has no tempo or meter of its own: 120 bpm and 4/4 unless given."""
    from stage.engine.follow.audio_offline import AudioFileError, analyze_wav

    try:
        meter = Meter.parse(args.meter) if args.meter else Meter()
    except ValueError as exc:
        raise UsageError(f"--meter {args.meter}: {exc}") from None
    quarter_bpm = args.tempo or 120.0
    try:
        return analyze_wav(args.performance, meter, quarter_bpm * PPQ / meter.ticks_per_beat,
                           key_prior=key)
    except AudioFileError as exc:
        raise UsageError(str(exc)) from None


def run(args: argparse.Namespace) -> int:
    return guarded(_analyze, args)
