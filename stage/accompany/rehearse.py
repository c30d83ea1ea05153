"""Drive a Band offline over consecutive windows, without the engine: for tests,
benchmarks and quick listening. The state each window sees is a steady tempo and meter,
the bar grid from tick 0, and an optional key; chords then come from the band's chart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import mido

from stage.engine.events import (
    ControlChange,
    Event,
    MidiMessage,
    Note,
    NoteOff,
    NoteOn,
    ProgramChange,
)
from stage.engine.harmony import Key
from stage.engine.plugins import Generator
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import PPQ

BarHook = Callable[[int], None]
"""Called with each bar's index before its first window (to steer the band)."""


def steady_state(tick: int, meter: Meter, bpm: float = 120.0, key: Key | None = None
                 ) -> PerformanceState:
    """The state at ``tick`` of a steady performance from tick 0 (ticks)."""
    bar = meter.ticks_per_bar
    return PerformanceState(tick=tick, bpm=bpm, meter=meter,
                            bar_start_tick=(tick // bar) * bar, key=key)


def rehearse(band: Generator, bars: int, meter: Meter | None = None, bpm: float = 120.0,
             key: Key | None = None, window_ticks: int = PPQ // 2,
             on_bar: BarHook | None = None,
             played: Sequence[tuple[int, bytes]] = ()) -> list[Event]:
    """Every event ``band`` plays over ``bars`` bars, asked one window at a time
    (``window_ticks``), with ``played`` (tick, MIDI bytes) performer messages answered by
    ``react`` when their tick comes."""
    meter = meter or Meter()
    bar = meter.ticks_per_bar
    end = bars * bar
    inputs = sorted(played, key=lambda item: item[0])
    next_input = 0
    events: list[Event] = []
    for start in range(0, end, window_ticks):
        if on_bar is not None and start % bar == 0:
            on_bar(start // bar)
        stop = min(start + window_ticks, end)
        while next_input < len(inputs) and inputs[next_input][0] < stop:
            tick, data = inputs[next_input]
            state = steady_state(tick, meter, bpm, key)
            events.extend(band.react(MidiMessage(tick, bytes(data)), state))
            next_input += 1
        events.extend(band.window(steady_state(start, meter, bpm, key), start, stop))
    return events


def notes(events: Iterable[Event], part: str | None = None) -> list[Note]:
    return [e for e in events if isinstance(e, Note) and (part is None or e.part == part)]


def to_midi(events: Iterable[Event], bpm: float = 120.0) -> mido.MidiFile:
    """A type-1 MIDI file, one track per part, notes expanded to on/off pairs."""
    by_part: dict[str, list[tuple[int, int, mido.Message]]] = {}
    for event in events:
        for tick, order, message in _messages(event):
            by_part.setdefault(event.part or "band", []).append((tick, order, message))
    midi = mido.MidiFile(type=1, ticks_per_beat=PPQ)
    conductor = mido.MidiTrack([mido.MetaMessage("set_tempo", tempo=mido.bpm2tempo(bpm))])
    midi.tracks.append(conductor)
    for part in sorted(by_part):
        track = mido.MidiTrack([mido.MetaMessage("track_name", name=part)])
        last = 0
        for tick, _, message in sorted(by_part[part], key=lambda m: (m[0], m[1])):
            track.append(message.copy(time=tick - last))
            last = tick
        midi.tracks.append(track)
    return midi


def write_midi(events: Iterable[Event], path: str | Path, bpm: float = 120.0) -> Path:
    path = Path(path)
    to_midi(events, bpm).save(path)
    return path


def _messages(event: Event) -> list[tuple[int, int, mido.Message]]:
    if isinstance(event, Note):
        return [(event.tick, 2, mido.Message("note_on", channel=event.channel,
                                            note=event.pitch, velocity=event.velocity)),
                (event.tick + event.duration, 1,
                 mido.Message("note_off", channel=event.channel, note=event.pitch))]
    if isinstance(event, NoteOn):
        return [(event.tick, 2, mido.Message("note_on", channel=event.channel,
                                            note=event.pitch, velocity=event.velocity))]
    if isinstance(event, NoteOff):
        return [(event.tick, 1, mido.Message("note_off", channel=event.channel,
                                            note=event.pitch))]
    if isinstance(event, ProgramChange):
        return [(event.tick, 0, mido.Message("program_change", channel=event.channel,
                                            program=event.program))]
    if isinstance(event, ControlChange):
        return [(event.tick, 0, mido.Message("control_change", channel=event.channel,
                                            control=event.control, value=event.value))]
    return []
