"""The phone page's beat pulse against the engine's beat: loopback, a real browser.

A real Engine on the real clock plays with the AudienceBridge publishing every bar through
the AudienceLink to the audience service; the tempo moves in the middle of a bar (as the
follower moves it). One phone page in headless Debian chromium (Playwright, no browser
download) estimates the service clock over its socket and places each pulse with the Web
Animations API. Prints one JSON object:
- pulse_error_ms: the pulse's start on the page vs the engine's beat (tempo map), |error|;
- frame_error_ms: the first display frame at or after the pulse vs the beat (adds the
  frame interval of the headless compositor);
- baseline_timer_lateness_ms: a setTimeout aimed at each pulse's time, how late it fired
  (what a timer-driven pulse would add: measured in the same run);
- page_clock_bound_ms: half the fastest round trip used to map the page's clock to ours.
With ``--phones N`` the service runs in its own process and N more phones (websocket clients
in one child process, doing what the page does: 5 pings at connect, one every 10 s, every
music frame read) join before the show; under ``crowd``:
- anchor_lead_ms: how long before its bar starts each bar line's anchor reached a phone
  (p1 / p50; negative = after the downbeat, when a phone can only extrapolate the last one;
  the show's first bar, frames replayed at connect and tempo re-anchors are left out);
- offset_error_ms: each phone's estimate of the service clock (fastest of its round trips)
  vs the truth (one machine: the same clock, offset 0).

Usage: python benchmarks/pulse.py [--bars 32] [--phones 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from pages_support import browser_or_skip
from test_pages_pulse import measure_pulse


async def _phone(url: str, leads: list[float], offsets: list[float],
                 stop: asyncio.Event) -> None:
    """One phone: the page's clock sync and its reading of music frames."""
    sent: dict[int, int] = {}
    samples: list[tuple[int, float]] = []
    async with websockets.connect(url, open_timeout=60, max_queue=None) as ws:
        async def pings() -> None:
            for seq in range(1, 10_000):
                sent[seq] = time.perf_counter_ns()
                await ws.send(json.dumps({"v": 1, "type": "ping", "seq": seq}))
                await asyncio.sleep(0.15 if seq < 5 else 10.0)
        pinger = asyncio.create_task(pings())
        reader = asyncio.create_task(_read(ws, sent, samples, leads))
        await stop.wait()
        pinger.cancel()
        reader.cancel()
    if samples:
        offsets.append(abs(min(samples)[1]))


async def _read(ws: Any, sent: dict[int, int], samples: list[tuple[int, float]],
                leads: list[float]) -> None:
    """Bar lines only: the frame replayed at connect (an earlier bar, or the show's first
    bar published as it starts) and tempo re-anchors (a bar already seen, its start
    deliberately in the past) say nothing about how early a bar line arrives."""
    last_bar: int | None = None
    async for raw in ws:
        now = time.perf_counter_ns()
        message = json.loads(raw)
        if message.get("type") == "pong" and message.get("seq") in sent:
            t0 = sent.pop(message["seq"])
            samples.append((now - t0, message["t"] - (t0 + now) / 2e6))
        elif message.get("type") == "music" and message.get("at") is not None:
            bar = message.get("bar")
            if last_bar is not None and isinstance(bar, int) and bar > last_bar and bar > 0:
                leads.append(message["at"] - now / 1e6)
            last_bar = bar if last_bar is None or bar > last_bar else last_bar


async def _swarm(port: int, phones: int) -> dict[str, Any]:
    """Phones join at 200 a second, stay until stdin closes, then report."""
    leads: list[float] = []
    offsets: list[float] = []
    stop = asyncio.Event()
    tasks = []
    for _ in range(phones):
        tasks.append(asyncio.create_task(
            _phone(f"ws://127.0.0.1:{port}/ws", leads, offsets, stop)))
        await asyncio.sleep(0.005)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"phones": phones, "synced": len(offsets),
            "anchor_lead_ms": _spread(leads, (0.01, 0.5)),
            "late_anchors": sum(x < 0 for x in leads),
            "offset_error_ms": _spread(offsets, (0.5, 0.99))}


def _spread(values: list[float], quantiles: tuple[float, float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    pick = {f"p{round(q * 100)}": round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)
            for q in quantiles}
    return {"n": len(ordered), **pick, "min": round(ordered[0], 3), "max": round(ordered[-1], 3)}


def _crowd(phones: int) -> Callable[[int], Callable[[], dict[str, Any]]]:
    def start(port: int) -> Callable[[], dict[str, Any]]:
        child = subprocess.Popen([sys.executable, __file__, "--swarm", str(port), "--phones",
                                  str(phones)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                 text=True)
        assert child.stdout is not None and child.stdin is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the phones did not join")

        def finish() -> dict[str, Any]:
            out, _ = child.communicate("", timeout=120)
            report: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
            return report
        return finish
    return start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=32)
    parser.add_argument("--bpm", type=float, default=120.0)
    parser.add_argument("--pushed-bpm", type=float, default=132.0)
    parser.add_argument("--phones", type=int, default=0, help="more phones (websocket clients)")
    parser.add_argument("--swarm", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.swarm:
        print(json.dumps(asyncio.run(_swarm(args.swarm, args.phones))))
        return 0
    browsers = browser_or_skip()
    browser = next(browsers)
    try:
        figures, _ = measure_pulse(browser, args.bars, args.bpm, args.pushed_bpm,
                                   change_at_beats=args.bars * 2 + 1.5,
                                   crowd=_crowd(args.phones) if args.phones else None)
    finally:
        browsers.close()
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
