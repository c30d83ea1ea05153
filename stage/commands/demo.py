"""``stage demo``: the demo show end to end, no hardware needed.

Offline (default): writes OUT_DIR/performance.mid (performer + one track per part),
OUT_DIR/performance.wav (the built-in FluidSynth sound) and OUT_DIR/summary.json.
``--live`` plays it in real time through FluidSynth on JACK (or a MIDI port with --out).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

from stage.commands._common import UsageError, guarded, parse_tracks, write_json
from stage.engine.setlist import SetlistError, Show, load_setlist
from stage.engine.show import ShowResult, play_show_live, play_show_offline

log = logging.getLogger(__name__)

DEMO_SETLIST = Path(__file__).resolve().parents[2] / "setlists" / "demo.toml"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-o", "--out", type=Path, default=Path("out/demo"), help="output folder")
    parser.add_argument("--setlist", type=Path, default=DEMO_SETLIST, help="the show to play")
    add_show_arguments(parser)


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--follow", action="store_true",
                        help="let the MIDI follower steer tempo and chords (default: the "
                             "setlist's tempo and chart; the follower still hears every note)")
    parser.add_argument("--no-wav", action="store_true", help="skip the WAV render")
    parser.add_argument("--soundfont", type=Path, help="GM soundfont (default: FluidR3_GM)")
    parser.add_argument("--seed", type=int, default=0, help="humanize seed")
    parser.add_argument("--live", action="store_true", help="play in real time instead")
    parser.add_argument("--out-port", dest="out_port", metavar="NAME",
                        help="with --live: a MIDI output port instead of the built-in synth")
    parser.add_argument("--api", default="auto", help="MIDI API for --out-port")


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

    songs = show_plugins(show, performer, tracks, follow=args.follow, seed=args.seed)
    if args.live:
        return _live(args, songs)
    out: Path = args.out
    result = play_show_offline(songs, out / "performance.mid")
    report = summary(show, result)
    if not args.no_wav:
        from stage.engine.ports.synth import SynthError, render_wav

        try:
            wav = render_wav(result.midi_path, out / "performance.wav", args.soundfont)
            report["wav"] = {"path": str(wav.path),
                             "seconds": round(wav.frames / wav.sample_rate, 3),
                             "peak": round(wav.peak, 4), "clipped_samples": wav.clipped_samples}
        except SynthError as exc:
            raise UsageError(str(exc)) from None
    write_json(out / "summary.json", report)
    _print_summary(report)
    return 0 if not result.stuck_notes else 1


def _live(args: argparse.Namespace, songs: list[Any]) -> int:
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
    try:
        return play_show_live(songs, [output])
    finally:
        output.close()


def _print_summary(report: dict[str, Any]) -> None:
    print(f"{report['show']}: {len(report['songs'])} songs, {report['duration_s']:.1f} s")
    for song in report["songs"]:
        parts = ", ".join(f"{p} {n}" for p, n in song["notes_per_part"].items())
        print(f"  {song['title']} ({song['style']}, {song['duration_s']:.1f} s, "
              f"{len(song['sections'])} sections): {parts}")
    print(f"late events {report['late_events']}, stuck notes "
          f"{sum(report['stuck_notes'].values())}")
    print(f"wrote {report['midi']}" + (f" and {report['wav']['path']}" if "wav" in report else ""))


def _demo(args: argparse.Namespace) -> int:
    show = load_show(args.setlist)
    return play(args, show, None, None)


def run(args: argparse.Namespace) -> int:
    return guarded(_demo, args)


__all__ = ["add_show_arguments", "load_show", "parse_tracks", "play"]
