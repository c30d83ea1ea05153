"""OSC out to the VJ rig: cues translated through a preset, over UDP or TCP (SLIP, QLab).

Two modes. ``immediate``: each message leaves when its cue is due (the scheduler's time).
``bundle``: with ``latency_ns`` the scheduler hands the cue over that much early and it
leaves as an OSC bundle whose timetag is the cue's due wall time, so a receiver that honours
timetags (Resolume, TouchDesigner, liblo) acts on time whatever the network's jitter.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Literal

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message import OscMessage
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.tcp_client import SimpleTCPClient
from pythonosc.udp_client import UDPClient

from stage.engine.events import Cue, Event, OscArg
from stage.engine.ports.base import Output
from stage.engine.time import TempoMap
from stage.visuals.presets import Preset, load_preset

log = logging.getLogger(__name__)

Mode = Literal["immediate", "bundle"]
MODES: tuple[Mode, ...] = ("immediate", "bundle")
TCP_TIMEOUT_S = 2.0
"""How long connecting to a TCP peer (QLab) may take before the show goes on without it."""


@dataclass(frozen=True, slots=True)
class OscTarget:
    """Where cues go: ``HOST:PORT`` (UDP) or ``tcp://HOST:PORT`` (SLIP-framed, OSC 1.1)."""

    host: str
    port: int
    transport: Literal["udp", "tcp"] = "udp"

    @classmethod
    def parse(cls, text: str) -> OscTarget:
        transport: Literal["udp", "tcp"] = "udp"
        rest = text
        for scheme in ("udp", "tcp"):
            if text.startswith(f"{scheme}://"):
                transport, rest = scheme, text[len(scheme) + 3:]
        host, sep, port = rest.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"OSC target {text!r}: expected HOST:PORT or tcp://HOST:PORT")
        return cls(host.strip("[]"), int(port), transport)

    def __str__(self) -> str:
        return f"{self.transport}://{self.host}:{self.port}"


class OscOutput(Output):
    """An engine output for cues only (``accepts`` is True for :class:`Cue` alone)."""

    def __init__(self, target: OscTarget | str, preset: Preset | str = "generic",
                 mode: Mode = "immediate", latency_ns: int = 0) -> None:
        super().__init__()
        self.target = OscTarget.parse(target) if isinstance(target, str) else target
        self.preset = load_preset(preset) if isinstance(preset, str) else preset
        if mode not in MODES:
            raise ValueError(f"OSC mode {mode!r}: expected one of {', '.join(MODES)}")
        self.mode: Mode = mode
        # Only a bundle may leave early: an immediate message would act early.
        self.latency_ns = latency_ns if mode == "bundle" else 0
        self.name = f"osc {self.target} ({self.preset.name}, {mode})"
        # Wall clock (epoch ns) minus the engine's perf_counter clock, taken once at start.
        self.wall_offset_ns = time.time_ns() - time.perf_counter_ns()
        self._tempo: TempoMap | None = None
        self._origin_ns = 0
        self.messages_sent = 0
        self.messages_dropped = 0
        self._failing = False  # log a failing peer once per failure, not once per cue
        self._udp: UDPClient | None = None
        self._tcp: SimpleTCPClient | None = None
        self._connect()

    def _connect(self) -> None:
        if self.target.transport == "udp":
            self._udp = UDPClient(self.target.host, self.target.port)
            return
        try:  # OSC 1.1 over TCP: SLIP framing, as QLab speaks it
            self._tcp = SimpleTCPClient(self.target.host, self.target.port, mode="1.1",
                                        timeout=TCP_TIMEOUT_S)
        except OSError as exc:
            raise ConnectionError(f"OSC {self.target}: cannot connect ({exc})") from None
        # The engine thread must never wait on a stalled peer: a full buffer drops the cue.
        self._tcp.socket.settimeout(0.0)

    def accepts(self, event: Event) -> bool:
        return isinstance(event, Cue)

    def bind_timeline(self, tempo: TempoMap, origin_ns: int) -> None:
        """The show's tempo map and origin (perf_counter ns): the timetags' time base."""
        self._tempo = tempo
        self._origin_ns = origin_ns

    def due_wall_ns(self, tick: int) -> int | None:
        """The wall time (epoch ns) ``tick`` is due, or None before a timeline is bound."""
        if self._tempo is None:
            return None
        return self._origin_ns + self._tempo.ns_at(tick) + self.wall_offset_ns

    def packets(self, cue: Cue, tick: int) -> list[OscMessage | OscBundle]:
        """What ``cue`` at ``tick`` sends: one message per preset rule, or one bundle."""
        messages = [_message(address, args) for address, args in self.preset.translate(cue)]
        if not messages:
            return []
        if self.mode == "immediate":
            return list(messages)
        due = self.due_wall_ns(tick)
        # python-osc takes epoch seconds as a float (its int annotation is too narrow).
        builder = OscBundleBuilder(IMMEDIATELY if due is None else due / 1e9)  # type: ignore[arg-type]
        for message in messages:
            builder.add_content(message)
        return [builder.build()]

    def _send(self, event: Event, tick: int | None) -> None:
        # Panic hands every output note-offs and controllers: cues only here.
        if not isinstance(event, Cue):
            return
        client = self._udp if self._udp is not None else self._tcp
        for packet in self.packets(event, event.tick if tick is None else tick):
            if client is None:
                self.messages_dropped += 1
                continue
            try:
                client.send(packet)
            except OSError as exc:  # a rig that went away must not stop the band
                self.messages_dropped += 1
                self._peer_failed(exc)
                continue
            self.messages_sent += 1
            self._failing = False

    def _peer_failed(self, exc: OSError) -> None:
        if self._tcp is not None and not isinstance(exc, BlockingIOError):
            # The TCP peer hung up: stop sending rather than reconnect on the engine thread.
            log.warning("OSC %s: peer gone (%s); its cues are dropped from now on",
                        self.target, exc)
            self._tcp.close()
            self._tcp = None
        elif not self._failing:
            log.warning("OSC %s: send failed (%s); dropping cues until it recovers",
                        self.target, exc)
        self._failing = True

    def _close(self) -> None:
        if self._udp is not None:
            self._udp._sock.close()
        if self._tcp is not None:
            self._tcp.close()


def _message(address: str, args: tuple[OscArg, ...]) -> OscMessage:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    return builder.build()
