"""``stage crowd``: simulate N phones that join a show, vote, tap and react."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=100, help="phones to simulate")
    parser.add_argument("--url", required=True, help="the show's join URL")
    parser.add_argument("--vote-rate", type=float, default=0.2,
                        help="votes a second per phone while a poll is open (after the first)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds to run")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--sources", type=int, default=1,
                        help="spread connections over 127.0.0.1..N (loopback, more ports)")
    parser.add_argument("--report", type=Path, help="write the full report (JSON) here")


def run(args: argparse.Namespace) -> int:
    from stage.audience.crowd import run_crowd
    from stage.audience.serve import raise_fd_limit, run_loop

    raise_fd_limit()
    sources = [f"127.0.0.{i + 1}" for i in range(args.sources)] if args.sources > 1 else None

    async def main() -> dict[str, object]:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        report = await run_crowd(args.url, args.clients, args.vote_rate, args.duration,
                                 args.seed, sources, stop)
        return report.to_json()

    report = run_loop(main())
    if args.report:
        args.report.write_text(json.dumps(report))
    summary = {k: v for k, v in report.items()
               if k not in ("acks", "final_votes", "closed_seen_ns")}
    print(json.dumps(summary))
    return 0 if report["joined"] else 1
