"""TOML with positions: parse with tomllib, then find where every key, table and array item
sits in the source, so a schema error can point at ``line:col``.

tomllib gives values but no positions. :class:`TomlPositions` scans text that tomllib has
already accepted (so it may assume the text is well-formed) and records, for every value's
path (``("song", 0, "sections", "verse", "chords", 3)``), the offset of its key (or of its
header, or of the array item). Paths through arrays of tables carry the element's index.
"""

from __future__ import annotations

import bisect
import contextlib
import re
import tomllib
from pathlib import Path
from typing import Any

PathKey = tuple[str | int, ...]

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_TOML_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


class TomlSyntaxError(ValueError):
    """tomllib's error with its position pulled out (1-based line and column)."""

    def __init__(self, message: str, line: int, col: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.col = col


def load_toml(path: Path) -> tuple[dict[str, Any], TomlPositions]:
    """Read and parse ``path``. Raises OSError, TomlSyntaxError."""
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise TomlSyntaxError("file is not UTF-8 text", line, col) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_POSITION.search(message)
        line, col = (int(found.group(1)), int(found.group(2))) if found else (
            text.count("\n") + 1, 1)
        raise TomlSyntaxError(_TOML_POSITION.sub("", message).strip(), line, col) from None
    return data, TomlPositions(text)


class TomlPositions:
    """Offsets of keys, headers and array items in well-formed TOML ``text``."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._line_starts = [0] + [i + 1 for i, ch in enumerate(text) if ch == "\n"]
        self.offsets: dict[PathKey, int] = {}
        self._aot_counts: dict[PathKey, int] = {}
        self._i = 0
        with contextlib.suppress(IndexError, ValueError):  # positions never fail the caller
            self._document()

    # --- lookup ---------------------------------------------------------------------------
    def locate(self, path: PathKey) -> tuple[int, int]:
        """1-based (line, col) of ``path``, or of its nearest recorded ancestor (else 1:1)."""
        for end in range(len(path), 0, -1):
            offset = self.offsets.get(tuple(path[:end]))
            if offset is not None:
                return self.line_col(offset)
        return 1, 1

    def line_col(self, offset: int) -> tuple[int, int]:
        line = bisect.bisect_right(self._line_starts, offset) - 1
        return line + 1, offset - self._line_starts[line] + 1

    # --- scanning -------------------------------------------------------------------------
    def _document(self) -> None:
        table: PathKey = ()
        text = self.text
        while True:
            self._skip(newlines=True)
            if self._i >= len(text):
                return
            if text.startswith("[[", self._i):
                start = self._i
                self._i += 2
                keys = self._keys()
                self._i += 2  # ']]'
                parent = self._resolve(keys[:-1], start)
                array = (*parent, keys[-1])
                index = self._aot_counts.get(array, 0)
                self._aot_counts[array] = index + 1
                self.offsets.setdefault(array, start)
                table = (*array, index)
                self.offsets[table] = start
            elif text[self._i] == "[":
                start = self._i
                self._i += 1
                table = self._resolve(self._keys(), start)
                self._i += 1  # ']'
                self.offsets[table] = start
            else:
                self._key_value(table)

    def _resolve(self, keys: list[str], start: int) -> PathKey:
        """A header's keys -> path, stepping into the latest element of arrays of tables;
        tables the header creates implicitly are placed at the header (``start``)."""
        path: PathKey = ()
        for key in keys:
            path = (*path, key)
            count = self._aot_counts.get(path)
            if count:
                path = (*path, count - 1)
            self.offsets.setdefault(path, start)
        return path

    def _key_value(self, table: PathKey) -> None:
        start = self._i
        keys = self._keys()
        path = table
        for key in keys:
            path = (*path, key)
            self.offsets.setdefault(path, start)
        self._skip()
        self._i += 1  # '='
        self._skip()
        self._value(path)

    def _keys(self) -> list[str]:
        keys = []
        while True:
            self._skip()
            keys.append(self._key())
            self._skip()
            if self._i < len(self.text) and self.text[self._i] == ".":
                self._i += 1
                continue
            return keys

    def _key(self) -> str:
        text = self.text
        if text[self._i] in "\"'":
            return str(tomllib.loads("k = " + self._string_token())["k"])
        found = _BARE_KEY.match(text, self._i)
        if found is None:
            raise ValueError(f"no key at offset {self._i}")
        self._i = found.end()
        return found.group()

    def _value(self, path: PathKey) -> None:
        ch = self.text[self._i]
        if ch == "[":
            self._array(path)
        elif ch == "{":
            self._inline_table(path)
        elif ch in "\"'":
            self._string_token()
        else:
            while self._i < len(self.text) and self.text[self._i] not in ",]}\n#":
                self._i += 1

    def _array(self, path: PathKey) -> None:
        self._i += 1
        index = 0
        while True:
            self._skip(newlines=True)
            if self.text[self._i] == "]":
                self._i += 1
                return
            if self.text[self._i] == ",":
                self._i += 1
                continue
            self.offsets[(*path, index)] = self._i
            self._value((*path, index))
            index += 1

    def _inline_table(self, path: PathKey) -> None:
        self._i += 1
        while True:
            self._skip()
            ch = self.text[self._i]
            if ch == "}":
                self._i += 1
                return
            if ch == ",":
                self._i += 1
                continue
            self._key_value(path)

    def _string_token(self) -> str:
        """Consume one string literal of any of TOML's four kinds; return its source."""
        text, start = self.text, self._i
        quote = text[start]
        triple = text.startswith(quote * 3, start)
        i = start + (3 if triple else 1)
        while True:
            ch = text[i]
            if ch == "\\" and quote == '"':
                i += 2
                continue
            if triple and text.startswith(quote * 3, i):
                i += 3
                while i < len(text) and text[i] == quote:  # up to two quotes may close it
                    i += 1
                break
            if not triple and ch == quote:
                i += 1
                break
            i += 1
        self._i = i
        return text[start:i]

    def _skip(self, newlines: bool = False) -> None:
        """Skip spaces, tabs, comments (and newlines when asked)."""
        text = self.text
        while self._i < len(text):
            ch = text[self._i]
            if ch in " \t\r" or (newlines and ch == "\n"):
                self._i += 1
            elif ch == "#":
                end = text.find("\n", self._i)
                self._i = len(text) if end < 0 else end
            else:
                return
