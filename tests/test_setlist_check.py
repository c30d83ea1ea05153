"""`stage check`: every problem as file:line:col, exit 2; a summary and exit 0 when valid;
never a traceback, whatever the file holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, TIMEOUT_S
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage.cli import main
from stage.engine.setlist_check import check_file

GOOD = """\
title = "Test Song"
tempo = 100.0
meter = "4/4"
key = "G:maj"
style = "pop-rock"
form = ["intro", "verse", "chorus", "ending"]

[sections.intro]
bars = 2

[sections.verse]
arranger = "main-a"
chords = ["G", "E:min7", "C:maj7", "D:7"]

[sections.chorus]
arranger = "main-b"
chords = ["C", "D", "B:min7 E:min", "A:7 D:7"]

[sections.ending]
bars = 1

[mix.bass]
program = 34
channel = 2

[[polls]]
id = "lift"
kind = "choice"
options = ["calm", "loud"]
effects = [{energy = 0.3}, {energy = 0.9, section = "main-c"}]
open_section = "verse"
close_on_section = true

[osc.scenes]
chorus = "wide"
"""


def write(tmp_path: Path, text: str, name: str = "song.toml") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def replace(old: str, new: str) -> str:
    assert old in GOOD, old
    return GOOD.replace(old, new, 1)


def test_good_song_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, GOOD)
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [f"{path}: ok: 'Test Song', 1 song, 11 charted bars, 1 poll"]


# (broken file text, [(line, col, words the message must hold)]) -- positions are 1-based
BROKEN = {
    "syntax": (replace('tempo = 100.0', 'tempo = = 100'), [(2, 9, "syntax")]),
    "unterminated string": (replace('"Test Song"', '"Test Song'), [(1, 19, "syntax")]),
    "missing title": (replace('title = "Test Song"\n', ''),
                      [(1, 1, "missing required key 'title'")]),
    "tempo type": (replace("100.0", '"fast"'), [(2, 1, "tempo: expected a number")]),
    "tempo range": (replace("100.0", "1000"), [(2, 1, "above the maximum 300")]),
    "meter": (replace('"4/4"', '"4/5"'), [(3, 1, "not a meter like 4/4")]),
    "meter vs style": (replace('"4/4"', '"3/4"'), [(3, 1, "'pop-rock' style's patterns")]),
    "key": (replace('"G:maj"', '"H:maj"'), [(4, 1, "not a pitch name: 'H'")]),
    "key mode": (replace('"G:maj"', '"G:lydian"'), [(4, 1, "unknown mode")]),
    "style": (replace('"pop-rock"', '"polka"'), [(5, 1, "unknown style 'polka'")]),
    "form entry": (replace('"chorus", "ending"]', '"chorus", "bridge"]'),
                   [(6, 37, "'bridge' is neither")]),
    "form type": (replace('form = ["intro",', 'form = [1,'), [(6, 9, "expected a string")]),
    "unknown top key": ('colour = "red"\n' + GOOD, [(1, 1, "unknown key 'colour'")]),
    "bad chord": (replace('"E:min7"', '"E:min13"'), [(13, 16, "unknown chord quality")]),
    "bad bass": (replace('"D:7"', '"D:7/q"'), [(13, 36, "bad bass degree")]),
    "empty bar": (replace('"C:maj7"', '" "'), [(13, 26, "empty bar")]),
    "arranger": (replace('"main-a"', '"main-e"'), [(12, 1, "unknown arranger section 'main-e'")]),
    "no arranger": (replace('arranger = "main-a"\n', ''), [(11, 1, "say which arranger")]),
    "bars vs chords": (replace('arranger = "main-a"\n', 'arranger = "main-a"\nbars = 3\n'),
                       [(13, 1, "3 bars, but the chords give 4")]),
    "chart needs lengths": (replace("[sections.intro]\nbars = 2\n", ""),
                            [(6, 9, "needs a length")]),
    "unknown part": (replace("[mix.bass]", "[mix.tuba]"), [(22, 1, "unknown name 'tuba'")]),
    "program range": (replace("program = 34", "program = 0"), [(23, 1, "below the minimum 1")]),
    "channel range": (replace("channel = 2", "channel = 17"), [(24, 1, "above the maximum 16")]),
    "poll kind": (replace('kind = "choice"', 'kind = "quiz"'), [(28, 1, "'quiz' is not one of")]),
    "poll options": (replace('["calm", "loud"]', '["calm"]'),
                     [(29, 1, "at least 2"), (30, 1, "2 effects for 1 options")]),
    "poll effect control": (replace("{energy = 0.3}", "{loudness = 0.3}"),
                            [(30, 13, "unknown name 'loudness'")]),
    "poll effect value": (replace("{energy = 0.3}", "{energy = 3}"),
                          [(30, 13, "above the maximum 1")]),
    "poll effect section": (replace('"main-c"', '"coda"'), [(30, 43, "'coda'")]),
    "poll opens nowhere": (replace('open_section = "verse"', 'open_section = "solo"'),
                           [(31, 1, "'solo' is not a section")]),
    "poll never closes": (replace("close_on_section = true\n", ""), [(26, 1, "never closes")]),
    "poll opens twice": (replace('open_section = "verse"', 'open_section = "verse"\nopen_bar = 4'),
                         [(26, 1, "exactly one of open_section or open_bar")]),
    "scale poll control": (replace('kind = "choice"', 'kind = "scale"'),
                           [(26, 1, "needs control"), (29, 1, "only choice polls have options"),
                            (30, 1, "only choice polls have effects")]),
    "duplicate poll": (GOOD.replace("[osc.scenes]", '[[polls]]\nid = "lift"\nkind = "tap"\n'
                       'control = "energy"\nopen_bar = 1\nopen_bars = 2\n\n[osc.scenes]'),
                       [(35, 1, "'lift' is used by an earlier poll")]),
    "scene": (replace('chorus = "wide"', 'solo = "wide"'),
              [(35, 1, "'solo' is not a section")]),
    "not utf-8": (None, [(1, 8, "not UTF-8")]),
    "bounds order": (replace("[mix.bass]", "[bounds]\nenergy = [0.9, 0.2]\n\n[mix.bass]"),
                     [(23, 1, "low 0.9 is above high 0.2")]),
    "bounds control": (replace("[mix.bass]", "[bounds]\nvolume = [0.1, 0.2]\n\n[mix.bass]"),
                       [(23, 1, "unknown name 'volume'")]),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_file_reports_every_problem_at_its_place(
        name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text, expected = BROKEN[name]
    path = tmp_path / "song.toml"
    if text is None:
        path.write_bytes(b'title "\xff\xfe"\n')
    else:
        write(tmp_path, text)
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == len(expected), lines
    for line, (row, col, words) in zip(lines, expected, strict=True):
        assert line.startswith(f"{path}:{row}:{col}: "), (line, row, col)
        assert words in line, line


def test_all_problems_not_just_the_first(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    text = (GOOD.replace("100.0", "5").replace('"G:maj"', '"X"')
            .replace('"E:min7"', '"E:bad"').replace("channel = 2", "channel = 0"))
    path = write(tmp_path, text)
    assert main(["check", str(path)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(": ")[0].rsplit(":", 2)[1:] for line in lines] == [
        ["2", "1"], ["4", "1"], ["13", "16"], ["24", "1"]]


def test_included_song_problems_name_the_song_file(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    write(tmp_path, replace('"E:min7"', '"E:bad"'), "songs/broken.toml")
    write(tmp_path, GOOD, "songs/fine.toml")
    show = write(tmp_path, '[show]\ntitle = "Night"\nperformer = "nope.mid"\n\n'
                 '[[song]]\nfile = "songs/fine.toml"\n\n[[song]]\nfile = "songs/broken.toml"\n'
                 '\n[[song]]\nfile = "songs/missing.toml"\n\n[[song]]\nfile = "x.toml"\n'
                 'tempo = 3\n', "show.toml")
    assert main(["check", str(show)]) == 2
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith(f"{show}:3:1: show.performer: no such file")
    assert lines[1].startswith(f"{show}:12:1: cannot read song file")
    assert lines[2].startswith(f"{show}:15:1: cannot read song file")
    assert lines[3].startswith(f"{show}:16:1: song[3]: unknown key 'tempo'")
    assert lines[4].startswith(f"{tmp_path / 'songs' / 'broken.toml'}:13:16: ")
    assert len(lines) == 5


def test_included_file_syntax_error_points_into_it(tmp_path: Path) -> None:
    write(tmp_path, "title = \n", "songs/a.toml")
    show = write(tmp_path, '[show]\ntitle = "t"\n[[song]]\nfile = "songs/a.toml"\n', "s.toml")
    _, problems = check_file(show)
    assert [(p.file.name, p.line, p.col) for p in problems] == [("a.toml", 1, 9)]


def test_missing_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "absent.toml")]) == 2
    out = capsys.readouterr().out
    absent = tmp_path / "absent.toml"
    assert out == f"{absent}:1:1: cannot read setlist: No such file or directory\n"


def test_shipped_setlists_are_valid(capsys: pytest.CaptureFixture[str]) -> None:
    files = [ROOT / "setlists" / "demo.toml", *sorted((ROOT / "setlists" / "songs").glob("*.toml"))]
    assert len(files) >= 4
    assert main(["check", *map(str, files)]) == 0
    assert capsys.readouterr().out.count(": ok: ") == len(files)


def test_the_installed_command(tmp_path: Path) -> None:
    """The real entry point: exit codes and output through a fresh process."""
    bad = write(tmp_path, replace("100.0", "1000"))
    result = subprocess.run([sys.executable, "-m", "stage.cli", "check", str(bad)],
                            capture_output=True, text=True, timeout=TIMEOUT_S * 3, cwd=ROOT)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stdout.startswith(f"{bad}:2:1: tempo: 1000 is above the maximum 300")


# --- fuzzing: no input makes the checker raise -----------------------------------------

FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _check_never_raises(path: Path, text: str | bytes) -> None:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    show, problems = check_file(path)
    assert (show is None) == bool(problems)
    lines = max(1, (text.count(b"\n" if isinstance(text, bytes) else "\n")) + 1)
    for problem in problems:
        assert 1 <= problem.line <= lines and problem.col >= 1, problem
        assert problem.message


@FUZZ
@given(cuts=st.lists(st.tuples(st.integers(0, len(GOOD)), st.integers(0, 12),
                               st.sampled_from(["", "=", "[", "]", '"', "{", ",", "\n", "x",
                                                "1", "-", ".", "#", "'''", "[[polls]]\n"])),
                     min_size=1, max_size=4))
def test_fuzz_mutated_song(tmp_path: Path, cuts: list[tuple[int, int, str]]) -> None:
    text = GOOD
    for at, length, insert in cuts:
        at = min(at, len(text))
        text = text[:at] + insert + text[at + length:]
    _check_never_raises(tmp_path / "fuzz.toml", text)


@FUZZ
@given(text=st.text(alphabet=st.sampled_from(list('abkt=[]{}"\'.,#\n 0123456789-_:/'
                                                  "titleformpollssections")), max_size=200))
def test_fuzz_random_toml_like_text(tmp_path: Path, text: str) -> None:
    _check_never_raises(tmp_path / "fuzz.toml", text)


@FUZZ
@given(value=st.recursive(
    st.one_of(st.integers(-5, 500), st.floats(allow_nan=False, allow_infinity=False),
              st.booleans(), st.text(max_size=8)),
    lambda inner: st.lists(inner, max_size=3), max_leaves=6),
    key=st.sampled_from(["title", "tempo", "meter", "key", "style", "form", "sections",
                         "mix", "controls", "controller", "polls", "osc"]))
def test_fuzz_values_of_the_wrong_shape(tmp_path: Path, key: str, value: object) -> None:
    lines = [line for line in GOOD.split("\n[", 1)[0].splitlines()
             if not line.startswith(key + " ")]
    body = "\n".join(lines) + "\n" + f"{key} = {_toml(value)}\n" + "\n[" + GOOD.split("\n[", 1)[1]
    if key in ("sections", "mix", "osc", "polls"):
        body = body.replace(f"[{key}.", "[other.").replace(f"[[{key}]]", "[[other]]")
    _check_never_raises(tmp_path / "fuzz.toml", body)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.encode("unicode_escape").decode().replace('"', '\\"') + '"'
    assert isinstance(value, list)
    return "[" + ", ".join(_toml(v) for v in value) + "]"
