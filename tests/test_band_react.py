"""Harmony voices: answers at once, in chord and key, released with the melody."""

from __future__ import annotations

import pytest
from band_helpers import BAR, CHART, KEY_C, chart_chord

from stage.accompany.band import Band
from stage.accompany.rehearse import rehearse, steady_state
from stage.engine.events import MidiMessage, NoteOff, NoteOn
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter, PerformanceState

METER = Meter(4, 4)


def _band(**kwargs) -> Band:  # type: ignore[no-untyped-def]
    band = Band("pop-rock", seed=1, chart=CHART, key=KEY_C, **kwargs)
    band.window(steady_state(0, METER, key=KEY_C), 0, 480)  # plans the first bar
    return band


def _on(pitch: int, velocity: int = 100, channel: int = 0) -> MidiMessage:
    return MidiMessage(0, bytes((0x90 | channel, pitch, velocity)))


def _off(pitch: int, channel: int = 0) -> MidiMessage:
    return MidiMessage(0, bytes((0x80 | channel, pitch, 0)))


@pytest.mark.parametrize("melody", range(60, 84))
def test_every_melody_note_gets_one_to_three_voices_in_chord_and_key(melody: int) -> None:
    band = _band()
    state = steady_state(240, METER, key=KEY_C)
    events = band.react(_on(melody), state)
    ons = [e for e in events if isinstance(e, NoteOn)]
    assert 1 <= len(ons) <= 3
    assert all(e.tick == state.tick and e.part == "harmony" for e in ons)
    assert all(e.pitch % 12 in KEY_C.scale for e in ons), "voices are in key"
    assert all(e.pitch < melody and melody - e.pitch >= 3 for e in ons)
    chord = chart_chord(240)
    if melody % 12 in chord.pitch_classes:
        assert all(e.pitch % 12 in chord.pitch_classes for e in ons)


def test_voices_follow_the_chart_and_end_with_the_melody() -> None:
    band = _band()
    band.window(steady_state(480, METER, key=KEY_C), 480, 2 * BAR)
    state = steady_state(BAR + 100, METER, key=KEY_C)  # bar 2: A:min7
    ons = [e for e in band.react(_on(76), state) if isinstance(e, NoteOn)]
    assert {e.pitch % 12 for e in ons} <= set(Chord(9, "min7").pitch_classes)
    offs = band.react(_off(76), steady_state(BAR + 300, METER, key=KEY_C))
    assert sorted(e.pitch for e in offs if isinstance(e, NoteOff)) == sorted(
        e.pitch for e in ons)


def test_energy_sets_how_many_voices() -> None:
    quiet = _band(controls={"energy": 0.1})
    loud = _band(controls={"energy": 0.9})
    state = steady_state(100, METER, key=KEY_C)
    assert len(quiet.react(_on(72), state)) == 1
    assert len(loud.react(_on(72), state)) == 3


def test_only_the_top_note_is_harmonised() -> None:
    band = _band()
    state = steady_state(100, METER, key=KEY_C)
    assert band.react(_on(79), state)
    assert not [e for e in band.react(_on(64), state) if isinstance(e, NoteOn)]


def test_sustain_pedal_holds_the_voices_until_it_lifts() -> None:
    band = _band(controller_map=None)
    state = steady_state(100, METER, key=KEY_C)
    pedal_down = MidiMessage(0, bytes((0xB0, 64, 127)))
    pedal_up = MidiMessage(10**9, bytes((0xB0, 64, 0)))
    assert not band.react(pedal_down, state)
    ons = band.react(_on(72), state)
    assert not band.react(_off(72), state)
    offs = band.react(pedal_up, state)
    assert sorted(e.pitch for e in offs) == sorted(e.pitch for e in ons)


def test_controller_pads_are_not_harmonised() -> None:
    band = _band()
    assert band.react(_on(36, channel=9), steady_state(100, METER, key=KEY_C)) == ()


def test_a_lost_note_off_is_ended_within_bars() -> None:
    band = Band("ballad", chart=CHART, key=KEY_C)
    events = rehearse(band, 8, key=KEY_C, played=[(100, bytes((0x90, 72, 90)))])
    ons = [e for e in events if isinstance(e, NoteOn)]
    offs = [e for e in events if isinstance(e, NoteOff)]
    assert ons and sorted(e.pitch for e in offs) == sorted(e.pitch for e in ons)
    assert max(e.tick for e in offs) <= 6 * BAR


def test_the_follower_chord_wins_over_the_chart_in_auto() -> None:
    band = _band()
    followed = PerformanceState(tick=100, meter=METER, chord=Chord(7, "7"), key=Key(0))
    ons = band.react(_on(74), followed)
    assert {e.pitch % 12 for e in ons} <= set(Chord(7, "7").pitch_classes)
