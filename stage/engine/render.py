"""Offline rendering: a performance file plays into the engine on the virtual clock.

Deterministic and faster than real time; the same engine code as a live show.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from stage.engine.plugins import Follower, Generator
from stage.engine.ports.base import Output
from stage.engine.ports.midifile import MidiFilePerformer
from stage.engine.ports.recorder import MidiRecorder
from stage.engine.runner import Engine, EngineStats
from stage.engine.state import Meter
from stage.engine.time import PPQ, TempoMap, VirtualClock


@dataclass
class RenderResult:
    midi_path: Path
    notes_per_part: dict[str, int]
    stuck_notes: dict[str, int]
    late_events: int
    duration_s: float
    stats: EngineStats
    tempo: TempoMap
    extra: dict[str, object] = field(default_factory=dict)


def render(
    performer: MidiFilePerformer,
    follower: Follower,
    generators: Sequence[Generator],
    out_path: str | Path,
    tempo_bpm: float,
    meter: Meter,
    outputs: Sequence[Output] = (),
    tail_bars: int = 1,
    lookahead_ticks: int = PPQ,
) -> RenderResult:
    """Play ``performer`` through the engine offline; write the multitrack MIDI file."""
    clock = VirtualClock()
    tempo = TempoMap(tempo_bpm)
    recorder = MidiRecorder()
    performer.start_ns = 0
    engine = Engine(clock, tempo, follower, generators, outputs, [performer],
                    lookahead_ticks=lookahead_ticks, recorder=recorder, tail_bars=tail_bars)
    engine.start(origin_ns=0)
    engine.run(threading.Event(), live=False)
    path = recorder.write(out_path, tempo, meter)
    balance = {part: n for part, n in recorder.note_balance().items() if n}
    return RenderResult(
        midi_path=path,
        notes_per_part=recorder.notes_per_part(),
        stuck_notes=balance,
        late_events=engine.scheduler.lateness.late,
        duration_s=clock.now_ns() / 1e9,
        stats=engine.stats,
        tempo=tempo,
    )
