"""``stage train accompanist|chords|beats``: train a model on POP909 (001-700; 701-800
validate), seeded and resumable (beats: its renders are cached, the run is not), then export
it to ONNX and (with ``--ship``) write the shipped weights and their card figures into
stage/accompany/model/weights/. ``beats`` is the audio follower's causal beat model."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

log = logging.getLogger(__name__)

DEFAULTS = {"accompanist": {"steps": 6000, "batch": 64, "lr": 1e-3},
            "chords": {"steps": 4000, "batch": 32, "lr": 2e-3},
            "beats": {"steps": 1600, "batch": 24, "lr": 3e-3}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", choices=sorted(DEFAULTS), help="which model to train")
    parser.add_argument("--steps", type=int, help="optimizer steps (default per model)")
    parser.add_argument("--batch", type=int, help="batch size (default per model)")
    parser.add_argument("--lr", type=float, help="peak learning rate")
    parser.add_argument("--seed", type=int, default=909)
    parser.add_argument("--every", type=int, default=500,
                        help="evaluate, log and checkpoint every N steps")
    parser.add_argument("--out", type=Path, default=Path("out/model-runs"),
                        help="checkpoints and loss logs (resumed from when present)")
    parser.add_argument("--fresh", action="store_true", help="ignore an existing checkpoint")
    parser.add_argument("--limit", type=int, help="train on the first N songs only (quick)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (1: two stall on a shared machine)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes rendering training audio (beats)")
    parser.add_argument("--ship", action="store_true",
                        help="write the shipped weights into stage/accompany/model/weights/")
    parser.add_argument("--width", type=int, help="accompanist width / chord GRU hidden")
    parser.add_argument("--until", type=int,
                        help="stop after this step (a multiple of --every); rerun to resume")


def run(args: argparse.Namespace) -> int:
    import torch

    from stage.accompany.model import train as training
    from stage.accompany.model.export import ship
    from stage.accompany.model.loop import RunSettings
    from stage.accompany.model.nets import AccompanistConfig, ChordConfig

    if args.model == "beats":
        return _train_beats(args)
    defaults = DEFAULTS[args.model]
    settings = RunSettings(steps=args.steps or int(defaults["steps"]),
                           batch=args.batch or int(defaults["batch"]),
                           lr=args.lr or float(defaults["lr"]), seed=args.seed,
                           every=args.every, out=args.out / args.model, threads=args.threads,
                           until=args.until)
    settings.out.mkdir(parents=True, exist_ok=True)
    command = "stage train " + args.model + (f" --steps {args.steps}" if args.steps else "")
    model: torch.nn.Module
    if args.model == "accompanist":
        config = AccompanistConfig(width=args.width) if args.width else AccompanistConfig()
        model, info = training.train_accompanist(settings, config, args.limit, not args.fresh)
    else:
        chord_config = ChordConfig(hidden=args.width) if args.width else ChordConfig()
        model, info = training.train_chords(settings, chord_config, args.limit,
                                            not args.fresh)
    done = int(info["history"][-1]["step"]) if info["history"] else 0
    if done < settings.steps:
        print(json.dumps({"model": args.model, "stopped_at": done, "steps": settings.steps,
                          "resume": "run the same command again"}))
        return 0
    info.update({"command": command, "seed": args.seed, "steps": settings.steps,
                 "batch": settings.batch, "lr": settings.lr, "limit": args.limit})
    target = training.WEIGHTS_DIR if args.ship else settings.out / "export"
    card = ship(args.model, model, info, target)
    print(json.dumps({"model": args.model, "written": str(target),
                      "checkpoint_sha256": card["checkpoint_sha256"],
                      "final": info["history"][-1] if info["history"] else None}))
    return 0


def _train_beats(args: argparse.Namespace) -> int:
    """Render POP909 training songs (``--limit`` of them, a seeded draw from 001-700; 320 by
    default: the shipped run; at most 640, the last 60 calibrate it, see audio_onset_fit) and 20
    validation songs, train the beat GRU, export it."""
    import os

    from stage.engine.follow.audio_beat_data import (
        CALIBRATION,
        TRAIN_LIMIT,
        TRAIN_SONGS,
        drawn_songs,
        load_songs,
    )
    from stage.engine.follow.audio_beat_model import WEIGHTS_DIR
    from stage.engine.follow.audio_beat_train import BeatConfig, BeatRun, ship, train

    data = Path(os.environ.get("STAGE_DATA", Path(__file__).resolve().parents[3] / "shared"
                               / "data")) / "pop909"
    cache = args.out / "beats" / "audio-rubato"
    most = len(TRAIN_SONGS) - CALIBRATION
    numbers = drawn_songs(args.seed)[: min(args.limit or TRAIN_LIMIT, most)]
    valid = load_songs(list(range(781, 801)), data, cache, args.seed, args.jobs)
    songs = load_songs(numbers, data, cache, args.seed, args.jobs)
    if not songs or not valid:
        log.error("no POP909 songs rendered from %s", data)
        return 1
    defaults = DEFAULTS["beats"]
    run = BeatRun(steps=args.steps or int(defaults["steps"]),
                  batch=args.batch or int(defaults["batch"]),
                  lr=args.lr or float(defaults["lr"]), seed=args.seed, threads=args.threads,
                  every=min(args.every, args.steps or int(defaults["steps"])))
    config = BeatConfig(hidden=args.width) if args.width else BeatConfig()
    net, info = train(songs, valid, config, run)
    info.update({"command": "stage train beats" + (f" --steps {args.steps}" if args.steps
                                                    else ""),
                 "seed": args.seed, "steps": run.steps, "batch": run.batch, "lr": run.lr,
                 "train_songs": len(songs), "valid_songs": [s.number for s in valid]})
    target = WEIGHTS_DIR if args.ship else args.out / "beats" / "export"
    card = ship(net, info, target)
    print(json.dumps({"model": "beats", "written": str(target),
                      "checkpoint_sha256": card["checkpoint_sha256"],
                      "final": info["history"][-1] if info["history"] else None}))
    return 0
