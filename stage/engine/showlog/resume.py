"""Resuming a show after a crash: where the log says it was, and the song from that bar on.

The position is the last ``bar`` record: the song (its setlist index) and the bar that was
sounding when the log stopped. The band starts again on that bar (it was cut off) with the
rest of the form; the chart is moved with it and bar-numbered polls already opened are not
opened again.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from stage.engine.chart import ChartSection, ChordChart
from stage.engine.setlist import Song
from stage.engine.showlog.read import ShowLogData, ShowLogError

HELD_SECTION_BARS = 4
"""A section with no length is held for this many bars (as the show plays it)."""


@dataclass(frozen=True, slots=True)
class ResumePoint:
    """Song ``song`` (setlist index) from its bar ``bar`` (0-based, song bars)."""

    setlist: Path
    song: int
    bar: int


def resume_point(data: ShowLogData) -> ResumePoint:
    """Where a (crashed or stopped) show was: its setlist and last sounding song bar."""
    setlist = (data.header.get("setlist") or {}).get("path")
    if not setlist:
        raise ShowLogError(f"{data.path}: this show had no setlist; nothing to resume")
    bars = data.of("bar")
    if not bars:
        return ResumePoint(Path(setlist), 0, 0)
    last = bars[-1]
    ended = [r for r in data.of("song_end") if r["song"] == last["song"]
             and not r.get("stopped", False)]
    if ended:  # that song had played out: the next one from its top
        return ResumePoint(Path(setlist), int(last["song"]) + 1, 0)
    return ResumePoint(Path(setlist), int(last["song"]), int(last["bar"]))


def _section_bars(song: Song, name: str) -> int:
    section = song.sections[name]
    if section.bars is not None:
        return section.bars
    return len(section.chords.bars) if section.chords is not None else HELD_SECTION_BARS


def trim_song(song: Song, bar: int) -> Song:
    """``song`` as played from its bar ``bar`` (0-based): earlier sections dropped, the one
    under ``bar`` shortened (it keeps its name, so polls and scenes still find it)."""
    if bar <= 0:
        return song
    form: list[str] = []
    sections = dict(song.sections)
    at = 0
    for name in song.form:
        length = _section_bars(song, name)
        skip = bar - at
        at += length
        if skip >= length:
            continue
        if skip > 0:
            key = f"{name}~{skip}"
            sections[key] = dataclasses.replace(song.sections[name], bars=length - skip)
            name = key
        form.append(name)
    if not form:
        raise ShowLogError(f"{song.title}: bar {bar} is past the song's end")
    polls = tuple(p if p.open_bar is None else dataclasses.replace(p, open_bar=p.open_bar - bar)
                  for p in song.polls if p.open_bar is None or p.open_bar >= bar)
    chart = song.chart
    if chart is not None:
        rest = tuple(b for _, b in chart.bars())[bar:]
        chart = ChordChart({"resume": ChartSection("resume", rest)}, ("resume",)) if rest \
            else None
    return dataclasses.replace(song, form=tuple(form), sections=sections, polls=polls,
                               chart=chart)
