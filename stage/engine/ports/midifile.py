"""MIDI files: the performer played from a file, and the recorder that writes the show.

:class:`MidiFilePerformer` plays a performance file as if a person played it: on the virtual
clock it is polled by due time; in real time a thread puts each message into the engine's
inbox at its moment, exactly as an input callback would.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import mido

from stage.engine.events import MidiMessage
from stage.engine.ports.base import Input
from stage.engine.time import NS_PER_S

log = logging.getLogger(__name__)

_PLAYED_TYPES = {"note_on", "note_off", "control_change", "pitchwheel", "program_change",
                 "aftertouch", "polytouch"}


class MidiFileError(ValueError):
    """A performance file that cannot be read; the message names the file."""


@dataclass(frozen=True, slots=True)
class TimedMessage:
    """``time_ns`` after the performance starts (ns), raw MIDI ``data``, source ``track``."""

    time_ns: int
    data: bytes
    track: str


def read_midi_file(path: str | Path) -> mido.MidiFile:
    """Open a MIDI file, turning every way it can fail into one MidiFileError line."""
    try:
        return mido.MidiFile(str(path))
    except FileNotFoundError:
        raise MidiFileError(f"{path}: no such file") from None
    except (OSError, EOFError, ValueError, KeyError, IndexError, TypeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise MidiFileError(f"{path}: not a readable MIDI file ({reason})") from None


def track_names(midi: mido.MidiFile) -> list[str]:
    names = []
    for i, track in enumerate(midi.tracks):
        names.append(track.name or f"track{i}")
    return names


def load_performance(path: str | Path, tracks: Sequence[str] | None = None) -> list[TimedMessage]:
    """The channel messages of ``path`` with their times, from the chosen tracks (default all).

    Track names match case-insensitively. Times follow the file's own tempo map.
    """
    midi = read_midi_file(path)
    names = track_names(midi)
    chosen = set(range(len(midi.tracks)))
    if tracks:
        wanted = {t.lower() for t in tracks}
        chosen = {i for i, n in enumerate(names) if n.lower() in wanted}
        missing = wanted - {names[i].lower() for i in chosen}
        if missing:
            raise MidiFileError(
                f"{path}: no track named {', '.join(sorted(missing))}; tracks: {', '.join(names)}"
            )
    try:
        return _timed_messages(midi, names, chosen)
    except (ValueError, KeyError, IndexError, TypeError) as exc:
        raise MidiFileError(f"{path}: corrupt MIDI data ({exc})") from None


def _timed_messages(midi: mido.MidiFile, names: list[str], chosen: set[int]) -> list[TimedMessage]:
    # Merge tracks on absolute ticks, then convert through the file's tempo map.
    tempo_changes: list[tuple[int, int]] = [(0, 500_000)]
    events: list[tuple[int, int, int, bytes]] = []  # (tick, track, order, data)
    for index, track in enumerate(midi.tracks):
        tick = 0
        for order, msg in enumerate(track):
            tick += msg.time
            if msg.type == "set_tempo":
                tempo_changes.append((tick, msg.tempo))
            elif index in chosen and msg.type in _PLAYED_TYPES:
                events.append((tick, index, order, bytes(msg.bytes())))
    # By tick only, stably: a file's own tempo at tick 0 must follow (and so replace) the
    # 120 bpm default; sorting the pairs put the default last for any tempo above 120 bpm.
    tempo_changes.sort(key=lambda change: change[0])
    events.sort()
    out: list[TimedMessage] = []
    seg = 0
    seg_tick, seg_tempo, seg_ns = 0, tempo_changes[0][1], 0
    for tick, index, _, data in events:
        while seg + 1 < len(tempo_changes) and tempo_changes[seg + 1][0] <= tick:
            seg += 1
            next_tick, next_tempo = tempo_changes[seg]
            seg_ns += (next_tick - seg_tick) * seg_tempo * 1000 // midi.ticks_per_beat
            seg_tick, seg_tempo = next_tick, next_tempo
        time_ns = seg_ns + (tick - seg_tick) * seg_tempo * 1000 // midi.ticks_per_beat
        out.append(TimedMessage(time_ns, data, names[index]))
    return out


class MidiFilePerformer(Input):
    """Plays timed messages as a performer would, starting at ``start_ns`` (clock ns)."""

    ends = True

    def __init__(self, messages: Iterable[TimedMessage], name: str = "performer",
                 start_ns: int = 0) -> None:
        self.name = name
        self._messages = list(messages)
        self._next = 0
        self.start_ns = start_ns
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.overflows = 0

    @classmethod
    def from_file(cls, path: str | Path, tracks: Sequence[str] | None = None,
                  start_ns: int = 0) -> MidiFilePerformer:
        return cls(load_performance(path, tracks), Path(path).stem, start_ns)

    @property
    def duration_ns(self) -> int:
        return self._messages[-1].time_ns if self._messages else 0

    # Polled on the virtual clock.
    def next_due_ns(self) -> int | None:
        if self._thread is not None or self._next >= len(self._messages):
            return None
        return self.start_ns + self._messages[self._next].time_ns

    def pop_due(self, now_ns: int) -> list[MidiMessage]:
        out = []
        while self._next < len(self._messages):
            msg = self._messages[self._next]
            due = self.start_ns + msg.time_ns
            if due > now_ns:
                break
            out.append(MidiMessage(due, msg.data, self.name))
            self._next += 1
        return out

    @property
    def finished(self) -> bool:
        return self._next >= len(self._messages)

    # Real time: a thread plays into the inbox like a controller's callback would.
    def play_live(self, inbox: queue.Queue[MidiMessage], start_ns: int) -> None:
        self.start_ns = start_ns
        self._thread = threading.Thread(target=self._play, args=(inbox,),
                                        name="midi-file-performer", daemon=True)
        self._thread.start()

    def _play(self, inbox: queue.Queue[MidiMessage]) -> None:
        while self._next < len(self._messages) and not self._stop.is_set():
            msg = self._messages[self._next]
            due = self.start_ns + msg.time_ns
            remaining = due - time.perf_counter_ns()
            if remaining > 0:
                self._stop.wait(remaining / NS_PER_S)
                continue
            try:
                inbox.put_nowait(MidiMessage(time.perf_counter_ns(), msg.data, self.name))
            except queue.Full:
                self.overflows += 1
            self._next += 1

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)
