"""The show log: one :class:`ShowLog` per show, one :class:`SongLog` observer per song.

Append-only JSON lines (see :mod:`stage.engine.showlog.encode` for the kinds). Offline the
log is complete by construction; live it never blocks the engine (drops are counted and
reported in the ``end`` record and the engine's summary).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stage import __version__
from stage.engine.events import Cue, Event, MidiMessage, Note, NoteOff
from stage.engine.showlog.encode import FORMAT, encode
from stage.engine.showlog.probe import SongProbe
from stage.engine.showlog.writer import LogWriter
from stage.engine.state import PerformanceState

log = logging.getLogger(__name__)


def file_hash(path: str | Path | None) -> str | None:
    """sha256 of a file's bytes (None when there is no such file)."""
    if path is None:
        return None
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return None


class ShowLog:
    """Writes one show's log at ``path``. ``header``: what replay needs to rebuild the show
    (setlist, performer, seeds, flags); ``block``: offline (wait rather than drop)."""

    def __init__(self, path: str | Path, header: dict[str, Any], block: bool = False) -> None:
        self.path = Path(path)
        self.writer = LogWriter(self.path, encode, block=block)
        self.header = {"t": "header", "format": FORMAT, "version": __version__,
                       "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                       **header}
        self.writer.put(("raw", self.header))
        self.song_index = 0
        """The setlist index of the song playing now (the crowd's records carry it)."""
        self.health: Callable[[], dict[str, Any]] | None = None
        """Counters for every bar record and the end (xruns, say): cheap reads only."""

    def song(self, index: int, title: str, generators: Sequence[Any], bpm: float,
             meter: str, offset_tick: int = 0, start_bar: int = 0) -> SongLog:
        """The observer for song ``index``; ``offset_tick`` where it starts in the joined
        show (ticks); ``start_bar`` the song bar it starts at (a resumed show)."""
        self.writer.put(("raw", {"t": "song", "song": index, "title": title, "bpm": bpm,
                                 "meter": meter, "offset_tick": offset_tick,
                                 "start_bar": start_bar,
                                 "mono_ns": time.perf_counter_ns()}))
        self.song_index = index
        return SongLog(self, index, SongProbe(generators), start_bar)

    def put(self, record: dict[str, Any]) -> None:
        self.writer.put(("raw", record))

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """The ``end`` record (drops, counts), then flush and close."""
        health = self.health() if self.health is not None else {}
        self.writer.put(("raw", {"t": "end", "dropped": self.writer.dropped,
                                 "records": self.writer.written + 1, **health,
                                 **(summary or {})}))
        self.writer.close()
        if self.writer.dropped:
            log.warning("show log dropped %d records (%s)", self.writer.dropped, self.path)

    @property
    def dropped(self) -> int:
        return self.writer.dropped


class SongLog:
    """The engine's observer for one song (on the engine thread: compares and hands off)."""

    def __init__(self, show: ShowLog, index: int, probe: SongProbe, start_bar: int = 0
                 ) -> None:
        self.show = show
        self.index = index
        self.probe = probe
        self.start_bar = start_bar
        self._put = show.writer.put
        self._state: PerformanceState | None = None
        self._signature: tuple[Any, ...] | None = None
        self._bar: int | None = None
        self._controls: dict[Any, int] = {}
        self._last_controls: tuple[Any, tuple[str, ...], int] | None = None
        self.link_bar = 0

    # -- EngineObserver ------------------------------------------------------------------
    def heard(self, message: MidiMessage, show_ns: int, tick: int) -> None:
        self._put(("in", self.index, message, show_ns, tick))

    def decided(self, state: PerformanceState, show_ns: int) -> None:
        self._state = state
        signature = (state.bpm, state.meter, state.bar_start_tick, state.chord,
                     state.next_chord, state.key)
        if signature != self._signature:
            self._signature = signature
            self._put(("state", self.index, state, show_ns))
        bar = self.start_bar + max(state.tick, 0) // state.meter.ticks_per_bar
        if bar != self._bar:
            self._bar = bar
            health = self.show.health() if self.show.health is not None else {}
            self._put(("raw", {"t": "bar", "song": self.index, "bar": bar, "tick": state.tick,
                               "ns": show_ns, "mono_ns": time.perf_counter_ns(), **health}))
        for steer in self.probe.new_steers():
            self._put(("raw", {"t": "steer", "song": self.index, **steer}))

    def generated(self, event: Event, show_ns: int) -> None:
        if isinstance(event, Cue):
            self._put(("event", self.index, event, show_ns, "", None))
            return
        source = event.source if isinstance(event, Note) else ""
        source = source or self.probe.default_source(event.part)
        ctl = None if isinstance(event, NoteOff) else self._controls_id(event.tick)
        self._put(("event", self.index, event, show_ns, source, ctl))

    def _controls_id(self, tick: int) -> int | None:
        values = self.probe.controls_at(tick, self._state)
        if values is None:
            return None
        polls = self.probe.steer_polls(tick)
        last = self._last_controls
        if last is not None and last[0] is values and last[1] == polls:
            return last[2]
        key = (values, polls)
        ident = self._controls.get(key)
        if ident is None:
            ident = self._controls[key] = len(self._controls)
            self._put(("controls", self.index, ident, values, polls))
        self._last_controls = (values, polls, ident)
        return ident

    def ended(self, end_tick: int, inputs_finished: bool | None, **extra: Any) -> None:
        for steer in self.probe.new_steers():  # applied on the last bar line
            self._put(("raw", {"t": "steer", "song": self.index, **steer}))
        self.probe = SongProbe(())  # let the song's band and bridge go
        self._controls.clear()
        self._last_controls = None
        self._state = None
        self._put(("raw", {"t": "song_end", "song": self.index, "end_tick": end_tick,
                           "inputs_finished": inputs_finished, **extra}))
