"""A setlist chooses the model per part: ``engine = "model"`` loads, is checked, and plays
the neural keys part (with the chord predictor in front of the follower's anticipation)."""

from __future__ import annotations

from pathlib import Path

from conftest import ROOT

from stage.accompany.conductor import SongConductor
from stage.accompany.model.anticipator import ModelChordAnticipator
from stage.accompany.model.part import ModelKeysPart
from stage.commands._songs import OFFLINE_MODEL_WAIT_S, song_plugins
from stage.engine.follow.midi import MidiFollower
from stage.engine.setlist import load_setlist
from stage.engine.setlist_check import check_file
from stage.engine.show import play_song_offline

SONG = """\
title = "Model Keys"
tempo = 110.0
meter = "4/4"
key = "A:min"
style = "pop-rock"
form = ["verse", "ending"]

[sections.verse]
arranger = "main-a"
chords = ["A:min", "F", "C", "G"]

[sections.ending]
chords = ["A:min"]

[mix.keys]
engine = "model"

[mix.pad]
engine = "pattern"
"""


def test_engine_model_loads_per_part(tmp_path: Path) -> None:
    path = tmp_path / "song.toml"
    path.write_text(SONG)
    song = load_setlist(path).songs[0]
    assert song.mix["keys"].engine == "model"
    assert song.mix["pad"].engine == "pattern"


def test_an_unknown_engine_is_reported_at_its_place(tmp_path: Path) -> None:
    path = tmp_path / "song.toml"
    path.write_text(SONG.replace('engine = "model"', 'engine = "neural"'))
    _, problems = check_file(path)
    assert problems
    line = SONG.splitlines().index('engine = "model"') + 1
    assert any(p.line == line for p in problems), [str(p) for p in problems]


def test_a_model_song_renders_offline_with_every_bar_from_the_model(tmp_path: Path) -> None:
    path = tmp_path / "song.toml"
    path.write_text(SONG)
    song = load_setlist(path).songs[0]
    plugins = song_plugins(song, performer=None)
    conductor = plugins.generators[0]
    assert isinstance(conductor, SongConductor)
    keys = next(p for p in conductor.band.parts if p.name == "keys")
    assert isinstance(keys, ModelKeysPart) and keys.wait_s == OFFLINE_MODEL_WAIT_S  # waits
    recorder, _, _ = play_song_offline(plugins)
    assert recorder.notes_per_part().get("keys", 0) > 0
    assert keys.stats.played >= 4 and keys.stats.missed == 0 and keys.stats.refused == 0


def test_a_model_song_with_a_performer_puts_the_chord_model_before_the_follower(
        tmp_path: Path) -> None:
    from stage.engine.ports.midifile import MidiFilePerformer

    path = tmp_path / "song.toml"
    path.write_text(SONG)
    song = load_setlist(path).songs[0]
    performer = MidiFilePerformer.from_file(ROOT / "setlists" / "performers" / "pop909-031.mid",
                                            ["MELODY"])
    plugins = song_plugins(song, performer=performer)
    assert isinstance(plugins.follower, MidiFollower)
    assert isinstance(plugins.follower.anticipator, ModelChordAnticipator)


def test_the_demo_show_has_a_model_keys_song() -> None:
    show = load_setlist(ROOT / "setlists" / "demo.toml")
    assert any(s.mix.get("keys") is not None and s.mix["keys"].engine == "model"
               for s in show.songs)
