"""A test's own MIDI peer on JACK: a keyboard that plays and a synth that listens."""

from __future__ import annotations

import queue
import threading
import time

import rtmidi
from conftest import TIMEOUT_S


class Keyboard:
    """A virtual JACK MIDI output port named ``name`` that the engine connects to."""

    def __init__(self, name: str = "kbd") -> None:
        self.midi = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, name=f"test-{name}")
        self.midi.open_virtual_port(name)

    def play(self, *data: int) -> int:
        stamp = time.perf_counter_ns()
        self.midi.send_message(list(data))
        return stamp

    def close(self) -> None:
        self.midi.close_port()
        self.midi.delete()


class Synth:
    """A virtual JACK MIDI input port that keeps (arrival ns, bytes) of everything heard.

    It polls rtmidi's queue from a thread, like the engine does: a Python callback would run
    on JACK's process thread and wait there for the GIL (messages garbled under load).
    """

    def __init__(self, name: str = "synth") -> None:
        self.midi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, name=f"test-{name}",
                                  queue_size_limit=8192)
        self.midi.ignore_types(sysex=False, timing=False, active_sense=True)
        self.midi.open_virtual_port(name)
        self.heard: queue.Queue[tuple[int, list[int]]] = queue.Queue()
        self._stop = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            got = self.midi.get_message()
            if got is None:
                time.sleep(0.0002)
                continue
            self.heard.put((time.perf_counter_ns(), got[0]))

    def next(self, timeout: float = TIMEOUT_S) -> tuple[int, list[int]]:
        return self.heard.get(timeout=timeout)

    def drain(self, settle_s: float = 0.2) -> list[list[int]]:
        time.sleep(settle_s)
        out = []
        while True:
            try:
                out.append(self.heard.get_nowait()[1])
            except queue.Empty:
                return out

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=TIMEOUT_S)
        self.midi.close_port()
        self.midi.delete()


def wait_for_port(name: str, output: bool = True, timeout: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK) if output else rtmidi.MidiIn(
            rtmidi.API_UNIX_JACK)
        if any(name in port for port in probe.get_ports()):
            probe.delete()
            return
        probe.delete()
        time.sleep(0.05)
    raise TimeoutError(f"JACK port {name!r} never appeared")
