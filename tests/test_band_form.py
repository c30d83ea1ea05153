"""Arranger form, controller map and control smoothing: changes land on bar lines."""

from __future__ import annotations

import itertools

import pytest
from band_helpers import BAR, CHART, KEY_C, METER, section_cues

from stage.accompany.arranger import Arranger, ControllerMap, section_name
from stage.accompany.band import Band
from stage.accompany.controls import MAX_STEP_PER_BAR, Controls
from stage.accompany.rehearse import notes, rehearse
from stage.engine.events import MidiMessage
from stage.engine.state import PerformanceState

LENGTHS = {"intro": 2, "main_a": 0, "main_b": 0, "main_c": 0, "main_d": 0, "fill": 1,
           "break": 1, "ending": 2}


def _form(arranger: Arranger, bars: int) -> list[str]:
    return [arranger.next_bar(i * BAR, BAR).section for i in range(bars)]


def test_intro_leads_into_main_a_and_a_change_gets_a_fill() -> None:
    arranger = Arranger(LENGTHS, start="intro")
    form = _form(arranger, 3)
    arranger.request("main_c")
    form += _form(arranger, 3)
    assert form == ["intro", "intro", "main_a", "fill", "main_c", "main_c"]


def test_break_returns_to_the_main_and_the_ending_ends() -> None:
    arranger = Arranger(LENGTHS, start="B")
    form = _form(arranger, 1)
    arranger.request("break")
    form += _form(arranger, 2)
    arranger.request("ending")
    form += _form(arranger, 5)
    assert form == ["main_b", "break", "main_b", "fill", "ending", "ending", "end", "end"]
    assert arranger.finished


def test_a_scheduled_change_puts_its_fill_in_the_bar_before() -> None:
    arranger = Arranger(LENGTHS)
    arranger.request("main_d", at_tick=4 * BAR)
    assert _form(arranger, 6) == ["main_a", "main_a", "main_a", "fill", "main_d", "main_d"]


def test_asking_for_the_playing_main_changes_nothing() -> None:
    arranger = Arranger(LENGTHS, start="main_b")
    _form(arranger, 1)
    arranger.request("main_b")
    assert _form(arranger, 2) == ["main_b", "main_b"]


def test_section_names_are_normalised_and_checked() -> None:
    assert section_name("Main B") == "main_b" and section_name("d") == "main_d"
    with pytest.raises(ValueError):
        section_name("chorus")


def test_band_sections_and_fills_land_on_bar_lines() -> None:
    band = Band("pop-rock", seed=4, chart=CHART, key=KEY_C, start_section="intro")
    commands = {3: "main_b", 6: "main_d", 9: "break", 12: "fill", 15: "ending"}

    def steer(bar: int) -> None:  # the next bar is planned already: the fill comes after
        if bar in commands:
            band.command_section(commands[bar])

    events = rehearse(band, 20, key=KEY_C, window_ticks=480, on_bar=steer)
    cues = section_cues(events)
    assert all(tick % BAR == 0 for tick, _ in cues)
    assert [name for _, name in cues] == [
        "intro", "main_a", "fill", "main_b", "fill", "main_d", "break", "main_d", "fill",
        "main_d", "fill", "ending", "end"]
    fill_bars = [tick for tick, name in cues if name == "fill"]
    for start in fill_bars:  # the fill's drums fill its bar, and start on its downbeat
        drums = [n for n in notes(events, "drums") if start <= n.tick < start + BAR]
        assert drums and min(n.tick for n in drums) - start < 20


def test_a_command_mid_bar_waits_for_the_bar_line() -> None:
    band = Band("house", seed=1, chart=CHART, key=KEY_C, start_section="main_a")
    events = rehearse(band, 4, key=KEY_C, window_ticks=240,
                      on_bar=lambda bar: bar == 1 and band.command_section("main_c"))
    cues = section_cues(events)
    assert cues == [(0, "main_a"), (2 * BAR, "fill"), (3 * BAR, "main_c")]


def test_controller_pads_and_ccs_steer_the_band() -> None:
    band = Band("funk", chart=CHART, key=KEY_C)
    pad3 = MidiMessage(0, bytes((0x99, 38, 100)))
    assert band.handle_controller(pad3)
    assert band.arranger._request is not None and band.arranger._request.section == "main_c"
    assert band.handle_controller(MidiMessage(0, bytes((0xB0, 1, 127))))
    assert band.controls.target("energy") == pytest.approx(1.0)
    melody = MidiMessage(0, bytes((0x90, 38, 100)))  # the same note on the keyboard channel
    assert not band.handle_controller(melody)


