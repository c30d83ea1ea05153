"""The recorder output: every event the show played, written as a type-1 MIDI file.

Track 0 carries the tempo map and meter; then the performer's track; then one track per
part. Ticks are the engine's own (PPQ 960), so the file lines up with the show's beats.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import mido

from stage.engine.events import ChannelEvent, Cue, Event, MidiBytes
from stage.engine.ports.base import Output
from stage.engine.state import Meter
from stage.engine.time import PPQ, TempoMap

PART_ORDER = ("performer", "drums", "bass", "keys", "pad", "arp", "harmony")


_CHANNEL_LENGTH = {0x8: 3, 0x9: 3, 0xA: 3, 0xB: 3, 0xC: 2, 0xD: 2, 0xE: 3}
"""Bytes in a whole channel message, by status nibble."""


def _part_rank(part: str) -> tuple[int, str]:
    return (PART_ORDER.index(part) if part in PART_ORDER else len(PART_ORDER), part)


class MidiRecorder(Output):
    """Keeps (tick, bytes) per part; :meth:`write` makes the multitrack file."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.tracks: dict[str, list[tuple[int, bytes]]] = defaultdict(list)

    def accepts(self, event: Event) -> bool:
        return not isinstance(event, Cue | MidiBytes)

    def _send(self, event: Event, tick: int | None) -> None:
        if tick is None:  # panic: the engine already sent every owed note-off with its tick
            return
        assert isinstance(event, ChannelEvent)
        self.tracks[event.part or "band"].append((tick, event.to_bytes()))

    def record_input(self, tick: int, data: bytes, part: str = "performer") -> None:
        """A message the performer played, at ``tick`` (ticks) on the followed grid."""
        # Only whole channel messages: a truncated one would break the file and the counts.
        if data and 0x80 <= data[0] < 0xF0 and len(data) == _CHANNEL_LENGTH[data[0] >> 4] \
                and all(byte < 0x80 for byte in data[1:]):
            self.tracks[part].append((tick, bytes(data)))

    def close_input_notes(self, tick: int, part: str = "performer") -> int:
        """Note-offs at ``tick`` for the performer's notes still held when the song was cut
        (the form ended mid-phrase): the recording never keeps a note hanging. Returns how
        many were closed."""
        held: dict[tuple[int, int], int] = {}
        for _, data in self.tracks.get(part, []):
            status, key = data[0] & 0xF0, (data[0] & 0x0F, data[1] if len(data) > 1 else 0)
            if status == 0x90 and data[2] > 0:
                held[key] = held.get(key, 0) + 1
            elif status == 0x80 or status == 0x90:
                held[key] = max(held.get(key, 0) - 1, 0)
        closing = [(channel, pitch) for (channel, pitch), count in sorted(held.items())
                   for _ in range(count)]
        for channel, pitch in closing:
            self.tracks[part].append((tick, bytes((0x80 | channel, pitch, 0))))
        return len(closing)

    def note_balance(self) -> dict[str, int]:
        """Per part: note-ons minus note-offs (0 everywhere means no stuck note)."""
        balance: dict[str, int] = {}
        for part, events in self.tracks.items():
            ons = sum(1 for _, d in events if d[0] & 0xF0 == 0x90 and d[2] > 0)
            offs = sum(1 for _, d in events
                       if d[0] & 0xF0 == 0x80 or (d[0] & 0xF0 == 0x90 and d[2] == 0))
            balance[part] = ons - offs
        return balance

    def notes_per_part(self) -> dict[str, int]:
        return {part: sum(1 for _, d in events if d[0] & 0xF0 == 0x90 and d[2] > 0)
                for part, events in self.tracks.items()}

    def write(self, path: str | Path, tempo: TempoMap, meter: Meter | None = None) -> Path:
        """Write the type-1 file at ``path``; deterministic for the same show."""
        meter = meter or Meter()
        midi = mido.MidiFile(type=1, ticks_per_beat=PPQ)
        conductor = mido.MidiTrack([mido.MetaMessage("track_name", name="stage", time=0)])
        conductor.append(mido.MetaMessage(
            "time_signature", numerator=meter.beats_per_bar, denominator=meter.beat_unit, time=0))
        last = 0
        for segment in tempo.segments:
            conductor.append(mido.MetaMessage(
                "set_tempo", tempo=round(60_000_000 / segment.bpm),
                time=segment.start_tick - last))
            last = segment.start_tick
        midi.tracks.append(conductor)
        for part in sorted(self.tracks, key=_part_rank):
            midi.tracks.append(_track(part, self.tracks[part]))
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        midi.save(str(path))
        return path


def _track(part: str, events: list[tuple[int, bytes]]) -> mido.MidiTrack:
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=part, time=0)])
    # Stable sort by tick keeps the order events were played in within one tick.
    last = 0
    for tick, data in sorted(events, key=lambda e: e[0]):
        track.append(mido.Message.from_bytes(data, time=max(tick - last, 0)))
        last = max(tick, last)
    return track
