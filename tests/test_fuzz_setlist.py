"""Fuzzing whole shows (tests/test_setlist_check.py fuzzes one song file): a show file with
included songs, inline songs, OSC maps and polls, mutated or replaced by raw bytes, loads or
fails with SetlistError whose every problem is one line: file:line:col: message."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage.engine.setlist import SetlistError, load_setlist

ROOT = Path(__file__).resolve().parents[1]
SHOW = (ROOT / "setlists" / "demo.toml").read_text()
EXTRA = """
[show.osc]
preset = "resolume"
[show.osc.map]
"/stage/beat" = "/composition/tempocontroller/resync"
"""
FUZZ = settings(max_examples=100, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])
PROBLEM = re.compile(r"^.+:\d+:\d+: \S.*$")


def _folder(tmp_path: Path) -> Path:
    """A copy of the demo's setlists folder (songs and performer) to write the show into."""
    folder = tmp_path / "setlists"
    if not folder.exists():
        shutil.copytree(ROOT / "setlists", folder)
    return folder


def _loads_or_fails_clearly(path: Path) -> None:
    try:
        show = load_setlist(path)
    except SetlistError as error:
        assert error.problems
        for problem in error.problems:
            assert PROBLEM.match(str(problem)), str(problem)
            assert problem.line >= 1 and problem.col >= 1
        return
    assert show.songs


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, len(SHOW + EXTRA)), st.integers(0, 16),
                               st.sampled_from(["", "=", "[", "]]", '"', "{", "\n", "x", "-1",
                                                "[[song]]\n", 'file = "nowhere.toml"\n',
                                                'file = "../setlists/demo.toml"\n',
                                                "[song.sections.x]\n", "\\u0000", "ü"])),
                     min_size=1, max_size=5))
def test_a_mutated_show_loads_or_names_every_problem_on_one_line(
        tmp_path: Path, cuts: list[tuple[int, int, str]]) -> None:
    text = SHOW + EXTRA
    for at, length, insert in cuts:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + length:]
    path = _folder(tmp_path) / "fuzz.toml"
    path.write_text(text, encoding="utf-8")
    _loads_or_fails_clearly(path)


@FUZZ
@given(raw=st.binary(max_size=400))
def test_raw_bytes_as_a_show_fail_with_one_line_each(tmp_path: Path, raw: bytes) -> None:
    path = _folder(tmp_path) / "bytes.toml"
    path.write_bytes(b"[show]\n" + raw)
    _loads_or_fails_clearly(path)


def test_a_show_that_includes_itself_is_a_problem_not_a_hang(tmp_path: Path) -> None:
    path = _folder(tmp_path) / "loop.toml"
    path.write_text('[show]\ntitle = "loop"\n[[song]]\nfile = "loop.toml"\n')
    _loads_or_fails_clearly(path)
