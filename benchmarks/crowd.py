"""Crowd benchmark: the audience service and simulated phones in separate processes.

Prints one JSON object: phones held, memory per phone (KiB, from the service's RSS over
its idle RSS), votes accepted per second, vote-to-engine latency p50/p95/p99/max (phone
send -> the first engine tally that carries the vote), result broadcast time to all phones
(engine close -> each phone sees the closed poll), votes lost (acknowledged final votes
missing from the result: must be 0) and abusive frames rejected. The baseline, measured
in the same run, is one phone voting on the idle service.

    .venv/bin/python benchmarks/crowd.py --clients 10000       # the goal
    .venv/bin/python benchmarks/crowd.py --clients 500 --vote-seconds 8   # quick
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import websockets

from stage.audience.identity import new_token
from stage.audience.process import start_service_process
from stage.audience.protocol import encode
from stage.audience.serve import raise_fd_limit

POLL = {"id": "bench", "kind": "choice", "question": "Where next?",
        "options": ["Chorus", "Breakdown", "Build", "Solo"]}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_rss_bytes(pid: int) -> int:
    """RSS of a process and its children (gateway workers), from /proc."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            with open(f"/proc/{current}/statm", encoding="ascii") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children", encoding="ascii") as kids:
                pending += [int(k) for k in kids.read().split()]
        except OSError:
            continue
    return total


def percentiles(values: list[float]) -> dict[str, float | int | None]:
    if not values:
        return {"n": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)

    return {"n": len(ordered), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99),
            "max": round(ordered[-1], 2)}


class EngineRecorder:
    """Plays the engine: opens and closes the poll, records every tally's arrival."""

    def __init__(self, url: str, token: str) -> None:
        self.url, self.token = url, token
        self.tallies: list[tuple[int, int]] = []  # (vote_seq, arrival ns)
        self.result: dict[str, Any] | None = None
        self.ws: Any = None

    async def connect_to_leader(self) -> None:
        """Workers that are not the leader answer 503: try again until the leader takes it."""
        for _ in range(100):
            try:
                self.ws = await websockets.connect(
                    self.url, additional_headers={"Authorization": f"Bearer {self.token}"},
                    max_queue=None)
                break
            except websockets.InvalidStatus:
                await asyncio.sleep(0.05)
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for raw in self.ws:
            now = time.perf_counter_ns()
            message = json.loads(raw)
            if message.get("type") == "tally":
                self.tallies.append((int(message["vote_seq"]), now))
            elif message.get("type") == "result":
                self.result = message

    def arrival_of(self, vote_seq: int) -> int | None:
        """When the engine first saw a tally carrying vote ``vote_seq``."""
        seqs = [s for s, _ in self.tallies]
        index = bisect.bisect_left(seqs, vote_seq)
        return self.tallies[index][1] if index < len(self.tallies) else None

    def latencies_ms(self, acks: list[tuple[int, int, int]]) -> list[float]:
        out = []
        for sent_ns, _ack_ns, vote_seq in acks:
            arrival = self.arrival_of(vote_seq)
            if arrival is not None:
                out.append((arrival - sent_ns) / 1e6)
        return out


async def baseline(port: int, engine: EngineRecorder, votes: int = 40) -> list[float]:
    """One phone on the idle service: the vote-to-engine latency floor."""
    await engine.ws.send(encode("open_poll", poll={**POLL, "id": "baseline"}))
    ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws")
    acks = []
    for seq in range(votes):
        await asyncio.sleep(0.15)  # under the per-phone rate limit
        sent = time.perf_counter_ns()
        await ws.send(encode("vote", poll="baseline", choice=seq % 4, seq=seq))
        while True:
            message = json.loads(await ws.recv())
            if message.get("type") == "ack":
                acks.append((sent, time.perf_counter_ns(), int(message["vote_seq"])))
                break
            if message.get("type") == "error":
                if message.get("code") != "poll_closed":
                    raise RuntimeError(f"baseline vote refused: {message}")
                await asyncio.sleep(0.15)  # the open has not landed yet
                sent = time.perf_counter_ns()
                await ws.send(encode("vote", poll="baseline", choice=seq % 4, seq=seq))
    await asyncio.sleep(0.3)
    await ws.close()
    await engine.ws.send(encode("close_poll", id="baseline"))
    await asyncio.sleep(0.3)
    return engine.latencies_ms(acks)


