"""Opening a show's log: the header replay needs, the dated file a live show writes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from stage.engine.showlog.log import ShowLog, file_hash


def show_header(command: str, *, setlist: Path | None, song: dict[str, Any] | None,
                performer: Path | None, tracks: list[str] | None, seed: int, follow: bool,
                cues: bool, live: bool, crowd: dict[str, Any] | None,
                resumed_from: dict[str, Any] | None = None) -> dict[str, Any]:
    """What replay needs to rebuild the show: the setlist (path and content hash) or the
    inline song, the performer file (hash: replay plays its logged notes, not the file),
    the seed, the follower and cue flags, and the crowd."""
    return {
        "command": command,
        "setlist": None if setlist is None else {
            "path": str(Path(setlist).resolve()), "sha256": file_hash(setlist)},
        "song": song,
        "performer": None if performer is None else {
            "path": str(Path(performer).resolve()), "sha256": file_hash(performer),
            "tracks": list(tracks) if tracks else None},
        "seeds": {"seed": seed}, "follow": follow, "cues": cues, "live": live,
        "crowd": crowd, "resumed_from": resumed_from,
    }


def open_log(path: str | Path, header: dict[str, Any], block: bool) -> ShowLog:
    """A new log at ``path`` (an old file there is replaced)."""
    path = Path(path)
    path.unlink(missing_ok=True)
    return ShowLog(path, header, block=block)


def dated_path(folder: str | Path, now: dt.datetime | None = None) -> Path:
    """``folder/show-YYYYmmdd-HHMMSS.jsonl`` (UTC; a second log in the same second gets -2)."""
    stamp = (now or dt.datetime.now(dt.UTC)).strftime("%Y%m%d-%H%M%S")
    path = Path(folder) / f"show-{stamp}.jsonl"
    number = 2
    while path.exists():
        path = Path(folder) / f"show-{stamp}-{number}.jsonl"
        number += 1
    return path
