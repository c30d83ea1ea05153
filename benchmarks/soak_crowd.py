"""The soak's crowd, in its own process: simulated phones (stage.audience.crowd.SimPhone)
vote on whatever poll the service shows until a stop file appears; then one JSON file with
each poll's final acknowledged vote per device (what the result must count) is written.

    python benchmarks/soak_crowd.py URL PHONES STOP_FILE OUT_JSON
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from stage.audience.crowd import HANDSHAKES_IN_FLIGHT, CrowdReport, SimPhone, ws_url


class PollVotes(dict[str, dict[str, Any]]):
    """CrowdReport.final_votes that also keeps each poll's final votes (device -> vote)."""

    def __init__(self) -> None:
        super().__init__()
        self.by_poll: dict[str, dict[str, dict[str, Any]]] = {}

    def __setitem__(self, device: str, vote: dict[str, Any]) -> None:
        super().__setitem__(device, vote)
        self.by_poll.setdefault(str(vote.get("poll")), {})[device] = dict(vote)


async def crowd(url: str, phones: int, stop_file: Path) -> CrowdReport:
    report = CrowdReport()
    report.final_votes = PollVotes()
    stop = asyncio.Event()
    gate = asyncio.Semaphore(HANDSHAKES_IN_FLIGHT)
    crowd_phones = [SimPhone(i, report, 0.2, 7, None) for i in range(phones)]
    tasks = [asyncio.create_task(p.live(ws_url(url), gate, stop)) for p in crowd_phones]
    while not stop_file.exists():
        await asyncio.sleep(0.2)
    await asyncio.sleep(0.5)  # acks in flight arrive
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return report


def main() -> int:
    url, phones, stop_file, out = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
    report = asyncio.run(crowd(url, phones, stop_file))
    votes = report.final_votes
    assert isinstance(votes, PollVotes)
    Path(out).write_text(json.dumps({
        "joined": report.joined, "failed": report.failed, "reconnects": report.reconnects,
        "votes_sent": report.votes_sent, "votes_acked": report.votes_acked,
        "taps_sent": report.taps_sent, "errors": report.errors, "by_poll": votes.by_poll}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
