"""Engine latency over real JACK MIDI ports (dummy driver, realtime mode).

The engine runs in its own process and plays a steady stream of scheduled notes while it
answers every note the benchmark plays. Prints one JSON object:
- reaction_ms: engine input stamp -> answer heard at the benchmark's port (in -> out);
- round_trip_ms: benchmark sends -> answer heard (adds the hop into the engine);
- schedule_error_ms: scheduled note sent by the engine vs its due time (dispatch accuracy);
- arrival_error_ms: scheduled note heard at the benchmark's port vs its due time (adds JACK's
  period quantisation: rtmidi's JACK backend delivers at the next process cycle);
- jack_period_ms: the floor; late_events: counted by the engine's scheduler.

Usage: python benchmarks/latency.py [--events 2000] [--period 128] [--rate 48000]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import rtmidi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stage.engine.events import Event, MidiMessage, Note  # noqa: E402
from stage.engine.state import PerformanceState  # noqa: E402
from stage.engine.time import PPQ  # noqa: E402

STEP_TICKS = PPQ // 16  # a 64th note: 31.25 ms at 120 bpm, a steady 32 notes a second
SEQ_SPAN = 48 * 126


def encode(i: int) -> tuple[int, int]:
    """Sequence number -> (pitch, velocity), so the receiver knows which note it heard."""
    i %= SEQ_SPAN
    return 36 + i % 48, 1 + i // 48


def decode(pitch: int, velocity: int) -> int:
    return (velocity - 1) * 48 + (pitch - 36)


class Stream:
    """The scheduled part: one short note every STEP_TICKS on channel 1."""

    name = "stream"

    def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
        first = -(-start // STEP_TICKS) * STEP_TICKS
        out: list[Event] = []
        for tick in range(first, end, STEP_TICKS):
            pitch, velocity = encode(tick // STEP_TICKS)
            out.append(Note(tick, STEP_TICKS // 2, pitch, velocity, 0, self.name))
        return out

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()


class Answer:
    """Answers each played note on channel 2 with the same pitch, at once."""

    name = "answer"

    def __init__(self) -> None:
        self.stamps: dict[int, int] = {}

    def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
        return ()

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        if not message.is_note_on:
            return ()
        self.stamps[message.data[1] * 128 + message.data[2]] = message.stamp_ns
        return [Note(state.tick, PPQ // 32, message.data[1], message.data[2], 1, self.name)]


def engine_main(seconds: float, report: Path) -> None:
    """The engine process: real ports, real clock, then a report of its own figures."""
    from stage.engine.live import run_live
    from stage.engine.ports.rtmidi_port import RtMidiInput, RtMidiOutput
    from stage.engine.prior import PriorFollower
    from stage.engine.runner import Engine
    from stage.engine.time import RealClock, TempoMap

    api = rtmidi.API_UNIX_JACK
    answer = Answer()
    sent: list[tuple[int, int]] = []  # (due clock ns, sent clock ns) of stream note-ons
    engine = Engine(RealClock(), TempoMap(120), PriorFollower(), [Stream(), answer],
                    [RtMidiOutput("bench-synth", api, watch=False)],
                    [RtMidiInput("bench-kbd", api, watch=False)])

    def on_sent(due, sent_ns: int) -> None:  # type: ignore[no-untyped-def]
        if due.event.part == "stream" and due.event.velocity:
            sent.append((engine.origin_ns + due.due_ns, sent_ns))

    engine.on_sent = on_sent
    stop_at = time.perf_counter_ns() + int(seconds * 1e9)
    run_live(engine, until=lambda: time.perf_counter_ns() >= stop_at)
    report.write_text(json.dumps({
        "origin_ns": engine.origin_ns, "sent": sent, "stamps": answer.stamps,
        "late": engine.scheduler.lateness.late, "events": engine.scheduler.lateness.sent,
    }))


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(arr, 50)), 3),
            "p99": round(float(np.percentile(arr, 99)), 3),
            "max": round(float(arr.max()), 3), "n": len(values)}


def start_jack(rate: int, period: int) -> subprocess.Popen[bytes]:
    name = f"stage-bench-{os.getpid()}"
    proc = subprocess.Popen([shutil.which("jackd") or "jackd", "-n", name, "-R", "-d", "dummy",
                             "-r", str(rate), "-p", str(period)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ["JACK_DEFAULT_SERVER"] = name
    time.sleep(1.5)
    if proc.poll() is not None:
        raise SystemExit("jackd failed to start (install jackd2)")
    return proc


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000, help="answers and scheduled notes each")
    parser.add_argument("--period", type=int, default=128)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--engine", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seconds", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.engine:
        engine_main(args.seconds, args.engine)
        return
    jackd = start_jack(args.rate, args.period)
    try:
        print(json.dumps(measure(args)))
    finally:
        jackd.terminate()
        jackd.wait()


def measure(args: argparse.Namespace) -> dict[str, object]:
    api = rtmidi.API_UNIX_JACK
    kbd = rtmidi.MidiOut(api, name="bench-kbd")
    kbd.open_virtual_port("bench-kbd")
    synth = rtmidi.MidiIn(api, name="bench-synth", queue_size_limit=8192)
    synth.open_virtual_port("bench-synth")
    heard: queue.Queue[tuple[int, list[int]]] = queue.Queue(maxsize=100_000)
    listening = threading.Event()

    def listen() -> None:
        # Poll rtmidi's queue (as the engine does): a Python callback would block JACK's
        # process thread on the GIL. Adds at most 0.2 ms to the figures heard here.
        while not listening.is_set():
            got = synth.get_message()
            if got is None:
                time.sleep(0.0002)
                continue
            heard.put_nowait((time.perf_counter_ns(), got[0]))

    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    answer_gap_s = 0.02
    seconds = max(args.events * answer_gap_s, args.events * STEP_TICKS / PPQ * 0.5) + 3
    report = Path(f"/tmp/stage-latency-{os.getpid()}.json")
    engine = subprocess.Popen([sys.executable, __file__, "--engine", str(report),
                               "--seconds", str(seconds)], stderr=subprocess.DEVNULL)
    time.sleep(1.5)  # the engine's ports come up and connect
    sent_at: dict[int, int] = {}
    stop = threading.Event()

    def player() -> None:
        for i in range(args.events):
            if stop.is_set():
                return
            pitch, velocity = 40 + i % 40, 1 + (i // 40) % 126
            sent_at[pitch * 128 + velocity] = time.perf_counter_ns()
            kbd.send_message([0x90, pitch, velocity])
            kbd.send_message([0x80, pitch, 0])
            time.sleep(answer_gap_s)

    thread = threading.Thread(target=player)
    thread.start()
    engine.wait(timeout=seconds + 30)
    stop.set()
    thread.join()
    time.sleep(0.3)
    listening.set()
    listener.join()
    data = json.loads(report.read_text())
    report.unlink()
    arrivals: dict[tuple[int, int], int] = {}  # (channel, key) -> first arrival
    while not heard.empty():
        stamp, msg = heard.get_nowait()
        if msg[0] & 0xF0 == 0x90 and msg[2] > 0:
            arrivals.setdefault((msg[0] & 0x0F, msg[1] * 128 + msg[2]), stamp)
    reaction, round_trip = [], []
    stamps = {int(k): v for k, v in data["stamps"].items()}
    for key, engine_in in stamps.items():
        got = arrivals.get((1, key))
        if got is not None:
            reaction.append((got - engine_in) / 1e6)
            if key in sent_at:
                round_trip.append((got - sent_at[key]) / 1e6)
    dispatch = [(sent - due) / 1e6 for due, sent in data["sent"]]
    arrival_err = []
    for index, (due, _) in enumerate(data["sent"]):
        pitch, velocity = encode(index)
        got = arrivals.get((0, pitch * 128 + velocity))
        if got is not None and index < SEQ_SPAN:
            arrival_err.append((got - due) / 1e6)
    synth.delete()
    kbd.delete()
    return {
        "benchmark": "latency", "jack_period_ms": round(args.period / args.rate * 1000, 3),
        "reaction_ms": percentiles(reaction), "round_trip_ms": percentiles(round_trip),
        "schedule_error_ms": percentiles(dispatch), "arrival_error_ms": percentiles(arrival_err),
        "answers_expected": args.events, "answers_heard": len(reaction),
        "scheduled_notes": len(dispatch), "late_events": data["late"],
        "events_sent": data["events"],
    }


if __name__ == "__main__":
    main()
