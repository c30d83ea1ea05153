"""``stage run --in NAME --out NAME``: play live in real time."""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from stage.audience.bridge import ShowBars
from stage.audience.health import watch_outputs
from stage.commands._audio import add_audio_arguments, follow_audio, open_audio
from stage.commands._common import UsageError, guarded, parse_tracks
from stage.commands._osc import add_osc_arguments, open_osc
from stage.commands._showlog import (
    add_log_arguments,
    first_position,
    live_log,
    logged,
    resume_from,
    resumed_show,
    songs_from,
)
from stage.commands.demo import audience_for, load_show
from stage.engine.harmony import Key
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
from stage.engine.setlist import Show, Song
from stage.engine.show import SongPlugins, play_show_live
from stage.engine.state import Meter

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
    parser.add_argument("--seconds", type=float, help="stop after about this many seconds")
    parser.add_argument("--setlist", type=Path, help="play this show's songs in order")
    parser.add_argument("--style", default="pop-rock", help="band style without a setlist")
    parser.add_argument("--key", help="key prior without a setlist, e.g. A:min")
    parser.add_argument("--no-audience", action="store_true",
                        help="don't start the audience service (started by default when the "
                             "setlist opens the show to the audience)")
    parser.add_argument("--audience-port", type=int, default=8080,
                        help="the audience service's port")
    add_osc_arguments(parser)
    parser.add_argument("--midi-clock", metavar="NAME",
                        help="send MIDI clock (24 per quarter, start/stop, song position) "
                             "following the followed tempo to this port")
    parser.add_argument("--link", action="store_true",
                        help="publish tempo and beat phase on Ableton Link")
    add_log_arguments(parser)
    add_audio_arguments(parser)


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


def _show(args: argparse.Namespace) -> Show:
    if args.setlist:
        return load_show(args.setlist)
    try:
        meter = Meter.parse(args.meter)
    except ValueError as exc:
        raise UsageError(f"--meter {args.meter}: {exc}") from None
    song = Song(title="live", tempo=args.tempo, meter=meter,
                key=Key.parse(args.key) if args.key else None, style=args.style,
                form=(), sections={})
    return Show(title="live", songs=(song,))


def _run(args: argparse.Namespace) -> int:
    from stage.commands._songs import song_plugins

    resume = resume_from(args)
    show = _show(args)
    performer = None
    if args.performer:
        performer = MidiFilePerformer.from_file(args.performer, parse_tracks(args.tracks))
    audio = open_audio(args)
    inputs, outputs = _open_ports(args)
    if audio is not None:
        inputs.append(audio)
    try:
        outputs += open_osc(args, show)
    except UsageError:
        for port in outputs:
            port.close()
        for source in inputs:
            source.close()
        raise
    if not args.outputs:
        log.warning("no --out port: the band plays to nobody")
    follow = bool(inputs) or performer is not None
    with (audience_for(args, show) as crowd,
          live_log(args, show, crowd, performer, follow, resume) as show_log):
        bars = ShowBars()
        # Live, the follower listens to whoever plays: the controller's port or the file.
        songs = [song_plugins(song, performer if index == 0 else None, seed=index,
                              follow=follow, live=True,
                              crowd=logged(crowd, show_log), bars=bars, cues=bool(args.osc))
                 for index, song in songs_from(show, resume)]
        if audio is not None:
            follow_audio(songs, resumed_show(show, resume), audio)
        link = _add_sync(args, songs, outputs)
        # The console sees the outputs' health and its panic button reaches every one.
        outputs = watch_outputs(crowd, outputs)
        if args.seconds:
            for song in songs:
                song.max_bars = max(1, int(args.seconds / 60 * song.tempo_bpm
                                           / song.meter.beats_per_bar))
        try:
            return _play(songs, inputs, outputs, performer, show_log, first_position(resume))
        finally:
            if link is not None:
                link.close()


def _add_sync(args: argparse.Namespace, songs: list[SongPlugins],
              outputs: list[Output]) -> Any:
    """MIDI clock and Ableton Link follow the show as generators; returns the Link session."""
    link = None
    if args.midi_clock:
        from stage.visuals.midiclock import ClockOutput, MidiClock

        try:
            port = RtMidiOutput(args.midi_clock, choose_api(args.api), virtual=args.virtual,
                                client_name="stage-clock")
        except PortNotFound as exc:
            raise UsageError(str(exc)) from None
        outputs.append(ClockOutput(port))
        for song in songs:
            song.generators = [*song.generators, MidiClock()]
    if args.link:
        from stage.visuals.link import LinkPublisher, LinkSync, LinkUnavailable

        try:
            link = LinkSync(songs[0].tempo_bpm if songs else 120.0)
        except LinkUnavailable as exc:
            raise UsageError(f"--link: {exc}") from None
        for song in songs:
            song.generators = [*song.generators, LinkPublisher(link)]
    return link


def _play(songs: list[SongPlugins], inputs: list[Input], outputs: list[Output],
          performer: MidiFilePerformer | None, show_log: Any = None,
          position: tuple[int, int] = (0, 0)) -> int:
    try:
        return play_show_live(songs, outputs, inputs, show_log=show_log,
                              first_index=position[0], start_bar=position[1])
    finally:
        for output in outputs:
            output.close()
        for source in inputs:
            source.close()
        if performer is not None:
            performer.close()


def run(args: argparse.Namespace) -> int:
    return guarded(_run, args)
