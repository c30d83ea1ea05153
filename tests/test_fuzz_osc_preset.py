"""Fuzzing the OSC preset loader: any preset file (mutated built-ins, rules of any shape, raw
bytes) loads or fails with one PresetError line; a loaded preset translates any cue without
raising (a rule that cannot translate a cue is skipped and logged)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage.engine.events import Cue
from stage.visuals.presets import PRESET_DIR, PRESETS, Preset, PresetError, load_preset

FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
BUILT_IN = [(PRESET_DIR / f"{name}.toml").read_text() for name in PRESETS]
CUES = st.builds(Cue, st.integers(0, 10_000),
                 st.sampled_from(["/stage/beat", "/stage/bar", "/stage/section",
                                  "/stage/chord", "/stage/poll/result", "/x"]),
                 st.lists(st.one_of(st.integers(-5, 5), st.floats(allow_nan=False),
                                    st.text(max_size=5)), max_size=3).map(tuple))
toml_scalar = st.one_of(st.integers(-3, 3), st.booleans(), st.text(
    alphabet=st.sampled_from(list("/$:{}123abfloatinsection_number*")), max_size=16))


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return "{" + ", ".join(f"{k} = {_toml(v)}" for k, v in value.items()) + "}"


def _loads_or_fails_clearly(path: Path) -> Preset | None:
    try:
        return load_preset(path)
    except PresetError as error:
        message = str(error)
        assert message and "\n" not in message.strip(), message
        return None


def _translates_anything(preset: Preset | None, cues: list[Cue]) -> None:
    if preset is None:
        return
    for cue in cues:
        for address, args in preset.translate(cue):
            assert isinstance(address, str) and isinstance(args, tuple)


@FUZZ
@given(which=st.integers(0, len(BUILT_IN) - 1),
       cuts=st.lists(st.tuples(st.integers(0, 2000), st.integers(0, 10),
                               st.sampled_from(["", "[[rule]]\n", "=", '"', "]", "{", "\n",
                                                'args = ["$9:int"]\n', "rule = 3\n",
                                                'cue = 5\n', 'address = "{7}"\n'])),
                     max_size=4),
       cues=st.lists(CUES, max_size=6))
def test_a_mutated_built_in_preset_loads_or_fails_on_one_line(
        tmp_path: Path, which: int, cuts: list[tuple[int, int, str]],
        cues: list[Cue]) -> None:
    text = BUILT_IN[which]
    for at, length, insert in cuts:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + length:]
    path = tmp_path / "mutated.toml"
    path.write_text(text)
    _translates_anything(_loads_or_fails_clearly(path), cues)


@FUZZ
@given(rules=st.one_of(
    st.lists(st.dictionaries(st.sampled_from(["cue", "address", "args", "x"]),
                             st.one_of(toml_scalar, st.lists(toml_scalar, max_size=3)),
                             max_size=4), max_size=4),
    toml_scalar, st.lists(toml_scalar, max_size=3)),
    cues=st.lists(CUES, max_size=6))
def test_rules_of_any_shape_load_or_fail_on_one_line(tmp_path: Path, rules: Any,
                                                     cues: list[Cue]) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(f'name = "fuzz"\nrule = {_toml(rules)}\n')
    _translates_anything(_loads_or_fails_clearly(path), cues)


@FUZZ
@given(raw=st.binary(max_size=300))
def test_raw_bytes_as_a_preset_fail_on_one_line(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "bytes.toml"
    path.write_bytes(raw)
    _loads_or_fails_clearly(path)
