"""Soak: a long show on the virtual clock, paced faster than real time, with a crowd voting.

The demo show's songs play in a loop (poll ids made unique per round) until ``--minutes`` of
music have played, on a virtual clock that waits 1/``--speed`` of each gap in real time, so
the real audience service (its own process) and simulated phones (another process) vote
while polls are open. Every song writes to a show log on disk. Prints one JSON object:
speed factor (show seconds per wall second), engine step time p50/p99/max, memory (RSS)
growth after warm-up, stuck notes, lost votes (acknowledged final votes missing from the
results the engine received), late events, log records dropped; the baseline is the same
show unpaced and without the crowd (the engine's own speed), measured in the same run.

    .venv/bin/python benchmarks/soak.py                    # 30 minutes at 5x, 100 phones
    .venv/bin/python benchmarks/soak.py --minutes 1 --speed 8 --phones 20   # quick
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stage.audience.bridge import ShowBars
from stage.audience.link import AudienceLink
from stage.audience.process import start_service_process
from stage.commands._songs import song_form, song_plugins
from stage.engine.events import Event, NoteOn
from stage.engine.ports.base import Output
from stage.engine.ports.midifile import MidiFilePerformer
from stage.engine.runner import Engine
from stage.engine.setlist import Show, Song, load_setlist
from stage.engine.showlog import LoggedLink, ShowLog, read_log
from stage.engine.time import NS_PER_S, TempoMap, VirtualClock

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "setlists" / "demo.toml"


class PacedClock(VirtualClock):
    """A virtual clock that runs ``speed`` times faster than real time: each wait sleeps
    until the wall moment of its deadline (anchored once, so oversleeps never add up)."""

    def __init__(self, speed: float) -> None:
        super().__init__(0)
        self.speed = speed
        self.anchor_ns = time.perf_counter_ns()

    def wait(self, deadline_ns: int, inbox: Any = None) -> Any:
        due = self.anchor_ns + deadline_ns / self.speed
        ahead = due - time.perf_counter_ns()
        if ahead > 0:
            time.sleep(ahead / NS_PER_S)
        return super().wait(deadline_ns, inbox)


class NoteLedger(Output):
    """Counts notes; at close, notes the engine left on are stuck (before the panic)."""

    name = "ledger"

    def __init__(self) -> None:
        super().__init__()
        self.notes = 0
        self.stuck = 0

    def _send(self, event: Event, tick: int | None) -> None:
        if isinstance(event, NoteOn) and event.velocity:
            self.notes += 1

    def close(self) -> None:
        self.stuck += len(self.sounding)
        super().close()


def rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def percentiles(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    ordered = sorted(values)
    return {"n": len(ordered), "p50": round(ordered[len(ordered) // 2], 3),
            "p99": round(ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))], 3),
            "max": round(ordered[-1], 3)}


def song_seconds(song: Song) -> float:
    bars = sum(b for _, _, b in song_form(song)) or 32
    return bars * song.meter.beats_per_bar * 60.0 / song.tempo


def playlist(show: Show, minutes: float) -> list[tuple[int, int, Song]]:
    """(round, index, song) until the show is ``minutes`` long; poll ids unique per round."""
    out: list[tuple[int, int, Song]] = []
    total, cycle = 0.0, 0
    while total < minutes * 60:
        for index, song in enumerate(show.songs):
            polls = tuple(dataclasses.replace(p, id=f"{p.id}-{cycle}") for p in song.polls)
            out.append((cycle, index, dataclasses.replace(song, polls=polls)))
            total += song_seconds(song)
            if total >= minutes * 60:
                break
        cycle += 1
    return out


@dataclasses.dataclass
class Run:
    """Where the show is (for the memory sampler) and what it counted."""

    offset_s: float = 0.0
    clock: VirtualClock | None = None
    notes: int = 0
    stuck: int = 0
    late: int = 0
    step_ms: array[float] = dataclasses.field(default_factory=lambda: array("d"))
    samples: list[tuple[float, int]] = dataclasses.field(default_factory=list)
    warmup_s: float | None = None
    """The end of the first round of the setlist: every style, part and model loaded."""
    done: threading.Event = dataclasses.field(default_factory=threading.Event)

    def show_s(self) -> float:
        return self.offset_s + (self.clock.now_ns() / NS_PER_S if self.clock else 0.0)


def sample_memory(run: Run, every_s: float = 0.5) -> None:
    while not run.done.wait(every_s):
        run.samples.append((run.show_s(), rss_bytes()))


def play_song(run: Run, plugins: Any, clock: VirtualClock, observer: Any,
              limit_s: float) -> float:
    """One song on ``clock`` until its form ends or ``limit_s`` of it; returns its seconds."""
    ledger = NoteLedger()
    tempo = TempoMap(plugins.tempo_bpm)
    inputs = [plugins.performer] if plugins.performer else []
    engine = Engine(clock, tempo, plugins.follower, plugins.generators, [ledger], inputs,
                    tail_bars=plugins.tail_bars if inputs else None,
                    finished=plugins.finished, observer=observer)
    bar = plugins.meter.ticks_per_bar
    limit_tick = tempo.tick_at(int(limit_s * NS_PER_S))
    engine.end_tick_limit = min(plugins.max_bars * bar, max(bar, limit_tick - limit_tick % bar))
    step = engine.step

    def timed_step(extra: Any = ()) -> None:
        began = time.perf_counter_ns()
        step(extra)
        run.step_ms.append((time.perf_counter_ns() - began) / 1e6)

    engine.step = timed_step  # type: ignore[method-assign]
    run.clock = clock
    engine.start(origin_ns=0)
    engine.run(threading.Event(), live=False)
    run.notes += ledger.notes
    run.stuck += ledger.stuck
    run.late += engine.scheduler.lateness.late
    return clock.now_ns() / NS_PER_S


def play_show(show: Show, minutes: float, speed: float | None, crowd: Any,
              show_log: ShowLog | None) -> tuple[Run, float]:
    """The playlist on a paced (or, without ``speed``, free-running) virtual clock."""
    run = Run()
    sampler = threading.Thread(target=sample_memory, args=(run,), daemon=True)
    sampler.start()
    bars = ShowBars()
    began = time.perf_counter()
    for number, (cycle, index, song) in enumerate(playlist(show, minutes)):
        left = minutes * 60 - run.offset_s
        if left <= 0:
            break
        if cycle == 1 and run.warmup_s is None:
            run.warmup_s = run.offset_s
        performer = (MidiFilePerformer.from_file(show.performer, list(show.performer_tracks))
                     if index == 0 and show.performer else None)
        link = LoggedLink(crowd, show_log) if crowd is not None and show_log else crowd
        plugins = song_plugins(song, performer, seed=cycle * 100 + index, follow=False,
                               crowd=link, bars=bars, cues=True)
        observer = show_log.song(number, song.title, plugins.generators, song.tempo,
                                 str(song.meter)) if show_log else None
        clock = PacedClock(speed) if speed else VirtualClock()
        run.offset_s += play_song(run, plugins, clock, observer, left)
        run.clock = None
        gc.collect()
        run.samples.append((run.offset_s, rss_bytes()))
    wall = time.perf_counter() - began
    run.done.set()
    sampler.join()
    return run, wall


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def lost_votes(by_poll: dict[str, dict[str, Any]], results: list[dict[str, Any]]
               ) -> dict[str, int]:
    """Acknowledged final votes the engine's results do not count (choice and scale)."""
    lost = expected_total = checked = 0
    closed = set()
    for record in results:
        result = record["result"]
        closed.add(result["poll"])
        expected = by_poll.get(result["poll"], {})
        if result["kind"] == "choice":
            wanted = Counter(v["choice"] for v in expected.values() if "choice" in v)
            counts = result.get("counts") or []
            lost += sum(max(0, n - (counts[c] if c < len(counts) else 0))
                        for c, n in wanted.items())
            expected_total += sum(wanted.values())
            checked += 1
        elif result["kind"] == "scale":
            voters = sum(1 for v in expected.values() if "value" in v)
            lost += max(0, voters - int(result.get("voters") or 0))
            expected_total += voters
            checked += 1
    unclosed = sum(1 for poll, votes in by_poll.items() if votes and poll not in closed)
    return {"lost": lost, "acked_final_votes_checked": expected_total,
            "polls_checked": checked, "polls_unclosed_at_end": unclosed}


