"""The song's form, played: asks the band for each setlist section at its bar.

The arranger keeps one pending request, so the conductor asks for each section only once the
one before it is under way, and always before the bar of its fill.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stage.accompany.band import Band
from stage.engine.events import Event, MidiMessage
from stage.engine.state import Meter, PerformanceState


@dataclass(frozen=True, slots=True)
class FormEntry:
    """Song section ``name`` played as arranger section ``arranger`` from ``start_tick``."""

    name: str
    arranger: str
    start_tick: int


class SongConductor:
    """A Generator around a :class:`Band` that walks the setlist's form bar by bar."""

    name = "band"

    def __init__(self, band: Band, form: Sequence[FormEntry], meter: Meter,
                 end_tick: int | None = None) -> None:
        self.band = band
        self.form = list(form)
        self.meter = meter
        self.end_tick = end_tick
        self._asked = 1  # the first section is the band's start section

    @classmethod
    def from_sections(cls, band: Band, sections: Sequence[tuple[str, str, int]],
                      meter: Meter) -> SongConductor:
        """``sections``: (song section, arranger section, bars) in playing order."""
        form, tick = [], 0
        for name, arranger, bars in sections:
            form.append(FormEntry(name, arranger, tick))
            tick += bars * meter.ticks_per_bar
        return cls(band, form, meter, tick)

    def section_at(self, tick: int) -> FormEntry | None:
        """The song section sounding at ``tick`` (ticks)."""
        current = None
        for entry in self.form:
            if entry.start_tick > tick:
                break
            current = entry
        return current

    @property
    def finished(self) -> bool:
        return self.band.finished

    def window(self, state: PerformanceState, start_tick: int, end_tick: int
               ) -> Sequence[Event]:
        self._ask_ahead(start_tick)
        return self.band.window(state, start_tick, end_tick)

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        if self.band.handle_controller(message):
            return ()
        return self.band.react(message, state)

    def release(self, tick: int) -> Sequence[Event]:
        """The band's held voices end at ``tick`` (the show is stopping)."""
        return self.band.release(tick)

    def close(self) -> None:
        """The song is over: the band lets its parts' resources go."""
        self.band.close()

    def _ask_ahead(self, start_tick: int) -> None:
        bar = self.meter.ticks_per_bar
        while self._asked < len(self.form):
            previous, upcoming = self.form[self._asked - 1], self.form[self._asked]
            # ask once the section before is playing, and two bars ahead of the new one
            if start_tick < previous.start_tick or start_tick < upcoming.start_tick - 2 * bar:
                return
            self.band.command_section(upcoming.arranger, at_tick=upcoming.start_tick)
            self._asked += 1
            return
