"""``stage demo``: the demo show end to end, no hardware needed.

Offline (default): writes OUT_DIR/performance.mid (performer + one track per part),
OUT_DIR/performance.wav (the built-in FluidSynth sound) and OUT_DIR/summary.json.
``--live`` plays it in real time through FluidSynth on JACK (or a MIDI port with --out).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import secrets
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stage.commands._common import UsageError, guarded, parse_tracks, write_json
from stage.commands._osc import add_osc_arguments, open_osc
from stage.engine.setlist import SetlistError, Show, load_setlist
from stage.engine.show import ShowResult, play_show_live, play_show_offline

log = logging.getLogger(__name__)

SHOW_GAIN = 0.35
"""FluidSynth gain for a whole show: at 0.5 the full band steered to energy 1.0 clipped."""
DEMO_SETLIST = Path(__file__).resolve().parents[2] / "setlists" / "demo.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--setlist", type=Path, default=DEMO_SETLIST, help="the show to play")
    add_show_arguments(parser)


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", action=argparse.BooleanOptionalAction, default=True,
                        help="the MIDI follower steers the band's tempo and beat from the "
                             "performer (default); --no-follow plays the setlist's tempo")
    parser.add_argument("--no-wav", action="store_true", help="skip the WAV render")
    parser.add_argument("--soundfont", type=Path, help="GM soundfont (default: FluidR3_GM)")
    parser.add_argument("--seed", type=int, default=0, help="humanize seed")
    parser.add_argument("--live", action="store_true", help="play in real time instead")
    parser.add_argument("--out-port", dest="out_port", metavar="NAME",
                        help="with --live: a MIDI output port instead of the built-in synth")
    parser.add_argument("--api", default="auto", help="MIDI API for --out-port")
    parser.add_argument("--no-audience", action="store_true",
                        help="no crowd: offline the polls are otherwise answered by a seeded "
                             "simulated crowd; live the audience service is started")
    parser.add_argument("--audience-port", type=int, default=8080,
                        help="with --live: the audience service's port")
    add_osc_arguments(parser)


def load_show(path: Path) -> Show:
    try:
        return load_setlist(path)
    except SetlistError as exc:
        raise UsageError(str(exc).splitlines()[0] + (
            f" (and {len(exc.problems) - 1} more; run `stage check {path}`)"
            if len(exc.problems) > 1 else "")) from None


def summary(show: Show, result: ShowResult) -> dict[str, Any]:
    songs = []
    for song, played in zip(show.songs, result.songs, strict=False):
        songs.append({
            "title": played.title, "style": song.style, "start_s": round(played.start_s, 3),
            "duration_s": round(played.duration_s, 3),
            "sections": [name for name in song.form], "notes_per_part": played.notes_per_part,
            "late_events": played.late_events, "muted_parts": played.muted_parts,
        })
    return {
        "show": show.title, "midi": str(result.midi_path),
        "duration_s": round(result.duration_s, 3),
        "songs": songs, "parts": sorted(p for p in result.notes_per_part if p != "performer"),
        "notes_per_part": result.notes_per_part, "late_events": result.late_events,
        "stuck_notes": result.stuck_notes,
    }


def play(args: argparse.Namespace, show: Show, performer: Path | None,
         tracks: list[str] | None) -> int:
    from stage.commands._songs import show_plugins
    from stage.engine.showlog import LoggedLink

    out: Path = args.out
    if args.live:
        with audience_for(args, show) as crowd:
            show_log = _open_log(args, show, performer, tracks, crowd)
            songs = show_plugins(show, performer, tracks, follow=args.follow, seed=args.seed,
                                 crowd=crowd and LoggedLink(crowd, show_log),
                                 cues=bool(args.osc), live=True)
            try:
                return _live(args, songs, show, crowd, show_log)
            finally:
                show_log.close()
    simulated = None
    if show.audience and not args.no_audience:
        from stage.audience.simulated import SimulatedCrowd

        simulated = SimulatedCrowd(seed=args.seed)
    show_log = _open_log(args, show, performer, tracks, simulated)
    songs = show_plugins(show, performer, tracks, follow=args.follow, seed=args.seed,
                         crowd=simulated and LoggedLink(simulated, show_log),
                         cues=bool(args.osc))
    osc = open_osc(args, show)
    try:
        result = play_show_offline(songs, out / "performance.mid", osc, show_log)
    finally:
        for output in osc:
            output.close()
        show_log.close()
    report = summary(show, result)
    report["show_log"] = str(show_log.path)
    if simulated is not None:
        report["audience"] = crowd_report(songs, simulated)
    if not args.no_wav:
        from stage.engine.ports.synth import SynthError, render_wav

        try:
            wav = render_wav(result.midi_path, out / "performance.wav", args.soundfont,
                             gain=SHOW_GAIN)
            report["wav"] = {"path": str(wav.path),
                             "seconds": round(wav.frames / wav.sample_rate, 3),
                             "peak": round(wav.peak, 4), "clipped_samples": wav.clipped_samples}
        except SynthError as exc:
            raise UsageError(str(exc)) from None
    write_json(out / "summary.json", report)
    _print_summary(report)
    return 0 if not result.stuck_notes else 1


def _open_log(args: argparse.Namespace, show: Show, performer: Path | None,
              tracks: list[str] | None, crowd: Any) -> Any:
    """OUT_DIR/show.jsonl: everything the show does, enough for `stage replay`."""
    from stage.engine.showlog.session import open_log, show_header

    setlist = getattr(args, "setlist", None)
    first = show.songs[0]
    song = None if setlist else {
        "title": first.title, "tempo": first.tempo, "meter": str(first.meter),
        "key": first.key.label if first.key else None, "style": first.style}
    crowd_info = None
    if crowd is not None:
        crowd_info = ({"kind": "simulated", "size": crowd.size, "seed": crowd.seed}
                      if hasattr(crowd, "seed") else {"kind": "live"})
    header = show_header(args.command, setlist=setlist, song=song,
                         performer=performer or show.performer,
                         tracks=tracks or list(show.performer_tracks) or None, seed=args.seed,
                         follow=args.follow, cues=bool(args.osc), live=bool(args.live),
                         crowd=crowd_info)
    return open_log(args.out / "show.jsonl", header, block=not args.live)


def crowd_report(songs: list[Any], crowd: Any) -> dict[str, Any]:
    """What the (simulated) crowd decided and what it changed, song by song."""
    from stage.audience.bridge import AudienceBridge

    steered = []
    for song in songs:
        for generator in song.generators:
            if isinstance(generator, AudienceBridge):
                steered += [{"song": song.title, "tick": record.tick,
                             "controls": {k: round(v, 3) for k, v in record.controls.items()},
                             "section": record.section, "polls": list(record.polls)}
                            for record in generator.steered]
    return {"crowd": f"simulated, {crowd.size} phones, seed {crowd.seed}",
            "results": [r.to_json() for r in crowd.results], "steers": steered}


@contextlib.contextmanager
def audience_for(args: argparse.Namespace, show: Show) -> Iterator[Any]:
    """Live: the audience service in its own process and the engine's link to it."""
    if args.no_audience or not show.audience:
        yield None
        return
    from stage.audience.link import AudienceLink
    from stage.audience.process import start_service_process

    token = secrets.token_urlsafe(16)
    show_id = "".join(c for c in show.title.lower() if c.isalnum())[:24] or "show"
    try:
        # Phones need the machine's address, not the wildcard the service binds to.
        host = socket.gethostbyname(socket.gethostname())
        handle = start_service_process("0.0.0.0", args.audience_port, token, show_id,
                                       public_url=f"http://{host}:{args.audience_port}")
    except Exception as exc:  # the show goes on without its crowd
        log.warning("audience service did not start (%s); playing without it", exc)
        yield None
        return
    link = AudienceLink(f"ws://127.0.0.1:{args.audience_port}/engine", token).start()
    print(f"audience: join at http://{host}:{args.audience_port}/?show={show_id} ; "
          f"console token {token}")
    try:
        yield link
    finally:
        link.stop()
        handle.stop()


