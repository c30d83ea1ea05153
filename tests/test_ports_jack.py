"""MIDI through real JACK ports (dummy driver): in, out, silence on every way out."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
import rtmidi
from conftest import TIMEOUT_S
from jack_peer import Keyboard, Synth, wait_for_port

from stage.engine.events import Event, MidiMessage, Note
from stage.engine.ports.rtmidi_port import PortNotFound, RtMidiInput, RtMidiOutput, choose_api
from stage.engine.prior import PriorFollower
from stage.engine.runner import Engine
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ, RealClock, TempoMap

pytestmark = pytest.mark.jack
ROOT = Path(__file__).resolve().parents[1]


class Fifth:
    """Answers every played note with its fifth above, at once."""

    name = "harmony"

    def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
        return ()

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        if message.is_note_on:
            return [Note(state.tick, PPQ // 8, message.data[1] + 7, message.data[2], 3, "harmony")]
        return ()


@pytest.fixture
def peers(jack_server: str) -> Iterator[tuple[Keyboard, Synth]]:
    keyboard, synth = Keyboard(), Synth()
    yield keyboard, synth
    keyboard.close()
    synth.close()


def _start(engine: Engine) -> tuple[threading.Event, threading.Thread]:
    stop = threading.Event()
    engine.start()
    thread = threading.Thread(target=engine.run, args=(stop,), daemon=True)
    thread.start()
    return stop, thread


def test_auto_api_picks_jack_where_alsa_has_no_sequencer(jack_server: str) -> None:
    api = choose_api("auto")
    if os.path.exists("/dev/snd/seq"):
        pytest.skip("this machine has an ALSA sequencer")
    assert api == rtmidi.API_UNIX_JACK


def test_played_notes_are_answered_through_real_ports(peers: tuple[Keyboard, Synth]) -> None:
    keyboard, synth = peers
    api = rtmidi.API_UNIX_JACK
    engine = Engine(RealClock(), TempoMap(120), PriorFollower(), [Fifth()],
                    [RtMidiOutput("synth", api, watch=False)], [RtMidiInput("kbd", api)])
    stop, thread = _start(engine)
    try:
        for pitch in (60, 62, 64):
            keyboard.play(0x90, pitch, 100)
            _, answer = synth.next()
            assert answer == [0x93, pitch + 7, 100]
            _, off = synth.next()
            assert off == [0x83, pitch + 7, 0]
            keyboard.play(0x80, pitch, 0)
    finally:
        stop.set()
        thread.join(TIMEOUT_S)
    closing = synth.drain()
    # closing sends sustain-off, all-sound-off and all-notes-off on all 16 channels
    for channel in range(16):
        assert [0xB0 | channel, 123, 0] in closing
        assert [0xB0 | channel, 64, 0] in closing


def test_notes_sounding_at_stop_get_their_note_off(peers: tuple[Keyboard, Synth]) -> None:
    _, synth = peers
    api = rtmidi.API_UNIX_JACK

    class Drone:
        name = "pad"

        def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
            return [Note(start, 64 * PPQ, 50, 90, 4, "pad")] if start == 0 else []

        def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
            return ()

    engine = Engine(RealClock(), TempoMap(120), PriorFollower(), [Drone()],
                    [RtMidiOutput("synth", api, watch=False)], [])
    stop, thread = _start(engine)
    assert synth.next()[1] == [0x94, 50, 90]
    stop.set()
    thread.join(TIMEOUT_S)
    assert synth.drain()[0] == [0x84, 50, 0]  # the owed note-off comes first, then the panic


def test_unknown_port_lists_the_available_ones(peers: tuple[Keyboard, Synth]) -> None:
    with pytest.raises(PortNotFound, match="synth"):
        RtMidiOutput("no-such-port", rtmidi.API_UNIX_JACK, watch=False)


def _stage(*args: str) -> list[str]:
    return [sys.executable, "-m", "stage.cli", *args]


def test_cli_unknown_port_exits_2_with_the_list(peers: tuple[Keyboard, Synth]) -> None:
    proc = subprocess.run(_stage("run", "--api", "jack", "--out", "nowhere"),
                          capture_output=True, text=True, timeout=TIMEOUT_S * 3)
    assert proc.returncode == 2
    assert "no MIDI output port matches 'nowhere'" in proc.stderr
    assert "test-synth:synth" in proc.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_show_with_all_notes_off(peers: tuple[Keyboard, Synth],
                                                   sig: signal.Signals) -> None:
    keyboard, synth = peers
    proc = subprocess.Popen(_stage("run", "--api", "jack", "--in", "kbd", "--out", "synth",
                                   "--tempo", "240"),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port("stage-in")  # the engine's input port is up
        deadline = time.monotonic() + TIMEOUT_S
        heard: list[list[int]] = []
        keyboard.play(0x90, 45, 100)  # hold A2: the band plays around it
        while not any(m[0] & 0xF0 == 0x90 and m[2] for m in heard):
            assert time.monotonic() < deadline, f"the band never played: {heard}"
            try:
                heard.append(synth.next(timeout=0.5)[1])
            except Exception:
                keyboard.play(0x90, 45, 100)
        proc.send_signal(sig)
        assert proc.wait(timeout=TIMEOUT_S) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
    heard += synth.drain(0.3)
    sounding: set[tuple[int, int]] = set()
    for msg in heard:
        if msg[0] & 0xF0 == 0x90 and msg[2] > 0:
            sounding.add((msg[0] & 0x0F, msg[1]))
        elif msg[0] & 0xF0 == 0x80 or (msg[0] & 0xF0 == 0x90 and msg[2] == 0):
            sounding.discard((msg[0] & 0x0F, msg[1]))
    assert sounding == set(), f"stuck notes: {sounding} in {heard}"
    assert all([0xB0 | ch, 123, 0] in heard for ch in range(16))


def test_output_reconnects_when_its_port_returns(jack_server: str) -> None:
    api = rtmidi.API_UNIX_JACK
    synth = Synth("synth2")
    output = RtMidiOutput("synth2", api, watch=True)
    try:
        output.send(_cc(1))
        assert synth.next()[1] == [0xB0, 1, 1]
        synth.close()
        deadline = time.monotonic() + TIMEOUT_S
        while not output.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert output.lost
        output.send(_cc(2))  # playing on: no exception while the port is gone
        synth = Synth("synth2")
        while output.lost and time.monotonic() < deadline + TIMEOUT_S:
            time.sleep(0.05)
        assert not output.lost and output.reconnects == 1
        output.send(_cc(3))
        assert synth.next()[1] == [0xB0, 1, 3]
    finally:
        output.close()
        synth.close()


def _cc(value: int) -> Event:
    from stage.engine.events import ControlChange

    return ControlChange(0, 1, value, 0)


def test_input_reconnects_when_its_port_returns(jack_server: str) -> None:
    import queue

    keyboard = Keyboard("kbd2")
    source = RtMidiInput("kbd2", rtmidi.API_UNIX_JACK, watch=True)
    inbox: queue.Queue = queue.Queue()
    source.start(inbox)
    try:
        keyboard.play(0x90, 60, 1)
        assert inbox.get(timeout=TIMEOUT_S).data == bytes((0x90, 60, 1))
        keyboard.close()
        deadline = time.monotonic() + TIMEOUT_S
        while not source.lost and time.monotonic() < deadline:
            time.sleep(0.05)
        assert source.lost
        keyboard = Keyboard("kbd2")
        while source.lost and time.monotonic() < deadline + TIMEOUT_S:
            time.sleep(0.05)
        assert source.reconnects == 1
        keyboard.play(0x90, 62, 2)
        assert inbox.get(timeout=TIMEOUT_S).data == bytes((0x90, 62, 2))
    finally:
        source.close()
        keyboard.close()
