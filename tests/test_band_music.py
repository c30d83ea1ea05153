"""The band's music: chord tones on strong beats, energy, determinism, no stuck notes."""

from __future__ import annotations

import io
import itertools
from statistics import mean

import pytest
from band_helpers import BAR, CHART, KEY_C, strong_beat_ratio

from stage.accompany.band import Band
from stage.accompany.rehearse import notes, rehearse, to_midi
from stage.accompany.style import MAIN_SECTIONS, list_styles
from stage.engine.events import Note, NoteOff, NoteOn

STYLES = list_styles()


def test_the_six_styles_are_shipped() -> None:
    assert {"pop-rock", "funk", "ballad", "bossa", "house", "jazz-swing"} <= set(STYLES)


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("section", ["main_a", "main_c", "main_d"])
def test_bass_and_keys_sound_chord_tones_on_strong_beats(style: str, section: str) -> None:
    band = Band(style, seed=3, chart=CHART, key=KEY_C, start_section=section)
    events = rehearse(band, 12, key=KEY_C)
    for part in ("bass", "keys", "pad"):
        good, total = strong_beat_ratio(notes(events, part))
        if total:
            assert good / total >= 0.95, (style, section, part, good, total)
    good, total = strong_beat_ratio(notes(events, "bass"))
    if section != "main_a":  # house's main A bass plays only offbeats
        assert total > 0, "the bass plays on strong beats"


def _render(style: str, energy: float, section: str = "main_b", bars: int = 8) -> list[Note]:
    band = Band(style, seed=5, chart=CHART, key=KEY_C, start_section=section,
                controls={"energy": energy})
    return notes(rehearse(band, bars, key=KEY_C))


@pytest.mark.parametrize("style", STYLES)
def test_density_and_velocity_rise_with_energy(style: str) -> None:
    levels = [0.1, 0.3, 0.5, 0.7, 0.9]
    renders = [_render(style, energy) for energy in levels]
    counts = [len(r) for r in renders]
    velocities = [mean(n.velocity for n in r) for r in renders]
    assert counts == sorted(counts) and counts[-1] > counts[0], counts
    assert all(a < b for a, b in itertools.pairwise(velocities)), velocities


def test_main_variations_rise_in_energy() -> None:
    for style in STYLES:
        counts = [len(_render(style, 0.5, section)) for section in MAIN_SECTIONS]
        assert counts == sorted(counts) and counts[-1] > counts[0], (style, counts)


def _seeded_midi(seed: int, window_ticks: int = 480) -> bytes:
    band = Band("funk", seed=seed, chart=CHART, key=KEY_C)

    def steer(bar: int) -> None:
        if bar == 2:
            band.set_control("energy", 0.9)
        if bar == 5:
            band.command_section("main_d")
        if bar == 10:
            band.command_section("ending")

    melody = [(BAR * 3 + 480 * i, bytes((0x90, 72 + (i % 3) * 2, 90))) for i in range(8)]
    melody += [(BAR * 3 + 480 * i + 400, bytes((0x80, 72 + (i % 3) * 2, 0))) for i in range(8)]
    events = rehearse(band, 14, key=KEY_C, on_bar=steer, window_ticks=window_ticks,
                      played=melody)
    buffer = io.BytesIO()
    to_midi(events).save(file=buffer)
    return buffer.getvalue()


def test_a_seeded_render_is_byte_identical() -> None:
    first = _seeded_midi(11)
    assert first == _seeded_midi(11)
    assert first != _seeded_midi(12), "the seed must matter (humanize)"


def test_the_render_does_not_depend_on_how_windows_are_cut() -> None:
    assert _seeded_midi(11, 480) == _seeded_midi(11, 240)


