"""Reading a show log back: every whole line, tolerant of a last line cut by a crash."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ShowLogError(ValueError):
    """A file that is not a show log; the message names the file."""


@dataclass
class ShowLogData:
    """The records of one log, the header apart; ``truncated``: the last line was cut."""

    path: Path
    header: dict[str, Any]
    records: list[dict[str, Any]] = field(default_factory=list)
    truncated: bool = False

    def of(self, *kinds: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("t") in kinds]

    @property
    def complete(self) -> bool:
        """The show ended cleanly (its ``end`` record is there)."""
        return bool(self.records) and self.records[-1].get("t") == "end"


def read_log(path: str | Path) -> ShowLogData:
    """Parse ``path``; a cut last line is dropped (``truncated``), any other bad line is an
    error naming its line number."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ShowLogError(f"{path}: cannot read ({exc.strerror or exc})") from None
    lines = text.split("\n")
    truncated = bool(lines and lines[-1].strip())  # a whole log ends with a newline
    whole = lines[:-1]
    records: list[dict[str, Any]] = []
    for number, line in enumerate(whole, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ShowLogError(f"{path}:{number}: not a JSON line ({exc.msg})") from None
        if not isinstance(record, dict) or "t" not in record:
            raise ShowLogError(f"{path}:{number}: not a show log record")
        records.append(record)
    if not records or records[0].get("t") != "header":
        raise ShowLogError(f"{path}: not a show log (no header line)")
    return ShowLogData(path, records[0], records[1:], truncated)
