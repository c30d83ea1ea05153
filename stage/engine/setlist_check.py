"""Checking a setlist: the schema (setlist_schema.json) for shape and ranges, then what
refers to what (form -> sections, chords, polls, scenes), every problem with its position.

Never raises on bad input: whatever the file holds, :func:`check_file` returns a list of
problems (empty when the setlist is valid) and the :class:`Show` when there are none.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from stage.engine.setlist import Problem, Show, Song
from stage.engine.setlist_song import build_song
from stage.engine.setlist_toml import PathKey, TomlPositions, TomlSyntaxError, load_toml

log = logging.getLogger(__name__)

SCHEMA_PATH = Path(__file__).with_name("setlist_schema.json")
_TOML_TYPES = {str: "a string", int: "an integer", float: "a number", bool: "true/false",
               dict: "a table", list: "an array"}


class Where:
    """Adds problems for one file: a path inside it -> its line and column."""

    def __init__(self, file: Path, positions: TomlPositions, problems: list[Problem],
                 prefix: PathKey = ()) -> None:
        self.file = file
        self.positions = positions
        self.problems = problems
        self.prefix = prefix

    def add(self, path: PathKey, message: str) -> None:
        line, col = self.positions.locate((*self.prefix, *path))
        self.problems.append(Problem(self.file, line, col, message))

    def count(self) -> int:
        return len(self.problems)


@cache
def _validator(definition: str) -> Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return Draft202012Validator({"$defs": schema["$defs"], "$ref": f"#/$defs/{definition}"})


def check_file(path: Path) -> tuple[Show | None, list[Problem]]:
    """Check a show file or a song file; (the show, []) when valid, else (None, problems)."""
    problems: list[Problem] = []
    loaded = _load(path, problems)
    if loaded is None:
        return None, problems
    data, positions = loaded
    where = Where(path, positions, problems)
    if "show" in data:
        show = _check_show(path, data, where)
    else:
        song = check_song(data, where, path)
        show = None if song is None else Show(song.title, (song,), source=path)
    return (show if not problems else None), in_order(problems, path)


def in_order(problems: list[Problem], first: Path) -> list[Problem]:
    """``first`` file's problems, then other files in the order they were read, each
    file's problems by line and column."""
    first_seen: dict[Path, int] = {first: 0}
    for problem in problems:
        first_seen.setdefault(problem.file, len(first_seen))
    return sorted(problems, key=lambda p: (first_seen[p.file], p.line, p.col))


def _load(path: Path, problems: list[Problem],
          at: Callable[[str], None] | None = None) -> tuple[dict[str, Any], TomlPositions] | None:
    """Parse ``path``; on failure add a problem (at the including key when ``at`` is given
    and the file cannot be read at all) and return None."""
    try:
        return load_toml(path)
    except TomlSyntaxError as exc:
        problems.append(Problem(path, exc.line, exc.col, f"TOML syntax error: {exc.message}"))
    except (OSError, ValueError) as exc:  # ValueError: a path with a NUL in it
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        if at is not None:
            at(f"cannot read song file {str(path)!r}: {reason}")
        else:
            problems.append(Problem(path, 1, 1, f"cannot read setlist: {reason}"))
    return None


def schema_problems(definition: str, data: Any, where: Where) -> None:
    """Add a problem for every place ``data`` breaks the schema's ``definition``."""
    for error in _validator(definition).iter_errors(data):
        _add_schema_error(error, where)


def _add_schema_error(error: ValidationError, where: Where) -> None:
    path: PathKey = tuple(error.absolute_path)
    name = _dotted((*where.prefix, *path)) or "top level"
    kind = error.validator
    if "propertyNames" in error.relative_schema_path:
        allowed = error.validator_value if kind == "enum" else None
        hint = f"; expected one of: {', '.join(map(str, allowed))}" if allowed else ""
        if kind == "pattern":
            hint = "; expected a MIDI number 0-127"
        where.add((*path, error.instance), f"{name}: unknown name {error.instance!r}{hint}")
    elif kind == "additionalProperties" and isinstance(error.instance, dict):
        known = sorted(error.schema.get("properties", {}))
        for extra in sorted(set(error.instance) - set(known)):
            where.add((*path, extra), f"{name}: unknown key {extra!r}"
                      + (f"; expected one of: {', '.join(known)}" if known else ""))
    elif kind == "required" and isinstance(error.instance, dict):
        for missing in error.validator_value:
            if missing not in error.instance:
                where.add(path, f"{name}: missing required key {missing!r}")
    elif kind == "type":
        expected = {"object": "a table", "array": "an array", "string": "a string",
                    "integer": "an integer", "number": "a number", "boolean": "true/false"}
        where.add(path, f"{name}: expected {expected.get(error.validator_value, 'a value')},"
                        f" got {_describe(error.instance)}")
    elif kind == "enum":
        choices = ", ".join(map(str, error.validator_value))
        where.add(path, f"{name}: {error.instance!r} is not one of: {choices}")
    elif kind == "pattern" and path and path[-1] == "meter":
        where.add(path, f"{name}: {error.instance!r} is not a meter like 4/4, 3/4 or 6/8")
    elif kind == "pattern" and path and path[-1] == "id":
        where.add(path, f"{name}: poll ids are 1-40 letters, digits, '-' or '_'")
    else:
        where.add(path, f"{name}: {_plain(error)}")