@pytest.mark.parametrize("style", STYLES)
def test_no_stuck_notes_and_every_event_in_its_window(style: str) -> None:
    band = Band(style, seed=2, chart=CHART, key=KEY_C, start_section="intro")
    windows: list[tuple[int, int, list]] = []
    original = band.window

    def spy(state, start, end):  # type: ignore[no-untyped-def]
        events = original(state, start, end)
        windows.append((start, end, list(events)))
        return events

    band.window = spy  # type: ignore[method-assign]
    melody = []
    for i in range(24):
        melody.append((BAR * 2 + 300 * i, bytes((0x90, 67 + i % 5, 80))))
        melody.append((BAR * 2 + 300 * i + 250, bytes((0x80, 67 + i % 5, 0))))
    melody.append((BAR * 9, bytes((0x90, 76, 80))))  # its off never comes
    events = rehearse(band, 20, key=KEY_C, played=melody,
                      on_bar=lambda bar: bar == 12 and band.command_section("ending"))
    for start, end, in_window in windows:
        assert all(start <= e.tick < end for e in in_window)
    assert all(n.duration > 0 and 0 <= n.pitch <= 127 and 1 <= n.velocity <= 127
               for n in notes(events))
    sounding: dict[tuple[int, int], int] = {}
    for event in sorted((e for e in events if isinstance(e, NoteOn | NoteOff)),
                        key=lambda e: (e.tick, isinstance(e, NoteOn))):
        key = (event.channel, event.pitch)
        sounding[key] = sounding.get(key, 0) + (1 if isinstance(event, NoteOn) else -1)
    assert all(count <= 0 for count in sounding.values()), sounding
    assert band.finished
    last_bar_notes = [n for n in notes(events) if n.tick >= 19 * BAR]
    assert not last_bar_notes, "after the ending the band is silent"


def test_drums_on_gm_channel_ten_and_every_event_credited() -> None:
    for style in STYLES:
        events = rehearse(Band(style, chart=CHART, key=KEY_C), 4, key=KEY_C)
        drums = notes(events, "drums")
        assert drums and all(n.channel == 9 for n in drums)
        assert {n.part for n in notes(events)} <= {"drums", "bass", "keys", "pad", "arp"}
        assert all(n.channel != 9 for n in notes(events) if n.part != "drums")


def test_keys_voice_leading_is_smooth_and_in_register() -> None:
    band = Band("pop-rock", seed=1, chart=CHART, key=KEY_C)
    keys = notes(rehearse(band, 12, key=KEY_C), "keys")
    mix = band.style.mix["keys"]
    assert all(mix.low <= n.pitch <= mix.high for n in keys)
    chords: dict[int, list[int]] = {}
    for n in keys:
        chords.setdefault(n.tick, []).append(n.pitch)
    voicings = [sorted(p) for _, p in sorted(chords.items())]
    moves = [sum(abs(a - b) for a, b in zip(x, y, strict=False)) / len(x)
             for x, y in itertools.pairwise(voicings) if len(x) == len(y)]
    assert moves and max(moves) <= 4.0, max(moves)  # no voice jumps far on average


def test_mood_colours_the_harmony() -> None:
    dark = Band("pop-rock", seed=1, chart=CHART, key=KEY_C, controls={"mood": 0.0})
    bright = Band("pop-rock", seed=1, chart=CHART, key=KEY_C,
                  controls={"mood": 1.0, "complexity": 0.9})
    dark_f = {n.pitch % 12 for n in notes(rehearse(dark, 3, key=KEY_C), "keys")
              if 2 * BAR <= n.tick < 3 * BAR}
    assert 8 in dark_f and 9 not in dark_f, "F turns F minor (the borrowed iv) when dark"
    bright_keys = notes(rehearse(bright, 1, key=KEY_C), "keys")
    assert {2, 11} & {n.pitch % 12 for n in bright_keys}, "bright and complex adds colour"
    low = mean(n.pitch for n in notes(rehearse(
        Band("pop-rock", chart=CHART, key=KEY_C, controls={"mood": 0.0}), 4, key=KEY_C),
        "keys"))
    high = mean(n.pitch for n in notes(rehearse(
        Band("pop-rock", chart=CHART, key=KEY_C, controls={"mood": 1.0}), 4, key=KEY_C),
        "keys"))
    assert high > low


def test_swing_delays_the_offbeats() -> None:
    straight = Band("jazz-swing", chart=CHART, key=KEY_C, controls={"swing": 0.0})
    swung = Band("jazz-swing", chart=CHART, key=KEY_C, controls={"swing": 1.0})
    ride = 51

    def offbeat_delay(band: Band) -> float:
        hits = [n for n in notes(rehearse(band, 4, key=KEY_C), "drums") if n.pitch == ride]
        return mean((n.tick % 960) - 480 for n in hits if 400 <= n.tick % 960 < 900)

    assert offbeat_delay(swung) > offbeat_delay(straight) + 100