def _live(args: argparse.Namespace, songs: list[Any], show: Show, crowd: Any = None,
          show_log: Any = None) -> int:
    from stage.audience.health import watch_outputs
    from stage.engine.ports.base import Output

    output: Output
    if args.out_port:
        from stage.engine.ports.rtmidi_port import PortNotFound, RtMidiOutput, choose_api

        try:
            output = RtMidiOutput(args.out_port, choose_api(args.api))
        except PortNotFound as exc:
            raise UsageError(str(exc)) from None
    else:
        from stage.engine.ports.synth import FluidSynthOutput, SynthError

        try:
            output = FluidSynthOutput(args.soundfont)
        except SynthError as exc:
            raise UsageError(str(exc)) from None
    osc: list[Any] = []
    try:
        osc = open_osc(args, show)
        # the console sees the outputs' health and its panic reaches every one of them
        return play_show_live(songs, watch_outputs(crowd, [output, *osc]), show_log=show_log)
    finally:
        output.close()
        for cue_output in osc:
            cue_output.close()


def _print_summary(report: dict[str, Any]) -> None:
    print(f"{report['show']}: {len(report['songs'])} songs, {report['duration_s']:.1f} s")
    for song in report["songs"]:
        parts = ", ".join(f"{p} {n}" for p, n in song["notes_per_part"].items())
        print(f"  {song['title']} ({song['style']}, {song['duration_s']:.1f} s, "
              f"{len(song['sections'])} sections): {parts}")
    if "audience" in report:
        crowd = report["audience"]
        print(f"crowd ({crowd['crowd']}): {len(crowd['results'])} poll results, "
              f"{len(crowd['steers'])} steers applied")
    print(f"late events {report['late_events']}, stuck notes "
          f"{sum(report['stuck_notes'].values())}")
    print(f"wrote {report['midi']}" + (f" and {report['wav']['path']}" if "wav" in report else ""))


def _demo(args: argparse.Namespace) -> int:
    show = load_show(args.setlist)
    return play(args, show, None, None)


def run(args: argparse.Namespace) -> int:
    return guarded(_demo, args)


__all__ = ["add_show_arguments", "load_show", "parse_tracks", "play"]
