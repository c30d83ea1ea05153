"""MIDI clock: 24 per quarter on the tick grid, transport messages, and a real JACK port
receiving the clock at the followed tempo (a tempo change mid-way)."""

from __future__ import annotations

import itertools
import shutil
import statistics
import subprocess

import pytest
from conftest import TIMEOUT_S
from jack_peer import Synth

from stage.engine.events import MidiBytes, NoteOn
from stage.engine.ports.base import MemoryOutput
from stage.engine.scheduler import Scheduler
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ, RealClock, TempoMap
from stage.visuals.midiclock import (
    CLOCK,
    CONTINUE,
    START,
    STOP,
    ClockOutput,
    MidiClock,
    song_position,
)


def data(events: list) -> list[tuple[int, bytes]]:
    return [(e.tick, e.data) for e in events if isinstance(e, MidiBytes)]


def run_windows(clock: MidiClock, bounds: list[int]) -> list[tuple[int, bytes]]:
    out: list[tuple[int, bytes]] = []
    for start, end in itertools.pairwise(bounds):
        got = data(list(clock.window(PerformanceState(), start, end)))
        assert all(start <= tick < end for tick, _ in got)
        out += got
    return out


def test_24_clocks_per_quarter_once_each_whatever_the_windows() -> None:
    even = run_windows(MidiClock(), list(range(0, 2 * PPQ + 1, 240)))
    ragged = run_windows(MidiClock(), [0, 1, 39, 41, 500, 1001, 1919, 2 * PPQ])
    assert even == ragged
    assert even[:2] == [(0, song_position(0)), (0, START)]
    clocks = [tick for tick, b in even if b == CLOCK]
    assert clocks == list(range(0, 2 * PPQ, PPQ // 24))
    assert len(clocks) == 48


def test_joining_mid_song_continues_from_the_next_sixteenth() -> None:
    clock = MidiClock(song_start_tick=0)
    got = run_windows(clock, [4 * PPQ + 7, 4 * PPQ + 100, 5 * PPQ])
    # Bar 2 of 4/4 plus a hair: the next sixteenth is 17 sixteenths in.
    assert got[:2] == [(4 * PPQ + 240, song_position(17)), (4 * PPQ + 240, CONTINUE)]
    assert song_position(17) == b"\xf2\x11\x00"
    assert song_position(200) == bytes((0xF2, 200 & 0x7F, 200 >> 7))
    assert next(t for t, b in got if b == CLOCK) == 4 * PPQ + 240


def test_stop_silences_the_clock_and_resume_continues() -> None:
    clock = MidiClock()
    run_windows(clock, [0, PPQ])
    assert data(clock.stop(PPQ)) == [(PPQ, STOP)]
    assert run_windows(clock, [PPQ, 2 * PPQ]) == []
    assert data(clock.resume(2 * PPQ + 1)) == [(2 * PPQ + 240, song_position(9)),
                                               (2 * PPQ + 240, CONTINUE)]
    got = run_windows(clock, [2 * PPQ, 3 * PPQ])
    assert got[0] == (2 * PPQ + 240, CLOCK)


def play(clock: MidiClock, tempo: TempoMap, send: object, until_tick: int) -> None:
    """A small engine loop on the real clock: one-beat windows, sent when due."""
    real = RealClock()
    scheduler = Scheduler(tempo)
    scheduler.add_output("clock")
    origin = real.now_ns()
    planned = 0
    while True:
        now = real.now_ns() - origin
        while planned < until_tick and planned <= tempo.tick_at(now) + PPQ:
            for event in clock.window(PerformanceState(), planned, planned + PPQ // 2):
                scheduler.schedule(event, "clock")
            planned += PPQ // 2
        for due in scheduler.pop_due(now):
            send(due.event.to_bytes())  # type: ignore[operator,union-attr]
        following = scheduler.next_due_ns()
        if following is None and planned >= until_tick:
            return
        real.wait(origin + (following if following is not None else now + 1_000_000))


def test_a_jack_port_receives_24_clocks_per_beat_at_the_followed_tempo(
        jack_server: str) -> None:
    rtmidi = pytest.importorskip("rtmidi")
    if shutil.which("jack_connect") is None:
        pytest.skip("jack_connect is not installed (jackd2)")
    receiver = Synth("clock-in")
    got: list[tuple[int, bytes]] = []
    sender = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name="stage-clock-tx")
    sender.open_virtual_port("clock-out")
    try:
        subprocess.run(["jack_connect", "stage-clock-tx:clock-out", "test-clock-in:clock-in"],
                       check=True, timeout=TIMEOUT_S)
        # The follower hears the performer push from 120 to 180 bpm after two beats.
        tempo = TempoMap(120.0)
        tempo.set_tempo(180.0, 2 * PPQ)
        play(MidiClock(), tempo, lambda b: sender.send_message(list(b)), 4 * PPQ)
        while len([b for _, b in got if b == CLOCK]) < 96:
            stamp, message = receiver.next()  # raises queue.Empty after TIMEOUT_S
            got.append((stamp, bytes(message)))
    finally:
        sender.close_port()
        sender.delete()
        receiver.close()
    kinds = [b for _, b in got]
    assert kinds[:2] == [song_position(0), START]
    stamps = [ns for ns, b in got if b == CLOCK]
    assert len(stamps) == 96  # 24 per beat for four beats, none lost, none doubled
    slow = statistics.median(b - a for a, b in itertools.pairwise(stamps[:48]))
    fast = statistics.median(b - a for a, b in itertools.pairwise(stamps[48:]))
    # 120 bpm: 20.8 ms per clock; 180 bpm: 13.9 ms. The medians say which tempo played.
    assert slow == pytest.approx(60e9 / 120 / 24, rel=0.1)
    assert fast == pytest.approx(60e9 / 180 / 24, rel=0.1)


def test_clock_output_takes_only_the_clock_and_stops_it_on_close() -> None:
    port = MemoryOutput("drum-machine")
    output = ClockOutput(port)
    assert output.accepts(MidiBytes(0, CLOCK, "clock"))
    assert not output.accepts(MidiBytes(0, b"\xf0\x7e\xf7", "band"))
    assert not output.accepts(NoteOn(0, 60, 100))
    for event in MidiClock().window(PerformanceState(), 0, 80):
        output.send(event)
    output.close()
    output.close()
    sent = [e.data for _, e in port.sent if isinstance(e, MidiBytes)]
    assert sent == [song_position(0), START, CLOCK, CLOCK, STOP]
    assert not port.events()  # no note-ons or note-offs on a clock port
    assert port.closed