def test_walking_bass_approaches_the_next_chord_chromatically_when_complex() -> None:
    band = Band("jazz-swing", seed=1, chart=CHART, key=KEY_C, start_section="main_b",
                controls={"complexity": 0.9})
    bass = notes(rehearse(band, 8, key=KEY_C), "bass")
    from band_helpers import chart_chord

    approaches = [n for n in bass if (n.tick % BAR) // 960 == 3 and n.tick % BAR < 3 * 960 + 60]
    assert approaches
    for note in approaches:
        next_bar = (note.tick // BAR + 1) * BAR
        target = chart_chord(next_bar)
        assert (note.pitch + 1) % 12 == target.bass_pc, (note, target)


@pytest.mark.parametrize("meter_text", ["3/4", "6/8", "5/4"])
def test_other_meters_lay_the_patterns_on_their_own_bars(meter_text: str) -> None:
    from stage.engine.state import Meter

    meter = Meter.parse(meter_text)
    band = Band("pop-rock", seed=2, chart=CHART, key=KEY_C, start_section="main_c")
    events = rehearse(band, 6, meter=meter, key=KEY_C,
                      on_bar=lambda bar: bar == 2 and band.command_section("main_d"))
    bar = meter.ticks_per_bar
    downbeat_bass = [n for n in notes(events, "bass") if n.tick % bar < 40]
    assert len(downbeat_bass) == 6, "the bass marks every downbeat"
    for note in downbeat_bass:
        chord = CHART.chord_at(note.tick // bar, 0, meter)
        assert chord is not None and note.pitch % 12 == chord.bass_pc
    assert all(n.tick < 6 * bar for n in notes(events))


def test_the_waltz_plays_in_three() -> None:
    from stage.engine.state import Meter

    three = Meter(3, 4)
    band = Band("waltz", seed=1, chart=CHART, key=KEY_C, start_section="main_b")
    events = rehearse(band, 4, meter=three, key=KEY_C)
    bar, beat = three.ticks_per_bar, three.ticks_per_beat
    bass_beats = {((n.tick + 40) % bar) // beat for n in notes(events, "bass")}
    keys_beats = {((n.tick + 40) % bar) // beat for n in notes(events, "keys")}
    assert bass_beats == {0} and keys_beats == {1, 2}, "oom-pah-pah"


def test_percussion_channel_notes_get_no_harmony() -> None:
    from stage.accompany.rehearse import steady_state
    from stage.engine.events import MidiMessage
    from stage.engine.state import Meter

    band = Band("pop-rock", chart=CHART, key=KEY_C)
    assert not band.react(MidiMessage(0, bytes((0x99, 50, 90))), steady_state(0, Meter()))


def test_a_no_chord_bar_leaves_the_harmony_parts_resting() -> None:
    from stage.accompany.rehearse import steady_state
    from stage.engine.chart import ChartSection, ChordChart
    from stage.engine.events import MidiMessage
    from stage.engine.state import Meter

    chart = ChordChart({"v": ChartSection.parse("v", ["C", "N", "F", "G"])}, ("v",))
    band = Band("pop-rock", seed=1, chart=chart, key=KEY_C, start_section="main_c")
    events = rehearse(band, 4, key=KEY_C)
    in_nc = {n.part for n in notes(events) if BAR + 40 <= n.tick < 2 * BAR}
    assert in_nc == {"drums"}
    answer = band.react(MidiMessage(0, bytes((0x90, 72, 90))), steady_state(BAR + 100, Meter()))
    assert not answer


def test_without_a_chart_the_band_plays_the_followers_chord() -> None:
    from stage.engine.harmony import Chord
    from stage.engine.state import Meter, PerformanceState

    band = Band("pop-rock", seed=1)
    g7, c = Chord(7, "7"), Chord(0, "maj")
    events = []
    for start in range(0, 2 * BAR, 480):
        state = PerformanceState(tick=start, meter=Meter(), bar_start_tick=(start // BAR) * BAR,
                                 chord=g7 if start < BAR else c, key=KEY_C)
        events.extend(band.window(state, start, start + 480))
    first = [n for n in notes(events) if n.part in ("bass", "keys", "pad") and n.tick < BAR]
    second = [n for n in notes(events) if n.part in ("bass", "keys", "pad")
              and n.tick >= BAR + 40]
    assert first and {n.pitch % 12 for n in first} <= set(g7.pitch_classes)
    assert second and {n.pitch % 12 for n in second} <= set(c.pitch_classes)