def _plain(error: ValidationError) -> str:
    kind, limit, value = error.validator, error.validator_value, error.instance
    texts = {
        "minimum": f"{value!r} is below the minimum {limit}",
        "maximum": f"{value!r} is above the maximum {limit}",
        "exclusiveMinimum": f"{value!r} must be above {limit}",
        "minItems": f"needs at least {limit} item(s)",
        "maxItems": f"takes at most {limit} item(s)",
        "minLength": "must not be empty" if limit == 1 else f"needs {limit}+ characters",
        "maxLength": f"is longer than {limit} characters",
        "minProperties": "must not be empty",
    }
    return texts.get(str(kind), error.message)


def _describe(value: Any) -> str:
    for kind, text in _TOML_TYPES.items():
        if type(value) is kind:
            return f"{text} ({value!r})" if kind in (str, int, float, bool) else text
    return type(value).__name__


def _dotted(path: PathKey) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else str(key))
    return text


def check_song(data: dict[str, Any], where: Where, source: Path) -> Song | None:
    """Schema and cross-reference checks for one song table; the Song when it has none."""
    before = where.count()
    schema_problems("song", data, where)
    song = build_song(data, where, source, since=before)
    return song if where.count() == before else None


def _check_show(path: Path, data: dict[str, Any], where: Where) -> Show | None:
    schema_problems("show_file", data, where)
    head: dict[str, Any] = data["show"] if isinstance(data.get("show"), dict) else {}
    entries: list[Any] = data["song"] if isinstance(data.get("song"), list) else []
    songs: list[Song | None] = [
        _check_entry(path, index, entry, where) for index, entry in enumerate(entries)
        if isinstance(entry, dict)]
    performer = _check_performer(path, head, where)
    if where.problems:
        return None
    return Show(title=str(head["title"]), songs=tuple(s for s in songs if s is not None),
                performer=performer,
                performer_tracks=tuple(head.get("performer_tracks", ())),
                audience=bool(head.get("audience", True)),
                osc_preset=_osc(head).get("preset"), osc_map=dict(_osc(head).get("map", {})),
                source=path)


def _osc(head: dict[str, Any]) -> dict[str, Any]:
    osc = head.get("osc")
    return osc if isinstance(osc, dict) else {}


def _check_entry(show_path: Path, index: int, entry: dict[str, Any],
                 where: Where) -> Song | None:
    """A ``[[song]]`` entry: an inline song, or ``file = "songs/x.toml"``."""
    if "file" not in entry:
        inline = Where(where.file, where.positions, where.problems, ("song", index))
        return check_song(entry, inline, show_path)
    entry_where = Where(where.file, where.positions, where.problems, ("song", index))
    schema_problems("song_ref", entry, entry_where)
    if not isinstance(entry["file"], str):
        return None
    song_path = Path(os.path.normpath(show_path.parent / entry["file"]))
    loaded = _load(song_path, where.problems, lambda m: entry_where.add(("file",), m))
    if loaded is None:
        return None
    data, positions = loaded
    song_where = Where(song_path, positions, where.problems)
    if "show" in data or "song" in data:
        song_where.add(("show",) if "show" in data else ("song",),
                       "an included song file holds one song's keys, not a show")
        return None
    return check_song(data, song_where, song_path)


def _check_performer(show_path: Path, head: dict[str, Any], where: Where) -> Path | None:
    """The performer file must exist, be MIDI, and hold the named tracks."""
    name = head.get("performer")
    if not isinstance(name, str) or not name:
        return None
    performer = Path(os.path.normpath(show_path.parent / name))
    if "\0" in name or not performer.is_file():
        where.add(("show", "performer"), f"show.performer: no such file {str(performer)!r}")
        return None
    tracks = head.get("performer_tracks")
    try:
        import mido

        names = {track.name for track in mido.MidiFile(performer).tracks}
    except Exception as exc:  # any malformed file: mido raises many kinds
        where.add(("show", "performer"), f"show.performer: not a readable MIDI file ({exc})")
        return None
    if isinstance(tracks, list):
        for index, track in enumerate(tracks):
            if isinstance(track, str) and track not in names:
                where.add(("show", "performer_tracks", index),
                          f"show.performer_tracks: no track {track!r} in the performer file"
                          f" (tracks: {', '.join(sorted(n for n in names if n))})")
    return performer
