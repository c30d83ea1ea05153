"""Beat-stamped, immutable events: what parts produce and outputs play.

Every event carries ``tick`` (ticks since the show's origin, ``PPQ`` per quarter) and the
``part`` that made it. A :class:`Note` carries its duration; the scheduler expands it into a
note-on and its note-off, so a note-on always gets its note-off.
"""

from __future__ import annotations

from dataclasses import dataclass, field

OscArg = int | float | str


@dataclass(frozen=True, slots=True)
class Note:
    """A whole note: ``tick`` and ``duration`` in ticks, ``pitch`` 0-127, ``velocity`` 1-127.

    ``source`` is the note's provenance for the show log and credits: what made it, e.g.
    ``"style:funk/main_b"`` or ``"model:accompanist@3f2a9c1e0b7d"`` (checkpoint hash).
    """

    tick: int
    duration: int
    pitch: int
    velocity: int
    channel: int = 0
    part: str = ""
    source: str = ""


@dataclass(frozen=True, slots=True)
class NoteOn:
    tick: int
    pitch: int
    velocity: int
    channel: int = 0
    part: str = ""

    def to_bytes(self) -> bytes:
        return bytes((0x90 | self.channel, self.pitch, self.velocity))


@dataclass(frozen=True, slots=True)
class NoteOff:
    tick: int
    pitch: int
    velocity: int = 0
    channel: int = 0
    part: str = ""

    def to_bytes(self) -> bytes:
        return bytes((0x80 | self.channel, self.pitch, self.velocity))


@dataclass(frozen=True, slots=True)
class ControlChange:
    tick: int
    control: int
    value: int
    channel: int = 0
    part: str = ""

    def to_bytes(self) -> bytes:
        return bytes((0xB0 | self.channel, self.control, self.value))


@dataclass(frozen=True, slots=True)
class ProgramChange:
    tick: int
    program: int
    channel: int = 0
    part: str = ""

    def to_bytes(self) -> bytes:
        return bytes((0xC0 | self.channel, self.program))


@dataclass(frozen=True, slots=True)
class PitchBend:
    """``value`` from -8192 (down) to 8191 (up); 0 is centre."""

    tick: int
    value: int
    channel: int = 0
    part: str = ""

    def to_bytes(self) -> bytes:
        raw = self.value + 8192
        return bytes((0xE0 | self.channel, raw & 0x7F, raw >> 7))


@dataclass(frozen=True, slots=True)
class MidiBytes:
    """Raw MIDI bytes at ``tick``: clock (0xF8), start/stop/continue, song position, sysex."""

    tick: int
    data: bytes
    part: str = ""

    def to_bytes(self) -> bytes:
        return self.data


@dataclass(frozen=True, slots=True)
class Cue:
    """A cue for the VJ rig: an address in the ``/stage/...`` space and its arguments."""

    tick: int
    address: str
    args: tuple[OscArg, ...] = field(default=())
    part: str = "cue"


ChannelEvent = NoteOn | NoteOff | ControlChange | ProgramChange | PitchBend
MidiEvent = ChannelEvent | MidiBytes
Event = Note | MidiEvent | Cue

CC_SUSTAIN = 64
CC_ALL_SOUND_OFF = 120
CC_RESET_ALL_CONTROLLERS = 121
CC_ALL_NOTES_OFF = 123


@dataclass(frozen=True, slots=True)
class MidiMessage:
    """A MIDI message heard on an input: ``stamp_ns`` is its arrival (wall ns)."""

    stamp_ns: int
    data: bytes
    port: str = ""

    @property
    def status(self) -> int:
        return self.data[0] & 0xF0 if self.data else 0

    @property
    def channel(self) -> int:
        return self.data[0] & 0x0F if self.data else 0

    @property
    def is_note_on(self) -> bool:
        return self.status == 0x90 and len(self.data) >= 3 and self.data[2] > 0

    @property
    def is_note_off(self) -> bool:
        return len(self.data) >= 3 and (
            self.status == 0x80 or (self.status == 0x90 and self.data[2] == 0)
        )

    @property
    def is_control_change(self) -> bool:
        return self.status == 0xB0 and len(self.data) >= 3