def crowd_process(url: str, phones: int, folder: Path) -> tuple[subprocess.Popen[bytes], Path]:
    stop_file, out = folder / "stop", folder / "crowd.json"
    child = subprocess.Popen([sys.executable, str(Path(__file__).with_name("soak_crowd.py")),
                              url, str(phones), str(stop_file), str(out)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return child, out


def memory_report(run: Run, minutes: float) -> dict[str, Any]:
    """RSS growth from the end of warm-up (the setlist's first round; a quarter of a show
    shorter than one round) to the end."""
    warmup_s = run.warmup_s if run.warmup_s is not None else 0.25 * minutes * 60
    after = [rss for show_s, rss in run.samples if show_s >= warmup_s]
    first = run.samples[0][1] if run.samples else 0
    mib = 1024 * 1024
    if not after:
        return {"warmup_s": warmup_s, "growth_after_warmup_pct": None}
    return {"warmup_s": warmup_s, "rss_first_mib": round(first / mib, 1),
            "rss_after_warmup_mib": round(after[0] / mib, 1),
            "rss_end_mib": round(after[-1] / mib, 1),
            "rss_peak_mib": round(max(rss for _, rss in run.samples) / mib, 1),
            "growth_after_warmup_pct": round(100.0 * (after[-1] - after[0]) / after[0], 2),
            "samples": len(run.samples)}


def soak(minutes: float, speed: float, phones: int, folder: Path, setlist: Path = DEMO
         ) -> dict[str, Any]:
    show = load_setlist(setlist)
    token, port = secrets.token_urlsafe(12), free_port()
    service = start_service_process("127.0.0.1", port, token, "soak",
                                    log_path=folder / "service.log")
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", token).start()
    child, crowd_json = crowd_process(f"http://127.0.0.1:{port}/?show=soak", phones, folder)
    show_log = ShowLog(folder / "show.jsonl", {"setlist": {"path": str(setlist)}, "song": None,
                                               "crowd": {"kind": "live", "phones": phones}})
    try:
        link.connected.wait(10.0)
        time.sleep(1.0 + phones * 0.01)  # the phones join before the first poll
        run, wall = play_show(show, minutes, speed, link, show_log)
        LoggedLink(link, show_log).take_results()  # results still on their way at the end
    finally:
        (folder / "stop").touch()
        child.wait(timeout=60)
        show_log.close()
        link.stop()
        service.stop()
    crowd = json.loads(crowd_json.read_text()) if crowd_json.exists() else {}
    data = read_log(folder / "show.jsonl")
    votes = lost_votes(crowd.get("by_poll", {}), data.of("result"))
    votes.update({key: crowd.get(key) for key in ("joined", "failed", "reconnects",
                                                  "votes_sent", "votes_acked", "errors")})
    votes["results"] = len(data.of("result"))
    return {"show_s": round(run.offset_s, 1), "wall_s": round(wall, 1),
            "speed_factor": round(run.offset_s / wall, 2), "step_ms": percentiles(run.step_ms),
            "memory": memory_report(run, minutes), "notes": run.notes,
            "stuck_notes": run.stuck, "late_events": run.late, "votes": votes,
            "lost_votes": votes["lost"], "log": {"dropped": data.of("end")[0]["dropped"],
                                                 "records": len(data.records)}}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="show length (music)")
    parser.add_argument("--speed", type=float, default=5.0, help="show seconds per second")
    parser.add_argument("--phones", type=int, default=100, help="simulated phones")
    parser.add_argument("--setlist", type=Path, default=DEMO, help="the show to loop")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        report = soak(args.minutes, args.speed, args.phones, Path(tmp), args.setlist)
    baseline_run, baseline_wall = play_show(load_setlist(args.setlist), args.minutes, None,
                                            None, None)
    report["baseline_unpaced_no_crowd"] = {
        "speed_factor": round(baseline_run.offset_s / baseline_wall, 2),
        "step_ms": percentiles(baseline_run.step_ms), "stuck_notes": baseline_run.stuck}
    report["targets"] = {"speed_factor": ">= 4", "growth_after_warmup_pct": "<= 5",
                         "stuck_notes": 0, "lost_votes": 0}
    report["config"] = {"minutes": args.minutes, "speed": args.speed, "phones": args.phones,
                        "setlist": str(args.setlist)}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
