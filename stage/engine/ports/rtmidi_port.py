"""MIDI in and out over python-rtmidi: API by config or autodetected, ports by name substring.

Input: a reader thread stamps each message's arrival and hands the bytes to the engine's
bounded inbox, nothing else (see RtMidiInput for why it is not rtmidi's callback).
A watchdog thread notices a port that went away and reopens it when it comes back.
"""

from __future__ import annotations

import logging
import queue
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import rtmidi

from stage.engine.events import Event, MidiMessage
from stage.engine.ports.base import Input, Output

log = logging.getLogger(__name__)

API_NAMES: dict[str, int] = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
WATCH_INTERVAL_S = 1.0


class PortNotFound(LookupError):
    """No port matched; ``available`` lists what there is."""

    def __init__(self, wanted: str, direction: str, available: list[str]) -> None:
        self.available = available
        listing = ", ".join(repr(p) for p in available) or "none"
        super().__init__(f"no MIDI {direction} port matches {wanted!r}; available: {listing}")


class MidiApiUnavailable(RuntimeError):
    pass


def _platform_order() -> list[str]:
    if sys.platform == "darwin":
        return ["coremidi", "jack"]
    if sys.platform.startswith("win"):
        return ["winmm"]
    return ["alsa", "jack"]  # ALSA first; JACK where ALSA has no sequencer (this machine)


def choose_api(name: str = "auto") -> int:
    """The rtmidi API for ``name`` ('alsa', 'jack', 'coremidi', 'winmm' or 'auto').

    'auto' tries the platform's APIs in order and takes the first that opens a client.
    """
    compiled = set(rtmidi.get_compiled_api())
    candidates = _platform_order() if name == "auto" else [name]
    errors = []
    for candidate in candidates:
        api = API_NAMES.get(candidate)
        if api is None:
            raise MidiApiUnavailable(f"unknown MIDI API {candidate!r}; use {', '.join(API_NAMES)}")
        if api not in compiled:
            errors.append(f"{candidate}: not compiled in")
            continue
        try:
            probe = rtmidi.MidiOut(api, name="stage-probe")
        except (rtmidi.SystemError, RuntimeError) as exc:
            errors.append(f"{candidate}: {exc}")
            continue
        del probe
        return api
    raise MidiApiUnavailable("no MIDI API is usable: " + "; ".join(errors))


def api_name(api: int) -> str:
    return rtmidi.get_api_name(api)


def list_ports(api: int) -> tuple[list[str], list[str]]:
    """(input ports, output ports) that ``api`` sees now."""
    return rtmidi.MidiIn(api).get_ports(), rtmidi.MidiOut(api).get_ports()


def find_port(ports: list[str], wanted: str) -> int | None:
    """Index of the first port whose name contains ``wanted`` (exact match preferred)."""
    for i, port in enumerate(ports):
        if port == wanted:
            return i
    lowered = wanted.lower()
    for i, port in enumerate(ports):
        if lowered in port.lower():
            return i
    return None


class _PortHandle:
    """Opens an rtmidi object on a named port (or a virtual one) and reopens it on loss."""

    def __init__(self, factory: Callable[[], Any], wanted: str, virtual: bool,
                 client_name: str, direction: str) -> None:
        self._factory = factory
        self.wanted = wanted
        self.virtual = virtual
        self.client_name = client_name
        self.direction = direction
        self.port_name = ""
        self.midi: Any = None
        self.lost = False
        self.reconnects = 0

    def open(self) -> Any:
        midi = self._factory()
        if self.virtual:
            midi.open_virtual_port(self.wanted)
            self.port_name = self.wanted
        else:
            ports = midi.get_ports()
            index = find_port(ports, self.wanted)
            if index is None:
                midi.delete()
                raise PortNotFound(self.wanted, self.direction, ports)
            midi.open_port(index, name=self.client_name)
            self.port_name = ports[index]
        return midi

    def watch(self, prepare: Callable[[Any], None] | None = None, settle_s: float = 0.0) -> None:
        """Mark the port lost when it goes; reopen it (``prepare`` the fresh one) on return."""
        if not self.present() and not self.lost:
            self.lost = True
            log.warning("MIDI %s %r went away; playing on, will reconnect", self.direction,
                        self.port_name)
        elif self.lost:
            try:
                fresh = self.open()
            except PortNotFound:
                return
            if prepare is not None:
                prepare(fresh)
            old, self.midi = self.midi, fresh  # one assignment: users read self.midi once
            self.lost = False
            self.reconnects += 1
            log.warning("MIDI %s %r is back; reconnected", self.direction, self.port_name)
            time.sleep(settle_s)  # let a reader leave the old port before it goes
            old.delete()

    def present(self) -> bool:
        """Is the port we opened still there? (Virtual ports are ours: always.)"""
        if self.virtual or self.midi is None:
            return True
        try:
            return find_port(self.midi.get_ports(), self.port_name) is not None
        except Exception:
            return False