async def abusers(port: int, count: int, stop: asyncio.Event) -> dict[str, int]:
    """Phones that send garbage, oversized frames and floods until closed."""
    seen = Counter[str]()

    async def one(index: int) -> None:
        try:
            async with websockets.connect(f"ws://127.0.0.1:{port}/ws") as ws:
                junk = ["{nope", "x" * 2000, encode("open_poll", poll=POLL),
                        encode("vote", poll="bench", choice=99)]
                while not stop.is_set():
                    await ws.send(junk[index % len(junk)])
                    seen["sent"] += 1
                    await asyncio.sleep(0.01)
        except websockets.ConnectionClosed as exc:
            seen["closed_by_service"] += exc.rcvd is not None and exc.rcvd.code == 1008
        except OSError:
            seen["refused"] += 1

    await asyncio.gather(*(one(i) for i in range(count)))
    return dict(seen)


def _health_once(port: int) -> dict[str, Any]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as response:
        data: dict[str, Any] = json.load(response)
        return data


WORKERS = 1


def health(port: int) -> dict[str, Any]:
    """/health summed over the workers (SO_REUSEPORT hands each request to any one)."""
    by_pid: dict[int, dict[str, Any]] = {}
    for _ in range(1 if WORKERS == 1 else 12 * WORKERS):
        data = _health_once(port)
        by_pid[data["pid"]] = data
        if len(by_pid) == WORKERS:
            break
    leader = max(by_pid.values(), key=lambda d: d["engine"])
    merged = dict(leader)
    for key in ("phones", "accepted", "rejected", "closed_abusive", "refused", "dropped_slow"):
        merged[key] = sum(d[key] for d in by_pid.values())
    merged["workers_seen"] = len(by_pid)
    return merged


def start_crowd(args: argparse.Namespace, port: int, workdir: Path, total_s: float,
                ) -> list[tuple[subprocess.Popen[bytes], Path]]:
    procs = []
    per = args.clients // args.sim_processes
    for index in range(args.sim_processes):
        clients = per + (args.clients % args.sim_processes if index == 0 else 0)
        report = workdir / f"crowd-{index}.json"
        command = [sys.executable, "-m", "stage.cli", "crowd", "--clients", str(clients),
                   "--url", f"http://127.0.0.1:{port}/?show=bench", "--vote-rate",
                   str(args.vote_rate), "--duration", str(total_s), "--seed", str(index + 1),
                   "--sources", str(args.sources), "--report", str(report)]
        command = ["nice", "-n", str(args.crowd_nice), *command]
        procs.append((subprocess.Popen(command, stdout=subprocess.DEVNULL,
                                       stderr=subprocess.DEVNULL), report))
    return procs