def test_sustain_double_tap_asks_for_the_ending() -> None:
    cmap = ControllerMap()
    down, up = (0xB0, 64, 127), (0xB0, 64, 0)
    ms = 1_000_000
    seq = [(0, down), (100 * ms, up), (250 * ms, down)]
    actions = [cmap.interpret(MidiMessage(t, bytes(d)))[1] for t, d in seq]
    assert actions[-1] and actions[-1][0].name == "ending"
    slow = ControllerMap()
    seq = [(0, down), (100 * ms, up), (900 * ms, down)]
    assert not any(slow.interpret(MidiMessage(t, bytes(d)))[1] for t, d in seq)


def test_controller_map_from_a_setlist_table() -> None:
    cmap = ControllerMap.from_dict({"pads": {"60": "A", "61": "fill"}, "pad_channel": 0,
                                    "ccs": {"11": "energy"}, "sustain_double_tap": ""})
    consumed, actions = cmap.interpret(MidiMessage(0, bytes((0x90, 61, 90))))
    assert consumed and actions[0].name == "fill"
    assert cmap.double_tap is None
    with pytest.raises(ValueError):
        ControllerMap.from_dict({"ccs": {"1": "loudness"}})


def test_controls_move_a_bounded_step_per_bar() -> None:
    controls = Controls()
    controls.set("energy", 1.0)
    controls.set("mood", 0.0)
    energies = [controls.advance(0.0).energy for _ in range(3)]
    assert energies == pytest.approx([0.5 + MAX_STEP_PER_BAR["energy"], 1.0, 1.0])
    assert controls.values().mood == pytest.approx(0.0)
    with pytest.raises(ValueError):
        controls.set("loudness", 0.3)


def test_steering_applies_from_a_bar_line_never_mid_bar() -> None:
    band = Band("pop-rock", seed=1, chart=CHART, key=KEY_C, controls={"energy": 0.2})
    events = rehearse(band, 6, key=KEY_C, window_ticks=240,
                      on_bar=lambda bar: bar == 2 and band.set_control("energy", 0.9))
    hats = [n for n in notes(events, "drums") if n.pitch == 42]
    by_bar: dict[int, set[int]] = {}
    for n in hats:  # hats carry no accents: one velocity level per bar, give or take humanize
        by_bar.setdefault(n.tick // BAR, set()).add(n.velocity)
    spreads = {bar: max(v) - min(v) for bar, v in by_bar.items()}
    assert all(spread <= 2 * band.style.humanize_velocity + 1 for spread in spreads.values())
    means = [sum(v) / len(v) for _, v in sorted(by_bar.items())]
    assert means[2] < means[3] < means[4], means  # steps up bar by bar from bar 3 on


def test_a_failing_part_is_muted_and_the_band_plays_on() -> None:
    band = Band("pop-rock", chart=CHART, key=KEY_C)
    keys = next(p for p in band.parts if p.name == "keys")

    def broken(*args: object) -> list:  # type: ignore[type-arg]
        raise RuntimeError("a bug in one part")

    keys.play = broken  # type: ignore[method-assign]
    events = rehearse(band, 2, key=KEY_C)
    assert band.muted == {"keys"}
    assert {n.part for n in notes(events)} == {"drums", "bass", "pad"}


def test_when_the_follower_moves_the_downbeat_bars_follow_it() -> None:
    band = Band("house", seed=1, chart=CHART, key=KEY_C)
    events = []
    shift = 960  # from bar 4 on the follower hears the downbeat a beat later
    for start in range(0, 10 * BAR, 480):
        anchor = (start // BAR) * BAR if start < 4 * BAR else (
            ((start - shift) // BAR) * BAR + shift)
        state = PerformanceState(tick=start, meter=METER, bar_start_tick=anchor, key=KEY_C)
        if start == 6 * BAR:
            band.command_section("main_d")
        events.extend(band.window(state, start, start + 480))
    cues = section_cues(events)
    assert cues[-2:] == [(6 * BAR + shift, "fill"), (7 * BAR + shift, "main_d")]
    kicks = sorted(n.tick for n in notes(events, "drums") if n.pitch == 36)
    assert all(b - a >= 480 for a, b in itertools.pairwise(kicks)), "no doubled beat"


def test_a_footswitch_cc_switches_section_once_per_press() -> None:
    cmap = ControllerMap()
    press, hold, release = (0xB0, 82, 127), (0xB0, 82, 100), (0xB0, 82, 0)
    actions = [cmap.interpret(MidiMessage(0, bytes(d)))[1] for d in (press, hold, release)]
    assert [len(a) for a in actions] == [1, 0, 0] and actions[0][0].name == "main_c"


def test_swing_returns_to_the_styles_own_smoothly() -> None:
    controls = Controls()
    controls.set("swing", 0.6)
    assert [controls.advance(0.2).swing for _ in range(3)] == pytest.approx([0.4, 0.6, 0.6])
    controls.set("swing", None)
    steps = [controls.advance(0.2).swing for _ in range(3)]
    assert steps[0] == pytest.approx(0.4) and steps[-1] is None
