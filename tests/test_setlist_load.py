"""Setlists load into the typed show the runner plays, and feed the band and audience APIs."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import ROOT, data_dir

from stage.engine.harmony import Chord, Key
from stage.engine.setlist import SetlistError, Show, load_setlist
from stage.engine.state import Meter

SETLISTS = ROOT / "setlists"
DEMO = SETLISTS / "demo.toml"


@pytest.fixture(scope="module")
def demo() -> Show:
    return load_setlist(DEMO)


def test_demo_show_loads_every_song_in_order(demo: Show) -> None:
    assert demo.title == "stage demo night"
    assert [s.title for s in demo.songs] == [
        "POP909 no. 31", "Late Night Funk", "Slow Burn", "Bossa para Todos",
        "Warehouse Jam", "Encore Blues"]
    assert demo.performer == SETLISTS / "performers" / "pop909-031.mid"
    assert demo.performer.is_file()
    assert demo.performer_tracks == ("MELODY", "PIANO")
    assert (SETLISTS / "performers" / "LICENSE-POP909").read_text().count("MIT") >= 2


def test_demo_song_priors_and_chart(demo: Show) -> None:
    song = demo.songs[0]
    assert song.tempo == pytest.approx(124.0)
    assert song.meter == Meter(4, 4)
    assert song.key == Key(1, "min")
    assert song.style == "pop-rock"
    assert song.source == SETLISTS / "songs" / "pop909-031.toml"
    assert song.chart is not None
    bars = song.chart.bars()
    assert len(bars) == 94
    assert bars[0] == ("pickup", (None,))
    assert bars[1] == ("verse", (Chord(1, "min"),))
    assert bars[-1][1] == (Chord(1, "min7", bass=11), Chord(1, "min"))
    arrangement = song.arrangement()
    assert [s.arranger for s in arrangement[:5]] == ["intro", "main_a", "fill", "main_b",
                                                     "main_c"]
    assert sum(s.bars or 0 for s in arrangement) == 94


def test_inline_song_and_units(demo: Show) -> None:
    encore = demo.songs[-1]
    assert encore.source == DEMO
    assert encore.meter == Meter(4, 4)  # the default
    assert encore.controls == {"swing": 0.66}
    ballad = demo.songs[2]
    # programs and channels are written 1-based, held 0-based
    assert ballad.mix["keys"].program == 0
    funk = demo.songs[1]
    assert funk.mix["bass"].program == 36
    assert funk.mix["keys"].engine == "model"
    assert funk.mix["arp"].mute
    assert funk.crowd_bounds == {"energy": (0.35, 0.95), "complexity": (0.2, 0.8)}
    assert funk.controller is not None
    table = funk.controller.as_dict()
    assert table["pad_channel"] == 9 and table["cc_channel"] == -1
    assert table["pads"][40] == "fill" and table["ccs"][74] == "complexity"
    assert table["sustain_double_tap"] == "break"


def test_held_sections_have_no_length_and_no_chart(demo: Show) -> None:
    jam = demo.songs[4]
    assert jam.chart is None
    assert jam.sections["groove"].bars is None
    assert jam.sections["drop"].arranger == "main_d" and jam.sections["drop"].bars == 16
    assert jam.sections["intro"].arranger == "intro"  # implicit: an arranger name in the form


def test_polls_feed_the_audience_service(demo: Show) -> None:
    steering = pytest.importorskip("stage.audience.steering")
    protocol = pytest.importorskip("stage.audience.protocol")
    polls = [poll for song in demo.songs for poll in song.polls]
    assert len(polls) == 9
    for poll in polls:
        mapping = steering.PollMapping.from_dict(poll.mapping())
        assert mapping.kind == poll.kind
        spec = protocol.parse_poll_spec(poll.spec(opened_at_bar=10))
        assert spec.poll_id == poll.id
        assert spec.close_bar == (None if poll.open_bars is None else 10 + poll.open_bars)
    choice = demo.songs[1].polls[0]
    assert choice.effects[2] == {"section": "main_b", "energy": 0.85}


def test_controller_and_mix_feed_the_band(demo: Show) -> None:
    arranger = pytest.importorskip("stage.accompany.arranger")
    style_module = pytest.importorskip("stage.accompany.style")
    funk = demo.songs[1]
    assert funk.controller is not None
    cmap = arranger.ControllerMap.from_dict(funk.controller.as_dict())
    assert cmap.pads[41] == "break" and cmap.pad_channel == 9 and cmap.double_tap == "break"
    for song in demo.songs:
        style = style_module.load_style(song.style).with_mix(song.mix_overrides())
        for part, settings in song.mix.items():
            assert style.mix[part].enabled is not settings.mute
            if settings.program is not None:
                assert style.mix[part].program == settings.program


def test_load_setlist_raises_with_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "x"\ntempo = 5\nstyle = "funk"\nform = ["nowhere"]\n')
    with pytest.raises(SetlistError) as caught:
        load_setlist(bad)
    problems = caught.value.problems
    assert [(p.line, p.col) for p in problems] == [(2, 1), (4, 9)]
    assert "30" in problems[0].message and "nowhere" in problems[1].message
    assert str(caught.value).splitlines()[0].startswith(f"{bad}:2:1: tempo")


def test_demo_chart_is_the_datasets_own() -> None:
    """Every bar of the demo song's chart matches POP909 031's chord annotation."""
    song_dir = data_dir() / "pop909" / "031"
    if not (song_dir / "chord_midi.txt").is_file():
        pytest.skip(f"POP909 not found at {song_dir} (set STAGE_DATA)")
    beats = [line.split() for line in (song_dir / "beat_midi.txt").read_text().splitlines()]
    times = [float(b[0]) for b in beats]
    downbeats = [float(b[0]) for b in beats if float(b[2]) == 1.0]
    beat_s = (times[-1] - times[0]) / (len(times) - 1)
    spans = [(float(a), float(b), label) for a, b, label in
             (line.split() for line in (song_dir / "chord_midi.txt").read_text().splitlines())]

    def annotated(at_s: float) -> Chord | None:
        label = next((lab for a, b, lab in spans if a - 1e-3 <= at_s < b - 1e-3), "N")
        return Chord.parse(label)

    chart = load_setlist(SETLISTS / "songs" / "pop909-031.toml").songs[0].chart
    assert chart is not None
    bars = chart.bars()
    assert len(bars) == len(downbeats)
    for index, (_, bar) in enumerate(bars):
        for slot, chord in enumerate(bar):
            at = downbeats[index] + slot * 4 * beat_s / len(bar) + 0.01
            assert chord == annotated(at), f"bar {index} slot {slot}"
