"""MIDI clock out: 24 clocks per quarter note, start/stop/continue and song position.

A generator like any part: it stamps each clock (0xF8) on its tick, every ``PPQ // 24``
ticks, and the scheduler turns ticks into wall time through the followed tempo map when they
come due, so the clock speeds up and slows down with the performer without any code here.
Route its events to a MIDI port of their own (a drum machine, a lighting desk, Resolume's
MIDI clock input); the synth and the recorder ignore :class:`MidiBytes`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from stage.engine.events import Event, MidiBytes, MidiMessage
from stage.engine.ports.base import Output
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ

log = logging.getLogger(__name__)

CLOCKS_PER_QUARTER = 24
TICKS_PER_CLOCK = PPQ // CLOCKS_PER_QUARTER
"""40 ticks at PPQ 960: one MIDI clock."""
TICKS_PER_MIDI_BEAT = PPQ // 4
"""Song position counts 'MIDI beats': sixteenth notes (6 clocks)."""
MAX_SONG_POSITION = 0x3FFF

CLOCK = b"\xf8"
START = b"\xfa"
CONTINUE = b"\xfb"
STOP = b"\xfc"


def song_position(sixteenths: int) -> bytes:
    """Song position pointer (0xF2): sixteenths since the song's start, 14 bits LSB first."""
    value = min(max(sixteenths, 0), MAX_SONG_POSITION)
    return bytes((0xF2, value & 0x7F, value >> 7))


class MidiClock:
    """A generator (name ``midi-clock``) of MIDI clock from the show's tempo map.

    The first window starts the clock: at the song's start (``song_start_tick``) a song
    position of 0 and Start (0xFA); joined later, the position of the next sixteenth and
    Continue (0xFB) there, so a receiver lands on the right bar. Then a clock every 40 ticks
    on the absolute grid, never repeated whatever the window bounds. :meth:`stop` and
    :meth:`resume` give the events for a stop or a pause's end, to schedule or send at once.
    """

    name = "midi-clock"

    def __init__(self, song_start_tick: int = 0, part: str = "clock") -> None:
        self.song_start_tick = song_start_tick
        self.part = part
        self.running = False
        self._next_tick: int | None = None  # the next clock's tick once running
        self.clocks = 0

    def window(self, state: PerformanceState, start_tick: int, end_tick: int
               ) -> Sequence[Event]:
        """Clocks (and a start, once) for ticks in [start_tick, end_tick)."""
        if end_tick <= start_tick:
            return []
        events: list[Event] = []
        if self._next_tick is None:
            begin = self._begin_at(start_tick)
            if begin >= end_tick:  # the first sixteenth falls in a later window
                return []
            self._next_tick = begin
            events += self._transport(begin)
        if not self.running:
            return events
        tick = max(self._next_tick, _ceil_to(start_tick, TICKS_PER_CLOCK))
        while tick < end_tick:
            events.append(MidiBytes(tick, CLOCK, self.part))
            self.clocks += 1
            tick += TICKS_PER_CLOCK
        self._next_tick = tick
        return events

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()

    def stop(self, tick: int) -> list[Event]:
        """Stop (0xFC) at ``tick``: no more clocks until :meth:`resume`."""
        self.running = False
        return [MidiBytes(tick, STOP, self.part)]

    def resume(self, tick: int) -> list[Event]:
        """Song position and Continue at the first sixteenth at or after ``tick``; clocks
        follow from the next window on."""
        self._next_tick = self._begin_at(tick)
        return self._transport(self._next_tick)

    def _begin_at(self, tick: int) -> int:
        """The first sixteenth at or after ``tick`` (a song position must name one)."""
        offset = max(tick - self.song_start_tick, 0)
        return self.song_start_tick + _ceil_to(offset, TICKS_PER_MIDI_BEAT)

    def _transport(self, tick: int) -> list[Event]:
        sixteenths = (tick - self.song_start_tick) // TICKS_PER_MIDI_BEAT
        self.running = True
        message = START if sixteenths == 0 else CONTINUE
        return [MidiBytes(tick, song_position(sixteenths), self.part),
                MidiBytes(tick, message, self.part)]

def _ceil_to(value: int, step: int) -> int:
    return -(-value // step) * step


class ClockOutput(Output):
    """A MIDI port for the clock alone: takes only the clock's :class:`MidiBytes` (``part``),
    and on every exit (panic or close) sends Stop once instead of note-offs, so a drum
    machine or lighting desk following it stops with the show."""

    def __init__(self, port: Output, part: str = "clock") -> None:
        super().__init__()
        self.port = port
        self.part = part
        self.name = f"clock {port.name}"
        self.latency_ns = port.latency_ns
        self._running = False

    def accepts(self, event: Event) -> bool:
        return isinstance(event, MidiBytes) and event.part == self.part

    def _send(self, event: Event, tick: int | None) -> None:
        if isinstance(event, MidiBytes):
            if event.data in (START, CONTINUE):
                self._running = True
            elif event.data == STOP:
                self._running = False
        self.port.send(event, tick)

    def panic(self) -> None:
        if self._running:
            self._running = False
            try:
                self.port.send(MidiBytes(0, STOP, self.part), None)
            except Exception:  # a port gone missing must not hide the other outputs' panic
                log.exception("stopping the MIDI clock on %s failed", self.name)

    def _close(self) -> None:
        # The clock's port carries no notes: release it without the note panic's CCs, so a
        # drum machine following it sees Stop last.
        self.port.closed = True
        self.port._close()
