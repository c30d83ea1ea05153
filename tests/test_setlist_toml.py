"""The TOML position index: every key, table and array item of a parsed file has a place,
and that place holds it, however the TOML is written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

from stage.engine.setlist_toml import PathKey, TomlPositions, TomlSyntaxError, load_toml

TRICKY = "\n".join([
    '# a comment with [brackets] and = signs',
    '"quoted key" = "value with # hash and [brackets]"',
    '\'literal key\'.dotted."deeper" = \'it is\'',
    'multi = """',
    'a "quoted" line ] with QQQ and \\""" inside',
    '"""',
    'raw = QQQ',
    'C:maj ] [ }',
    'QQQ',
    'numbers = [ 1, 2.5, -3,   # trailing comment',
    '  4e2, ]',
    'nested = [[1, 2], [3, [4, 5]], []]',
    'date = 1979-05-27 07:32:00Z',
    'inline = { a = 1, b = { c = [ "x", "y" ] }, "d e" = true }',
    '',
    '[table . sub]   # spaces around the dot',
    'x = 1',
    '',
    '[[aot]]',
    'name = "first"',
    '[aot.inner]',
    'y = 2',
    '[[aot.items]]',
    'z = 3',
    '[[aot.items]]',
    'z = 4',
    '',
    '[[aot]]',
    'name = "second"',
    '[[aot.items]]',
    'z = 5',
]).replace("QQQ", "'" * 3) + "\n"


def walk(value: Any, path: PathKey = ()) -> list[tuple[PathKey, Any]]:
    found: list[tuple[PathKey, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(((*path, key), item))
            found += walk(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append(((*path, index), item))
            found += walk(item, (*path, index))
    return found


def assert_every_place_holds_its_value(text: str, data: dict[str, Any]) -> None:
    positions = TomlPositions(text)
    lines = text.split("\n")  # TOML lines end at \n only (not at U+0085 and the like)
    for path, value in walk(data):
        assert path in positions.offsets, path
        line, col = positions.line_col(positions.offsets[path])
        here = lines[line - 1][col - 1:]
        last = path[-1]
        if isinstance(last, str):  # a key, or the header of its table
            assert here.startswith((last, "[", '"', "'")), (path, here)
        elif isinstance(value, (dict, list)):  # an item that is a table or an array
            assert here[0] in "{[", (path, here)
        elif isinstance(value, str):
            assert here[0] in "\"'", (path, here)
        else:
            assert here[0] in "-+0123456789tfin", (path, here)


def test_tricky_toml(tmp_path: Path) -> None:
    path = tmp_path / "t.toml"
    path.write_text(TRICKY)
    data, positions = load_toml(path)
    assert data["aot"][1]["items"][0]["z"] == 5
    assert_every_place_holds_its_value(TRICKY, data)
    assert positions.locate(("aot", 1, "items", 0, "z")) == (31, 1)
    assert positions.locate(("aot", 0, "items", 1)) == (25, 1)
    assert positions.locate(("inline", "b", "c", 1)) == (14, 36)
    assert positions.locate(("numbers", 3)) == (11, 3)
    assert positions.locate(("table", "sub", "x")) == (17, 1)
    assert positions.locate(("nowhere", "at", "all")) == (1, 1)
    assert positions.locate(("inline", "missing")) == (14, 1)  # nearest ancestor


@pytest.mark.parametrize("path", sorted((ROOT / "setlists").rglob("*.toml")),
                         ids=lambda p: p.name)
def test_shipped_setlists(path: Path) -> None:
    data, _ = load_toml(path)
    assert_every_place_holds_its_value(path.read_text(), data)


def test_syntax_error_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('a = 1\nb = [1, 2\nc = 3\n')
    with pytest.raises(TomlSyntaxError) as caught:
        load_toml(path)
    assert (caught.value.line, caught.value.col) == (3, 1)
    assert "at line" not in caught.value.message


KEYS = st.one_of(st.from_regex(r"[A-Za-z_][A-Za-z0-9_-]{0,6}", fullmatch=True),
                 st.text(alphabet='ab .#[]="\'', min_size=1, max_size=5))
SCALARS = st.one_of(st.integers(-1000, 1000), st.booleans(), st.text(max_size=6),
                    st.floats(allow_nan=False, allow_infinity=False, width=32))


def _key(key: str) -> str:
    if key.replace("_", "a").replace("-", "a").isalnum() and key.isascii():
        return key
    return _string(key)


def _string(text: str) -> str:
    """A TOML basic string: JSON's escapes are TOML's, and TOML also forbids a raw DEL."""
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list) and not value:
        return "[]"
    if isinstance(value, list):
        return "[\n  " + ",\n  ".join(_value(v) for v in value) + ",\n]"
    return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"


VALUES = st.recursive(SCALARS, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(KEYS, inner, max_size=3)), max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(top=st.dictionaries(KEYS, VALUES, max_size=4),
       tables=st.dictionaries(KEYS, st.dictionaries(KEYS, VALUES, max_size=3), max_size=3))
def test_generated_documents(top: dict[str, Any], tables: dict[str, dict[str, Any]]) -> None:
    tables = {k: v for k, v in tables.items() if k not in top}
    text = "".join(f"{_key(k)} = {_value(v)}  # note\n" for k, v in top.items())
    for name, table in tables.items():
        text += f"\n[{_key(name)}]\n" + "".join(f"{_key(k)} = {_value(v)}\n"
                                                for k, v in table.items())
    import tomllib

    data = tomllib.loads(text)
    assert_every_place_holds_its_value(text, data)
