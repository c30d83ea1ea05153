"""The ``--osc`` flags shared by ``stage demo``, ``render`` and ``run``: cues to a VJ rig."""

from __future__ import annotations

import argparse
from typing import Any

from stage.commands._common import UsageError
from stage.engine.setlist import Show


def add_osc_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--osc", action="append", default=[], metavar="HOST:PORT",
                        help="send cues (beat, bar, section, tempo, chord) as OSC to this "
                             "peer; tcp://HOST:PORT for SLIP-framed TCP (QLab); repeatable")
    parser.add_argument("--osc-preset", metavar="NAME",
                        help="address mapping: generic, touchdesigner, resolume, qlab, or a "
                             "preset TOML file (default: the setlist's [show.osc] preset, "
                             "else generic)")
    parser.add_argument("--osc-mode", choices=("immediate", "bundle"), default="immediate",
                        help="immediate: send at the cue's time; bundle: send early, "
                             "timetagged with the cue's due time")
    parser.add_argument("--osc-latency-ms", type=float, default=20.0,
                        help="with --osc-mode bundle: how early bundles leave (ms)")


def open_osc(args: argparse.Namespace, show: Show | None = None) -> list[Any]:
    """The OSC outputs the flags ask for (none without --osc); the caller closes them.
    The setlist's ``[show.osc]`` gives the preset (unless --osc-preset does) and its own
    cue -> address rules, which come before the preset's."""
    targets = getattr(args, "osc", None) or []
    if not targets:
        return []
    from stage.visuals.osc import OscOutput
    from stage.visuals.presets import PresetError, load_preset

    outputs: list[Any] = []
    try:
        preset = args.osc_preset or (show.osc_preset if show else None) or "generic"
        extra = dict(show.osc_map) if show else {}
        for target in targets:
            # Each peer numbers sections on its own: a preset of its own.
            outputs.append(OscOutput(target, load_preset(preset, extra), args.osc_mode,
                                     latency_ns=int(args.osc_latency_ms * 1e6)))
    except (ValueError, ConnectionError, OSError, PresetError) as exc:
        for output in outputs:
            output.close()
        raise UsageError(str(exc)) from None
    return outputs
