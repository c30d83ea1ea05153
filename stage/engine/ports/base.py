"""Output and input base classes: fill in a few methods, get panic and close for free.

Modelled on mido's ports: a subclass implements ``_send`` (and ``_close``); the base class
tracks sounding notes so that :meth:`Output.panic` and :meth:`Output.close` silence every
one of them, whatever path the show takes to its end.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Iterable

from stage.engine.events import (
    CC_ALL_NOTES_OFF,
    CC_ALL_SOUND_OFF,
    CC_SUSTAIN,
    ChannelEvent,
    ControlChange,
    Cue,
    Event,
    MidiMessage,
    NoteOff,
    NoteOn,
)
from stage.engine.time import TempoMap

log = logging.getLogger(__name__)

INBOX_SIZE = 4096
"""Bound of the queue between input callbacks and the engine thread."""


def new_inbox() -> queue.Queue[MidiMessage]:
    return queue.Queue(maxsize=INBOX_SIZE)


class Output:
    """Where events go. ``latency_ns`` is how early events must leave to sound on time."""

    name: str = "output"
    latency_ns: int = 0

    def __init__(self) -> None:
        self._sounding: set[tuple[int, int]] = set()  # (channel, pitch)
        self._lock = threading.Lock()  # panic may come from a signal handler's thread
        self.closed = False

    def accepts(self, event: Event) -> bool:
        """True for the kinds of event this output plays (MIDI channel events by default)."""
        return not isinstance(event, Cue)

    def bind_timeline(self, tempo: TempoMap, origin_ns: int) -> None:
        """Told at each song's start: its tempo map and origin (clock ns). Outputs that stamp
        their messages with due times (OSC bundles) keep them; others ignore it."""

    def send(self, event: Event, tick: int | None = None) -> None:
        """Play ``event`` now; ``tick`` is the musical time it stands for (for recorders)."""
        if self.closed:
            return
        if isinstance(event, NoteOn):
            self._sounding.add((event.channel, event.pitch))
        elif isinstance(event, NoteOff):
            self._sounding.discard((event.channel, event.pitch))
        self._send(event, event.tick if tick is None else tick)

    def panic(self) -> None:
        """Note-off for every sounding note, then sustain off and all-notes-off everywhere."""
        with self._lock:
            sounding, self._sounding = self._sounding, set()
            try:
                for channel, pitch in sorted(sounding):
                    self._send(NoteOff(0, pitch, 0, channel, "panic"), None)
                for channel in range(16):
                    for control in (CC_SUSTAIN, CC_ALL_SOUND_OFF, CC_ALL_NOTES_OFF):
                        self._send(ControlChange(0, control, 0, channel, "panic"), None)
            except Exception:  # an output that fails while silencing must not hide others
                log.exception("panic on output %s failed", self.name)

    def close(self) -> None:
        """Panic, then release the device. Safe to call twice."""
        if self.closed:
            return
        self.panic()
        self.closed = True
        try:
            self._close()
        except Exception:
            log.exception("closing output %s failed", self.name)

    @property
    def sounding(self) -> frozenset[tuple[int, int]]:
        return frozenset(self._sounding)

    def _send(self, event: Event, tick: int | None) -> None:
        raise NotImplementedError

    def _close(self) -> None:
        pass


class Input:
    """A source of MIDI messages. Live inputs put into the engine's inbox from a callback;
    scheduled inputs (a file performer on the virtual clock) are polled by due time."""

    name: str = "input"
    ends: bool = False
    """True for inputs that play out (a file performer); live ports never end."""

    def start(self, inbox: queue.Queue[MidiMessage]) -> None:
        """Begin delivering messages into ``inbox``."""

    def next_due_ns(self) -> int | None:
        """Wall time (ns) of the next message a polled input will give, or None."""
        return None

    def pop_due(self, now_ns: int) -> list[MidiMessage]:
        """Messages due at or before ``now_ns`` (ns), for polled inputs."""
        return []

    @property
    def finished(self) -> bool:
        """True when the input will never give another message (a file played to its end)."""
        return False

    def close(self) -> None:
        pass


class MemoryOutput(Output):
    """Keeps everything sent, with the tick it stood for: the fake for tests."""

    def __init__(self, name: str = "memory", latency_ns: int = 0) -> None:
        super().__init__()
        self.name = name
        self.latency_ns = latency_ns
        self.sent: list[tuple[int | None, Event]] = []

    def _send(self, event: Event, tick: int | None) -> None:
        self.sent.append((tick, event))

    def events(self, kinds: Iterable[type] = (NoteOn, NoteOff)) -> list[ChannelEvent]:
        wanted = tuple(kinds)
        return [e for _, e in self.sent if isinstance(e, wanted)]  # type: ignore[misc]
