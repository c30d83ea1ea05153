"""Styles are data: every shipped file loads; a malformed one is refused with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from band_helpers import CHART, KEY_C

from stage.accompany.band import Band
from stage.accompany.rehearse import notes, rehearse
from stage.accompany.style import SECTION_NAMES, list_styles, load_style


@pytest.mark.parametrize("name", list_styles())
def test_every_style_has_every_section_and_a_full_mix(name: str) -> None:
    style = load_style(name)
    assert set(style.sections) == set(SECTION_NAMES)
    assert style.mix["drums"].channel == 9
    channels = [mix.channel for mix in style.mix.values()]
    assert len(set(channels)) == len(channels), "each part on its own channel"
    for section in ("main_a", "main_b", "main_c", "main_d"):
        assert style.sections[section].lines("drums") or name == "ballad"
    assert style.sections["fill"].bars == 1 and style.sections["ending"].bars >= 1


def test_styles_contrast_in_feel_and_sound() -> None:
    styles = [load_style(name) for name in list_styles()]
    assert len({s.swing for s in styles}) >= 3
    assert len({s.mix["bass"].program for s in styles}) >= 3
    assert len({s.tempo for s in styles}) == len(styles)


def test_mix_overrides_change_the_programs_sent() -> None:
    band = Band("bossa", mix={"keys": {"program": 0, "channel": 7}}, chart=CHART, key=KEY_C)
    events = rehearse(band, 1, key=KEY_C)
    assert {n.channel for n in notes(events, "keys")} == {7}


def test_parts_can_be_chosen() -> None:
    band = Band("pop-rock", parts=["drums", "bass"], chart=CHART, key=KEY_C)
    assert {n.part for n in notes(rehearse(band, 2, key=KEY_C))} == {"drums", "bass"}
    with pytest.raises(ValueError):
        Band("pop-rock", parts=["tuba"])


@pytest.mark.parametrize("bad, reason", [
    ('kick = "x..z"', "not allowed"),
    ('kick = "x.."', "multiple of 4"),
    ('cowbel = "x..."', "unknown drum"),
])
def test_a_malformed_style_is_refused(tmp_path: Path, bad: str, reason: str) -> None:
    text = load_style_text("pop-rock").replace('kick = "x.......x.o....."', bad, 1)
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ValueError, match=reason):
        load_style(path)


def test_an_unknown_style_names_the_ones_there_are() -> None:
    with pytest.raises(ValueError, match="pop-rock"):
        load_style("polka")


def load_style_text(name: str) -> str:
    from stage.accompany.style import STYLES_DIR

    return (STYLES_DIR / f"{name}.toml").read_text()
