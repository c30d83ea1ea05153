"""MidiFollower through the Follower protocol: the tempo map follows, decisions are causal."""

from __future__ import annotations

import numpy as np
import pytest

from stage.engine.events import MidiMessage
from stage.engine.follow.curves import sudden_change, warp_messages
from stage.engine.follow.midi import MidiFollower, TapConfig
from stage.engine.follow.offline import analyze_messages, follow_messages
from stage.engine.harmony import Chord, Key
from stage.engine.plugins import Follower
from stage.engine.state import Meter
from stage.engine.time import NS_PER_S, PPQ, TempoMap

PROGRESSION = [(48, 52, 55), (45, 48, 52), (41, 45, 48), (43, 47, 50)]  # C Am F G


def song(start: float, period: float, bars: int, beats_per_bar: int = 4
         ) -> list[tuple[int, bytes]]:
    """A pianist in time: bass note and chord on each beat, a chord per bar."""
    out: list[tuple[int, bytes]] = []
    for beat in range(bars * beats_per_bar):
        t = start + beat * period
        chord = PROGRESSION[beat // beats_per_bar % 4]
        on = round(t * NS_PER_S)
        off = round((t + 0.9 * period) * NS_PER_S)
        velocity = 110 if beat % beats_per_bar == 0 else 80
        for pitch in (chord[0] - 12, *chord):
            out.append((on, bytes((0x90, pitch, velocity))))
            out.append((off, bytes((0x80, pitch, 0))))
    return sorted(out, key=lambda m: (m[0], m[1][0] != 0x80))


def test_it_is_a_follower() -> None:
    follower: Follower = MidiFollower(Meter(4, 4), 100.0)
    assert hasattr(follower, "hear") and hasattr(follower, "state")


def test_the_tempo_map_locks_onto_the_performers_beats() -> None:
    period = 60 / 92  # performer at 92 bpm, the setlist says 100
    follower, tempo = follow_messages(song(1.3, period, 16), Meter(4, 4), 100.0)
    origin = follower.first_onset_tick
    assert origin is not None and origin % Meter(4, 4).ticks_per_bar == 0
    for beat in range(16, 64):  # after the first bars, every grid beat on a played beat
        grid_s = tempo.seconds_at(origin + beat * PPQ)
        assert grid_s == pytest.approx(1.3 + beat * period, abs=0.02)
    assert tempo.bpm_at(origin + 60 * PPQ) == pytest.approx(92, rel=0.03)


def test_tempo_changes_are_nudges_not_jumps() -> None:
    messages = song(0.5, 0.6, 24)
    curve = sudden_change(24 * 4 * 0.6, 0.5 + 0.6 * np.arange(96))
    _, tempo = follow_messages(warp_messages(messages, curve), Meter(4, 4), 100.0)
    bpms = [s.bpm for s in tempo.segments[3:]]
    steps = np.abs(np.diff(bpms)) / np.array(bpms[:-1])
    assert steps.max() < 0.3
    assert tempo.segments[-1].bpm == pytest.approx(120, rel=0.05)


def test_state_reports_chord_key_bar_and_held_notes() -> None:
    messages = song(0.0, 0.5, 8)
    follower = MidiFollower(Meter(4, 4), 120.0, chord_delay=0.75)
    tempo = TempoMap(120.0)
    cut = round(14.4 * NS_PER_S)  # bar 8 (G), its first beat decided (0.75 beat in)
    for time_ns, data in messages:
        if time_ns > cut:
            break
        follower.hear(MidiMessage(time_ns, data), time_ns, tempo)
    state = follower.state(cut, tempo)
    assert state.chord is not None and state.chord.root == 7
    assert state.key == Key(0, "maj")
    assert state.held == frozenset({31, 43, 47, 50})
    assert state.bar_start_tick == 7 * 4 * PPQ
    assert state.next_chord == Chord(7, "maj", 7)  # mid-bar: G holds


def test_decisions_never_depend_on_later_input() -> None:
    messages = song(0.7, 0.55, 20)
    full = analyze_messages(messages, Meter(4, 4), 110.0)
    cut_s = 21.0
    part = analyze_messages([m for m in messages if m[0] <= cut_s * NS_PER_S],
                            Meter(4, 4), 110.0)
    for kind in ("beats", "chords", "key"):
        before = [d for d in full[kind] if d["decided_at"] < cut_s]
        assert before == [d for d in part[kind] if d["decided_at"] < cut_s]
        assert before, kind


def test_three_four_downbeats_every_third_beat() -> None:
    result = analyze_messages(song(0.0, 0.5, 12, 3), Meter(3, 4), 120.0)
    flags = [b["downbeat"] for b in result["beats"][:9]]
    assert flags == [True, False, False] * 3


def test_tap_tempo_from_a_cc_overrides_the_prior_and_is_not_a_note() -> None:
    follower = MidiFollower(Meter(4, 4), 120.0, tap=TapConfig(control=80))
    tempo = TempoMap(120.0)
    for k in range(4):
        t = round(k * 0.8 * NS_PER_S)
        follower.hear(MidiMessage(t, bytes((0xB0, 80, 127))), t, tempo)
        follower.hear(MidiMessage(t + 1000, bytes((0xB0, 80, 0))), t + 1000, tempo)
    state = follower.state(round(2.5 * NS_PER_S), tempo)
    assert follower.beats.bpm == pytest.approx(75, rel=0.01)
    assert state.held == frozenset()
    assert state.bpm == pytest.approx(75, rel=0.15)
