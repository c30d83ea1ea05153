"""The engine loop on the virtual clock: exact event lists, no hardware."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import mido
import pytest

from stage.accompany.root_bass import RootBass
from stage.engine.events import Event, MidiMessage, Note, NoteOff, NoteOn
from stage.engine.ports.base import MemoryOutput
from stage.engine.ports.midifile import MidiFilePerformer, TimedMessage
from stage.engine.prior import PriorFollower
from stage.engine.render import render
from stage.engine.runner import Engine
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import PPQ, TempoMap, VirtualClock

FIXTURE = Path(__file__).parent / "fixtures" / "pop909" / "701" / "701.mid"
BEAT_NS = 500_000_000  # at 120 bpm


def _performer(*notes: tuple[float, float, int]) -> MidiFilePerformer:
    """(start beat, end beat, pitch) -> a performer holding those notes."""
    timed = []
    for start, end, pitch in notes:
        timed.append(TimedMessage(int(start * BEAT_NS), bytes((0x90, pitch, 100)), "p"))
        timed.append(TimedMessage(int(end * BEAT_NS), bytes((0x80, pitch, 0)), "p"))
    return MidiFilePerformer(sorted(timed, key=lambda m: m.time_ns))


def _run_offline(performer: MidiFilePerformer, generators: Sequence[object],
                 out: MemoryOutput) -> Engine:
    engine = Engine(VirtualClock(), TempoMap(120), PriorFollower(), generators,  # type: ignore[arg-type]
                    [out], [performer], lookahead_ticks=PPQ, tail_bars=0)
    engine.start(origin_ns=0)
    engine.run(threading.Event(), live=False)
    return engine


def test_bass_follows_the_lowest_held_note_on_each_beat() -> None:
    out = MemoryOutput()
    # hold C3+E3 for beats 0-4, then A2 for beats 4-8; the bass plans one beat ahead
    _run_offline(_performer((0, 4, 48), (0, 4, 52), (4, 8, 45)), [RootBass(channel=1)], out)
    ons = [(e.tick // PPQ, e.pitch) for e in out.events([NoteOn])]
    # C2 from the first beat; beat 4 was planned a beat ahead, before A2 was played
    assert ons == [(0, 36), (1, 36), (2, 36), (3, 36), (4, 36), (5, 33), (6, 33), (7, 33), (8, 33)]
    assert all(e.channel == 1 for e in out.events([NoteOn]))


def test_every_note_on_gets_its_note_off_and_the_end_is_silent() -> None:
    out = MemoryOutput()
    _run_offline(_performer((0, 6, 40)), [RootBass()], out)
    ons = len(out.events([NoteOn]))
    offs = len(out.events([NoteOff]))
    assert ons > 0 and ons == offs
    assert out.sounding == frozenset() and out.closed


class _Exploding:
    name = "broken"

    def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
        raise RuntimeError("boom")

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()


def test_a_failing_part_is_muted_and_the_show_plays_on() -> None:
    out = MemoryOutput()
    engine = _run_offline(_performer((0, 4, 48)), [_Exploding(), RootBass()], out)
    assert engine.stats.muted_parts == ["broken"]
    assert len(out.events([NoteOn])) >= 3


class _Answer:
    name = "harmony"

    def window(self, state: PerformanceState, start: int, end: int) -> Sequence[Event]:
        return ()

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        if message.is_note_on:
            return [Note(state.tick, PPQ // 4, message.data[1] + 4, 80, 2, self.name)]
        return ()


def test_reactions_go_out_at_once_not_late() -> None:
    out = MemoryOutput()
    engine = _run_offline(_performer((1.5, 2, 60)), [_Answer()], out)
    ons = out.events([NoteOn])
    assert [(e.pitch, e.tick) for e in ons] == [(64, 3 * PPQ // 2)]
    assert engine.scheduler.lateness.late == 0


def test_render_is_deterministic_and_has_no_stuck_notes(tmp_path: Path) -> None:
    results = []
    for name in ("a", "b"):
        performer = MidiFilePerformer.from_file(FIXTURE)
        result = render(performer, PriorFollower(), [RootBass()], tmp_path / name / "p.mid",
                        66.0, Meter())
        results.append(result)
    first, second = (r.midi_path.read_bytes() for r in results)
    assert first == second
    assert results[0].stuck_notes == {}
    tracks = [t.name for t in mido.MidiFile(results[0].midi_path).tracks]
    assert tracks == ["stage", "performer", "bass"]
    assert results[0].notes_per_part["bass"] > 100


def test_performer_track_keeps_every_note(tmp_path: Path) -> None:
    performer = MidiFilePerformer.from_file(FIXTURE)
    played = sum(1 for m in mido.MidiFile(FIXTURE) for _ in [m] if m.type == "note_on"
                 and m.velocity > 0)
    result = render(performer, PriorFollower(), [], tmp_path / "p.mid", 66.0, Meter())
    assert result.notes_per_part["performer"] == played


@pytest.mark.parametrize("bpm", [60.0, 66.0, 97.3, 180.0])
def test_offline_render_terminates_at_any_tempo(tmp_path: Path, bpm: float) -> None:
    result = render(_performer((0, 2, 50)), PriorFollower(), [RootBass()], tmp_path / "x.mid",
                    bpm, Meter(3, 4))
    assert result.notes_per_part["bass"] >= 1 and result.stuck_notes == {}
