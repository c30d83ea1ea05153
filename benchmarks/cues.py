"""Cue and MIDI clock timing while a show plays, on the real clock.

The engine (stage.engine.runner.Engine, real clock, its own thread) plays a busy note part
(a 64th-note stream: the baseline, measured in the same run), the cue generator and the MIDI
clock, with the tempo moving (a ramp of tempo changes, as a follower would append them). Cues
go out as OSC over UDP to a receiver socket in this process. Prints one JSON object:
- cue_send_error_ms: /stage/beat cue handed to the socket vs the beat's scheduled time;
- cue_arrival_error_ms: the same cue read by the receiver vs its scheduled time;
- clock_send_error_ms: MIDI clock (0xF8) sent vs its scheduled time;
- clock_interval_error_ms: interval between consecutive clocks vs the tempo's ideal interval;
- note_send_error_ms: the baseline, the note stream's note-ons vs their scheduled time;
- late_events (beyond the scheduler's 1 ms tolerance) and events.
Events at tick 0 are due the moment the engine starts, while it plans its first windows:
they are left out of the figures and their worst error reported as start_ms.

Usage: python benchmarks/cues.py [--seconds 30]
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from stage.engine.events import Cue, Event, MidiBytes, MidiMessage, Note, NoteOn  # noqa: E402
from stage.engine.live import run_live  # noqa: E402
from stage.engine.ports.base import Output  # noqa: E402
from stage.engine.prior import PriorFollower  # noqa: E402
from stage.engine.runner import Engine  # noqa: E402
from stage.engine.scheduler import Due  # noqa: E402
from stage.engine.state import PerformanceState  # noqa: E402
from stage.engine.time import PPQ, RealClock, TempoMap  # noqa: E402
from stage.visuals.cues import CueGenerator  # noqa: E402
from stage.visuals.midiclock import CLOCK, MidiClock  # noqa: E402
from stage.visuals.osc import OscOutput  # noqa: E402

STEP_TICKS = PPQ // 16  # a 64th note: 32 notes a second at 120 bpm


class Stream:
    """The baseline part: one short note every STEP_TICKS."""

    name = "stream"

    def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
        first = -(-start // STEP_TICKS) * STEP_TICKS
        return [Note(t, STEP_TICKS // 2, 60 + (t // STEP_TICKS) % 12, 90, 1, self.name)
                for t in range(first, end, STEP_TICKS)]

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()


class NullMidi(Output):
    """A MIDI output that drops what it is sent: the send cost is the engine's alone."""

    name = "null-midi"

    def _send(self, event: Event, tick: int | None) -> None:
        pass


class Receiver:
    """A UDP socket on localhost stamping each datagram's arrival (perf_counter ns)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.arrivals: list[tuple[int, bytes]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            self.arrivals.append((time.perf_counter_ns(), data))

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def percentiles(values: Sequence[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=float)
    return {"p50": round(float(np.percentile(arr, 50)), 3),
            "p99": round(float(np.percentile(arr, 99)), 3),
            "max": round(float(arr.max()), 3), "n": len(arr)}


def tempo_ramp(seconds: float) -> TempoMap:
    """120 bpm, then every bar a step towards 140 and back: a performer pushing and easing."""
    tempo = TempoMap(120.0)
    bars = int(seconds * 140 / 60 / 4) + 2
    for bar in range(1, bars):
        bpm = 120.0 + 20.0 * (1 - abs((bar % 16) - 8) / 8)
        tempo.set_tempo(bpm, bar * 4 * PPQ)
    return tempo


def measure(seconds: float) -> dict[str, object]:
    receiver = Receiver()
    tempo = tempo_ramp(seconds)
    osc = OscOutput(f"127.0.0.1:{receiver.port}", "generic", "immediate")
    engine = Engine(RealClock(), tempo, PriorFollower(),
                    [Stream(), CueGenerator(), MidiClock()], [NullMidi(), osc])
    start: list[int] = []  # error (ns) of events at tick 0, due as the engine starts
    beats: list[tuple[int, int]] = []  # (due clock ns, sent clock ns) per /stage/beat cue
    clocks: list[tuple[int, int, int]] = []  # (tick, due clock ns, sent clock ns)
    notes: list[tuple[int, int]] = []

    def on_sent(due: Due, sent_ns: int) -> None:
        event, due_ns = due.event, engine.origin_ns + due.due_ns
        if event.tick == 0:
            start.append(sent_ns - due_ns)
        elif isinstance(event, Cue) and event.address == "/stage/beat":
            beats.append((due_ns, sent_ns))
        elif isinstance(event, MidiBytes) and event.data == CLOCK:
            clocks.append((event.tick, due_ns, sent_ns))
        elif isinstance(event, NoteOn) and event.part == "stream":
            notes.append((due_ns, sent_ns))

    engine.on_sent = on_sent
    stop_at = time.perf_counter_ns() + int(seconds * 1e9)
    run_live(engine, until=lambda: time.perf_counter_ns() >= stop_at)
    time.sleep(0.1)
    receiver.close()
    beat_arrivals = [ns for ns, data in receiver.arrivals if data.startswith(b"/stage/beat\x00")]
    figures = summarize(engine, tempo, beats, clocks, notes, beat_arrivals[1:])
    figures["start_ms"] = round(max(start) / 1e6, 3) if start else None
    return figures


def summarize(engine: Engine, tempo: TempoMap, beats: list[tuple[int, int]],
              clocks: list[tuple[int, int, int]], notes: list[tuple[int, int]],
              beat_arrivals: list[int]) -> dict[str, object]:
    matched = min(len(beat_arrivals), len(beats))
    intervals = [((b[2] - a[2]) - (tempo.ns_at(b[0]) - tempo.ns_at(a[0]))) / 1e6
                 for a, b in itertools.pairwise(clocks)]
    return {
        "cue_send_error_ms": percentiles([(s - d) / 1e6 for d, s in beats]),
        "cue_arrival_error_ms": percentiles(
            [(beat_arrivals[i] - beats[i][0]) / 1e6 for i in range(matched)]),
        "clock_send_error_ms": percentiles([(s - d) / 1e6 for _, d, s in clocks]),
        "clock_interval_error_ms": percentiles([abs(v) for v in intervals]),
        "note_send_error_ms (baseline)": percentiles([(s - d) / 1e6 for d, s in notes]),
        "late_events": engine.scheduler.lateness.late,
        "events": engine.scheduler.lateness.sent,
        "beat_cues_sent": len(beats), "beat_cues_received": len(beat_arrivals),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0)
    args = parser.parse_args()
    print(json.dumps(measure(args.seconds)))


if __name__ == "__main__":
    main()
