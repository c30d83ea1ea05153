"""Runs a show: one song after another through the engine, as one performance.

The engine never imports the band: the caller hands in a factory that builds each song's
plug-ins (follower, generators, performer). Offline, each song plays on the virtual clock and
the songs are joined into one multitrack file, each starting on the bar after the last.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stage.engine.events import MidiMessage
from stage.engine.plugins import Follower, Generator
from stage.engine.ports.base import Input, Output
from stage.engine.ports.midifile import MidiFilePerformer
from stage.engine.ports.recorder import MidiRecorder
from stage.engine.runner import Engine, EngineObserver
from stage.engine.state import Meter
from stage.engine.time import TempoMap, VirtualClock

if TYPE_CHECKING:
    from stage.engine.showlog import ShowLog

log = logging.getLogger(__name__)


@dataclass
class SongPlugins:
    """What one song plays with. ``finished`` says when its form is over (None: when the
    performer has played out, plus ``tail_bars``)."""

    title: str
    tempo_bpm: float
    meter: Meter
    follower: Follower
    generators: Sequence[Generator]
    performer: MidiFilePerformer | None = None
    finished: Callable[[], bool] | None = None
    tail_bars: int = 1
    max_bars: int = 400
    stop_tick: int | None = None
    """Where the song stops at the latest (ticks), if sooner than ``max_bars``: a replayed
    song that was stopped mid-show stops where it stopped."""


@dataclass
class SongResult:
    title: str
    start_tick: int
    end_tick: int
    start_s: float
    duration_s: float
    notes_per_part: dict[str, int]
    late_events: int
    muted_parts: list[str]


@dataclass
class ShowResult:
    midi_path: Path
    songs: list[SongResult] = field(default_factory=list)
    notes_per_part: dict[str, int] = field(default_factory=dict)
    stuck_notes: dict[str, int] = field(default_factory=dict)
    late_events: int = 0
    duration_s: float = 0.0


def play_song_offline(song: SongPlugins, outputs: Sequence[Output] = (),
                      observer: EngineObserver | None = None
                      ) -> tuple[MidiRecorder, TempoMap, Engine]:
    """One song on the virtual clock; returns its recorder, tempo map and engine."""
    clock = VirtualClock()
    tempo = TempoMap(song.tempo_bpm)
    recorder = MidiRecorder()
    inputs = [song.performer] if song.performer else []
    engine = Engine(clock, tempo, song.follower, song.generators, outputs, inputs,
                    recorder=recorder, tail_bars=song.tail_bars if inputs else None,
                    finished=song.finished, observer=observer)
    engine.end_tick_limit = song.max_bars * song.meter.ticks_per_bar
    if song.stop_tick is not None:
        engine.end_tick_limit = min(engine.end_tick_limit, song.stop_tick)
    engine.start(origin_ns=0)
    engine.run(threading.Event(), live=False)
    return recorder, tempo, engine


def play_show_offline(songs: Sequence[SongPlugins], out_path: str | Path,
                      outputs: Sequence[Output] = (), show_log: ShowLog | None = None
                      ) -> ShowResult:
    """Every song in order; writes one type-1 MIDI file of the whole show at ``out_path``.
    ``outputs`` (OSC to a rig, say) hear every song as fast as the virtual clock runs; they
    stay open (the caller closes them). ``show_log`` hears every song (the caller closes it)."""
    joined = MidiRecorder()
    joined_tempo: TempoMap | None = None
    result = ShowResult(midi_path=Path(out_path))
    offset_tick, offset_s = 0, 0.0
    for index, song in enumerate(songs):
        observer = None if show_log is None else show_log.song(
            index, song.title, song.generators, song.tempo_bpm, str(song.meter), offset_tick)
        recorder, tempo, engine = play_song_offline(song, [_Borrowed(o) for o in outputs],
                                                    observer)
        end_tick = engine.end_tick or engine.generated_until
        bar = song.meter.ticks_per_bar
        end_tick = -(-end_tick // bar) * bar
        if song.performer is not None:
            recorder.close_input_notes(end_tick)
        if observer is not None:
            observer.ended(end_tick, song.performer.finished if song.performer else None,
                           late=engine.scheduler.lateness.late)
        for part, events in recorder.tracks.items():
            joined.tracks[part].extend((tick + offset_tick, data) for tick, data in events)
        for segment in tempo.segments:
            if joined_tempo is None:
                joined_tempo = TempoMap(segment.bpm)
            else:
                joined_tempo.set_tempo(segment.bpm, segment.start_tick + offset_tick)
        duration = tempo.seconds_at(end_tick)
        result.songs.append(SongResult(
            song.title, offset_tick, offset_tick + end_tick, offset_s, duration,
            recorder.notes_per_part(), engine.scheduler.lateness.late,
            list(engine.stats.muted_parts)))
        for part, count in recorder.note_balance().items():
            if count:
                result.stuck_notes[part] = result.stuck_notes.get(part, 0) + count
        offset_tick += end_tick
        offset_s += duration
    for song_result in result.songs:
        for part, count in song_result.notes_per_part.items():
            result.notes_per_part[part] = result.notes_per_part.get(part, 0) + count
        result.late_events += song_result.late_events
    result.duration_s = offset_s
    joined.write(out_path, joined_tempo or TempoMap(), songs[0].meter if songs else Meter())
    return result


def play_show_live(songs: Sequence[SongPlugins], outputs: Sequence[Output],
                   inputs: Sequence[Input] = (), recorder: MidiRecorder | None = None,
                   show_log: ShowLog | None = None, first_index: int = 0,
                   start_bar: int = 0) -> int:
    """Every song in real time on ``outputs``, hearing ``inputs``; outputs are silenced after
    every song and on any way out; inputs stay open for the next song (the caller closes
    them). Returns 0, or 1 when a song's engine failed. ``show_log`` hears every song, the
    first numbered ``first_index`` in the setlist and starting at its bar ``start_bar`` (a
    resumed show)."""
    from stage.engine.live import run_live
    from stage.engine.time import RealClock

    for number, song in enumerate(songs):
        log.info("now playing: %s", song.title)
        tempo = TempoMap(song.tempo_bpm)
        observer = None if show_log is None else show_log.song(
            first_index + number, song.title, song.generators, song.tempo_bpm, str(song.meter),
            start_bar=start_bar if number == 0 else 0)
        engine = Engine(RealClock(), tempo, song.follower, song.generators,
                        [_Borrowed(o) for o in outputs], [_BorrowedInput(i) for i in inputs],
                        tail_bars=song.tail_bars if song.performer else None,
                        finished=song.finished, recorder=recorder, observer=observer)
        engine.end_tick_limit = song.max_bars * song.meter.ticks_per_bar
        if song.performer is not None:
            song.performer.play_live(engine.inbox, engine.clock.now_ns())
            engine.inputs.append(song.performer)
        code = run_live(engine)
        if observer is not None:
            observer.ended(engine.end_tick or engine.generated_until, engine.inputs_finished,
                           late=engine.scheduler.lateness.late, stopped=engine.end_tick is None)
        if code or engine.end_tick is None:
            return 1 if code else 0
    return 0


class _BorrowedInput(Input):
    """Lends a show-long input to one song's engine: its close leaves the port open."""

    def __init__(self, source: Input) -> None:
        self.inner = source
        self.name = source.name

    def start(self, inbox: queue.Queue[MidiMessage]) -> None:
        self.inner.start(inbox)


class _Borrowed(Output):
    """Lends a show-long output to one song's engine: panics at the song's end, stays open."""

    def __init__(self, output: Output) -> None:
        super().__init__()
        self.inner = output
        self.name = output.name
        self.latency_ns = output.latency_ns

    def accepts(self, event: object) -> bool:
        return self.inner.accepts(event)  # type: ignore[arg-type]

    def send(self, event: object, tick: int | None = None) -> None:
        self.inner.send(event, tick)  # type: ignore[arg-type]

    def bind_timeline(self, tempo: TempoMap, origin_ns: int) -> None:
        self.inner.bind_timeline(tempo, origin_ns)

    def close(self) -> None:
        self.inner.panic()