def _ignore_clock(midi: Any) -> None:
    """Sysex passes (the show log keeps it); clock and active sensing are not music."""
    midi.ignore_types(sysex=False, timing=True, active_sense=True)


class _Watchdog:
    """Checks every second that a port is present; reopens it when it comes back."""

    def __init__(self, check: Callable[[], None]) -> None:
        self._check = check
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="midi-port-watch", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(WATCH_INTERVAL_S):
            try:
                self._check()
            except Exception:
                log.exception("MIDI port watchdog failed")

    def stop(self) -> None:
        self._stop.set()


class _Watched:
    """What a watched port reports: gone now (``lost``), and how often it came back."""

    _handle: _PortHandle

    @property
    def lost(self) -> bool:
        return self._handle.lost

    @property
    def reconnects(self) -> int:
        return self._handle.reconnects


class RtMidiOutput(_Watched, Output):
    """A MIDI output port. ``latency_ns`` sends events that much early (a slow synth)."""

    def __init__(self, port: str, api: int, virtual: bool = False, latency_ns: int = 0,
                 client_name: str = "stage", watch: bool = True) -> None:
        super().__init__()
        self.api = api
        self.latency_ns = latency_ns
        self._handle = _PortHandle(lambda: rtmidi.MidiOut(api, name=client_name), port,
                                   virtual, client_name, "output")
        self._handle.midi = self._handle.open()
        self.name = self._handle.port_name
        self._watchdog = _Watchdog(self._watch) if watch and not virtual else None

    def _send(self, event: Event, tick: int | None) -> None:
        to_bytes = getattr(event, "to_bytes", None)
        if to_bytes is None or self.lost:
            return
        # One reference read: the watchdog may swap in a reopened port at any moment.
        self._handle.midi.send_message(to_bytes())

    def _watch(self) -> None:
        self._handle.watch()

    def _close(self) -> None:
        if self._watchdog:
            self._watchdog.stop()
        time.sleep(0.01)  # let a JACK backend flush its ring buffer before the port goes
        self._handle.midi.close_port()
        self._handle.midi.delete()


class RtMidiInput(_Watched, Input):
    """A MIDI input port. A small reader thread takes each message from rtmidi's own queue,
    stamps it and hands it to the engine's inbox.

    Why not rtmidi's callback: with JACK it runs on JACK's process thread, which would then
    wait for Python's GIL; a late process cycle lets JACK reuse the port buffer under it, and
    messages arrive duplicated or lost (seen here under load). Polling rtmidi's lock-free
    queue keeps JACK's thread out of Python at a cost of at most ``POLL_S`` of latency.
    """

    POLL_S = 0.0005
    QUEUE_LIMIT = 4096

    def __init__(self, port: str, api: int, virtual: bool = False,
                 client_name: str = "stage", watch: bool = True) -> None:
        self.api = api
        self._handle = _PortHandle(
            lambda: rtmidi.MidiIn(api, name=client_name, queue_size_limit=self.QUEUE_LIMIT),
            port, virtual, client_name, "input")
        self._handle.midi = self._handle.open()
        _ignore_clock(self._handle.midi)
        self.name = self._handle.port_name
        self.overflows = 0
        self._inbox: queue.Queue[MidiMessage] | None = None
        self._watch_enabled = watch and not virtual
        self._watchdog: _Watchdog | None = None
        self._stop = threading.Event()
        self._reader: threading.Thread | None = None

    def start(self, inbox: queue.Queue[MidiMessage]) -> None:
        """Deliver into ``inbox`` from now on (a new song's engine may take over the port)."""
        self._inbox = inbox
        if self._reader is None:
            self._reader = threading.Thread(target=self._read, name=f"midi-in {self.name}",
                                            daemon=True)
            self._reader.start()
            if self._watch_enabled:
                self._watchdog = _Watchdog(self._watch)

    def _read(self) -> None:
        while not self._stop.is_set():
            midi = self._handle.midi  # one read: the watchdog may swap in a reopened port
            got = midi.get_message()
            if got is None:
                time.sleep(self.POLL_S)
                continue
            stamp = time.perf_counter_ns()
            try:
                self._inbox.put_nowait(MidiMessage(stamp, bytes(got[0]), self.name))  # type: ignore[union-attr]
            except queue.Full:
                self.overflows += 1

    def _watch(self) -> None:
        self._handle.watch(_ignore_clock, settle_s=self.POLL_S * 4)

    def close(self) -> None:
        self._stop.set()
        if self._watchdog:
            self._watchdog.stop()
        if self._reader is not None:
            self._reader.join(timeout=1.0)
        midi = self._handle.midi
        midi.close_port()
        midi.delete()
