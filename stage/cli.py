"""The ``stage`` command. Each subcommand lives in its own module under ``stage.commands``
and is imported only when named, so ``stage --help`` stays fast."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from stage import __version__

# name -> (module under stage.commands, one-line help). Modules define
# ``add_arguments(parser)`` and ``run(args) -> int``.
COMMANDS: dict[str, tuple[str, str]] = {
    "devices": ("devices", "list MIDI ports per API and audio devices"),
    "render": ("render", "play a performance file offline on the virtual clock"),
    "run": ("run", "play live: MIDI in from the performer, the band out"),
    "demo": ("demo", "play the demo show end to end, no hardware needed"),
    "check": ("check", "validate a setlist: every problem as file:line:col, exit 2"),
    "audience": ("audience", "run the audience service: phones vote, the big screen shows"),
    "crowd": ("crowd", "simulate N phones that join, vote, tap and react"),
    "analyze": ("analyze", "follow a performance offline; print beats, chords, key as JSON"),
    "train": ("train", "train the accompanist, the chord predictor or the audio beat model"),
    "replay": ("replay", "play a show log again on the virtual clock, exactly"),
    "export": ("export", "a show log as multitrack MIDI and a CSV timeline of polls"),
    "credits": ("credits", "what shaped a show: styles, models, crowd decisions, shares"),
}


def build_parser(load: Sequence[str] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stage",
        description="Live-performance engine: follows, accompanies, lets the crowd steer.",
    )
    parser.add_argument("--version", action="version", version=f"stage {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("-v", "--verbose", action="store_true", help="debug logging")
        if load is None or name in load:
            module = importlib.import_module(f"stage.commands.{module_name}")
            module.add_arguments(command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    chosen = next((a for a in args_list if a in COMMANDS), None)
    parser = build_parser(None if chosen is None else [chosen])
    args = parser.parse_args(args_list)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(f"stage.commands.{COMMANDS[args.command][0]}")
    result: int = module.run(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