async def wait_for_phones(port: int, want: int, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    held = 0
    while time.monotonic() < deadline:
        held = int(health(port)["phones"])
        if held >= want:
            return held
        await asyncio.sleep(0.5)
    return held


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_fd_limit()
    port = free_port()
    token = new_token()
    workdir = Path(tempfile.mkdtemp(prefix="stage-crowd-"))
    service = start_service_process("127.0.0.1", port, token, "bench", workers=args.workers,
                                    log_path=workdir / "service.log")
    try:
        engine = EngineRecorder(service.engine_url, token)
        await engine.connect_to_leader()
        base_latency = await baseline(port, engine)
        idle_rss = tree_rss_bytes(service.process.pid)
        join_s = max(30.0, args.clients / 150)
        total_s = join_s + args.vote_seconds + 15.0
        started = time.monotonic()
        crowd = start_crowd(args, port, workdir, total_s)
        held = await wait_for_phones(port, args.clients, join_s)
        join_elapsed = time.monotonic() - started
        await asyncio.sleep(1.0)
        held_rss = tree_rss_bytes(service.process.pid)
        held = int(health(port)["phones"])
        before = health(port)
        await engine.ws.send(encode("open_poll", poll=POLL))
        stop_abuse = asyncio.Event()
        abuse = asyncio.create_task(abusers(port, args.abusers, stop_abuse))
        await asyncio.sleep(args.vote_seconds)
        after = health(port)
        close_ns = time.perf_counter_ns()
        await engine.ws.send(encode("close_poll", id="bench"))
        stop_abuse.set()
        abuse_seen = await abuse
        await asyncio.sleep(3.0)  # acks in flight drain, phones see the result
        for proc, _ in crowd:
            proc.terminate()
        for proc, _ in crowd:
            proc.wait(timeout=60)
        final = health(port)
        reports = [json.loads(path.read_text()) for _, path in crowd if path.exists()]
    finally:
        service.stop()
    return summarize(args, reports, engine, base_latency, idle_rss, held_rss, held,
                     before, after, final, close_ns, join_elapsed, abuse_seen)


def summarize(args: argparse.Namespace, reports: list[dict[str, Any]], engine: EngineRecorder,
              base_latency: list[float], idle_rss: int, held_rss: int, held: int,
              before: dict[str, Any], after: dict[str, Any], final: dict[str, Any],
              close_ns: int, join_s: float, abuse_seen: dict[str, int]) -> dict[str, Any]:
    acks = [tuple(a) for r in reports for a in r["acks"]]
    bench_acks = [a for a in acks if a[0] < close_ns]
    final_votes: dict[str, dict[str, Any]] = {}
    for report in reports:
        final_votes.update(report["final_votes"])
    expected = Counter(v["choice"] for v in final_votes.values() if v.get("poll") == "bench")
    result = engine.result or {"counts": [], "voters": 0}
    counted = dict(enumerate(result["counts"]))
    lost = sum(max(0, n - counted.get(choice, 0)) for choice, n in expected.items())
    broadcast = [(t - close_ns) / 1e6 for r in reports for t in r["closed_seen_ns"]
                 if t >= close_ns]
    accepted = after["accepted"] - before["accepted"]
    return {
        "clients": args.clients,
        "crowd_processes": args.sim_processes,
        "audience_workers": args.workers,
        "crowd_nice": args.crowd_nice,
        "phones_held": held,
        "join_seconds": round(join_s, 1),
        "memory_per_phone_kib": round((held_rss - idle_rss) / max(1, held) / 1024, 2),
        "service_rss_mib": {"idle": round(idle_rss / 2**20, 1),
                            "held": round(held_rss / 2**20, 1)},
        "votes_accepted_per_s": round(accepted / args.vote_seconds, 1),
        "votes_acked": len(bench_acks),
        "vote_to_engine_ms": percentiles(engine.latencies_ms(bench_acks)),
        "baseline_one_phone_vote_to_engine_ms": percentiles(base_latency),
        "service_side_vote_to_engine_ms": final.get("vote_to_engine_ms"),
        "service_side_note": "the leader's own phones only" if args.workers > 1 else "",
        "result_broadcast_ms": percentiles(broadcast),
        "phones_saw_result": len(broadcast),
        "votes_lost": lost,
        "result_voters": result["voters"],
        "expected_voters": sum(expected.values()),
        "abusive_frames_sent": abuse_seen.get("sent", 0),
        "abusive_rejected": final["rejected"],
        "abusive_closed": final["closed_abusive"],
        "reconnects": sum(r["reconnects"] for r in reports),
        "join_failures": sum(r["failed"] for r in reports),
        "slow_phones_dropped": final["dropped_slow"],
        "goals": {"phones_held": 10000, "memory_per_phone_kib": 20,
                  "vote_to_engine_p95_ms": 250, "votes_lost": 0},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=10000)
    parser.add_argument("--vote-seconds", type=float, default=20.0)
    parser.add_argument("--vote-rate", type=float, default=0.1,
                        help="changes of mind a second per phone after its first vote")
    parser.add_argument("--sim-processes", type=int, default=2)
    parser.add_argument("--workers", type=int, default=1,
                        help="audience processes sharing the port (merged through Redis)")
    parser.add_argument("--sources", type=int, default=4)
    parser.add_argument("--abusers", type=int, default=20)
    parser.add_argument("--crowd-nice", type=int, default=10,
                        help="niceness of the simulator processes: they stand in for 10,000 "
                             "separate phones, so they yield the CPU to the service under test")
    args = parser.parse_args()
    global WORKERS
    WORKERS = args.workers
    print(json.dumps(asyncio.run(run(args))))


if __name__ == "__main__":
    main()
