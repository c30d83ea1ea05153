"""``stage run --in NAME --out NAME``: play live in real time."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from stage.commands._common import UsageError, guarded, parse_tracks
from stage.engine.live import run_live
from stage.engine.ports.base import Input, Output
from stage.engine.ports.midifile import MidiFilePerformer
from stage.engine.ports.rtmidi_port import (
    MidiApiUnavailable,
    PortNotFound,
    RtMidiInput,
    RtMidiOutput,
    api_name,
    choose_api,
)
from stage.engine.prior import PriorFollower
from stage.engine.runner import Engine
from stage.engine.state import Meter
from stage.engine.time import RealClock, TempoMap

log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--in", dest="inputs", action="append", default=[], metavar="NAME",
                        help="MIDI input port (name or part of it); repeatable")
    parser.add_argument("--out", dest="outputs", action="append", default=[], metavar="NAME",
                        help="MIDI output port (name or part of it); repeatable")
    parser.add_argument("--virtual", action="store_true",
                        help="create virtual ports named by --in/--out instead of connecting")
    parser.add_argument("--api", default="auto", help="MIDI API: auto, jack, alsa, coremidi, winmm")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="output latency to send ahead by (a slow synth), ms")
    parser.add_argument("--tempo", type=float, default=120.0, help="tempo prior, bpm")
    parser.add_argument("--meter", default="4/4", help="meter prior, e.g. 3/4")
    parser.add_argument("--performer", type=Path, help="play this MIDI file as the performer")
    parser.add_argument("--tracks", help="performer tracks of --performer, comma-separated")
    parser.add_argument("--seconds", type=float, help="stop after this many seconds")


def _open_ports(args: argparse.Namespace) -> tuple[list[Input], list[Output]]:
    try:
        api = choose_api(args.api)
    except MidiApiUnavailable as exc:
        raise UsageError(str(exc)) from None
    log.info("MIDI API: %s", api_name(api))
    inputs: list[Input] = []
    outputs: list[Output] = []
    try:
        for name in args.inputs:
            inputs.append(RtMidiInput(name, api, virtual=args.virtual, client_name="stage-in"))
        for name in args.outputs:
            outputs.append(RtMidiOutput(name, api, virtual=args.virtual,
                                        latency_ns=int(args.latency_ms * 1e6),
                                        client_name="stage-out"))
    except PortNotFound as exc:
        for port in outputs:
            port.close()
        for source in inputs:
            source.close()
        raise UsageError(str(exc)) from None
    return inputs, outputs


def _run(args: argparse.Namespace) -> int:
    try:
        meter = Meter.parse(args.meter)
    except ValueError as exc:
        raise UsageError(f"--meter {args.meter}: {exc}") from None
    performer = None
    if args.performer:
        performer = MidiFilePerformer.from_file(args.performer, parse_tracks(args.tracks))
    inputs, outputs = _open_ports(args)
    if not outputs:
        log.warning("no --out port: the band plays to nobody")
    from stage.accompany.root_bass import RootBass

    engine = Engine(RealClock(), TempoMap(args.tempo), PriorFollower(meter), [RootBass()],
                    outputs, inputs)
    deadline: list[float] = []
    if performer is not None:
        performer.play_live(engine.inbox, engine.clock.now_ns())
    if args.seconds:
        deadline.append(engine.clock.now_ns() + args.seconds * 1e9)
    code = run_live(engine, until=lambda: bool(deadline) and engine.clock.now_ns() >= deadline[0])
    if performer is not None:
        performer.close()
    stats = engine.scheduler.lateness
    log.info("show over: %d events sent, %d late (worst %.2f ms)",
             stats.sent, stats.late, stats.worst_ns / 1e6)
    return code


def run(args: argparse.Namespace) -> int:
    return guarded(_run, args)
