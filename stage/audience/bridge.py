"""The crowd in the show: opens the setlist's polls on their bars and steers the band.

:class:`AudienceBridge` is a Generator the show runner adds beside the band. At every bar
line it publishes the musical state to the audience service (through the link), opens the
polls due at that bar, takes closed polls' results and console commands, and applies what
:class:`Steering` allows (bounded, smoothed, locks and vetoes honoured) to the band on that
bar or section. It never blocks: the link's methods only queue. The service being down,
restarting or slow changes nothing for the music: no result, no steer.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from stage.audience.polls import PollResult
from stage.audience.steering import Steering
from stage.engine.events import Cue, Event, MidiMessage
from stage.engine.setlist import Poll
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ

log = logging.getLogger(__name__)

RETIME_RATIO = 0.004
"""A tempo change of more than 0.4 % within a bar re-times the phones' beat at once (at
4 beats that is at most ~8 ms of drift by the bar's end at 120 bpm before it is sent)."""


class Link(Protocol):
    """What the bridge needs of a link (AudienceLink, or the offline SimulatedCrowd)."""

    def publish_state(self, state: dict[str, Any]) -> None: ...
    def open_poll(self, poll: dict[str, Any]) -> None: ...
    def take_results(self) -> list[PollResult]: ...
    def take_tallies(self) -> list[dict[str, Any]]: ...
    def take_console(self) -> list[dict[str, Any]]: ...


@dataclass
class ShowBars:
    """The show's running bar count across songs (the service closes polls by it)."""

    bar: int = 0


@dataclass
class SteerRecord:
    """One steer applied: at ``tick`` of the song, ``controls`` set, ``section`` asked,
    from ``polls`` (provenance for the summary and the show log)."""

    tick: int
    controls: dict[str, float]
    section: str | None
    polls: tuple[str, ...]


@dataclass
class AudienceBridge:
    """Generator ``audience``: bar-by-bar link between the crowd and the band."""

    link: Link
    polls: Sequence[Poll]
    set_control: Callable[[str, float], None]
    command_section: Callable[[str], None]
    section_at: Callable[[int], str | None]
    bars: ShowBars = field(default_factory=ShowBars)
    steering: Steering | None = None
    name: str = "audience"
    song: str = ""
    """The song's title, shown on phones and the big screen."""
    steered: list[SteerRecord] = field(default_factory=list)
    opened: list[tuple[int, str]] = field(default_factory=list)
    _next_bar_tick: int | None = None
    _seen_sections: set[str] = field(default_factory=set)
    _last_section: str | None = None
    _lines: deque[tuple[int, int, float]] = field(default_factory=lambda: deque(maxlen=4))
    """Bar lines published: (tick, show bar, bpm the phones extrapolate it with)."""

    def __post_init__(self) -> None:
        if self.steering is None:
            self.steering = Steering.from_setlist([p.mapping() for p in self.polls])

    def window(self, state: PerformanceState, start_tick: int, end_tick: int
               ) -> Sequence[Event]:
        bar = state.meter.ticks_per_bar
        if self._next_bar_tick is None:
            self._next_bar_tick = -(-start_tick // bar) * bar
        cues: list[Event] = []
        while self._next_bar_tick < end_tick:
            cues.extend(self._bar_line(state, self._next_bar_tick, bar))
            self._next_bar_tick += bar
        self._retime(state)
        return cues

    def _retime(self, state: PerformanceState) -> None:
        """The tempo moved within the bar now playing: phones get that bar re-anchored at
        the new tempo (its start as if it had been played at it), so the beats still to come
        land right; lines published ahead of it are replaced by the same extrapolation."""
        covering = [line for line in self._lines if line[0] <= state.tick]
        publish = getattr(self.link, "publish_tempo", None)
        if not covering or publish is None:
            return
        tick, show_bar, bpm = covering[-1]
        if abs(state.bpm - bpm) <= RETIME_RATIO * bpm:
            return
        publish({"bar": show_bar, "bpm": round(state.bpm, 3),
                 "meter": [state.meter.beats_per_bar, state.meter.beat_unit],
                 "at_ns": bar_start_ns(state, tick)})
        self._lines = deque(((t, b, state.bpm if t >= tick else p) for t, b, p in self._lines),
                            maxlen=4)

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()

    def _bar_line(self, state: PerformanceState, tick: int, bar_ticks: int) -> list[Event]:
        assert self.steering is not None
        section = self.section_at(tick)
        new_section = section is not None and section != self._last_section
        self._last_section = section
        song_bar = tick // bar_ticks
        self._lines.append((tick, self.bars.bar, state.bpm))
        self.link.publish_state({
            "bar": self.bars.bar, "section": section or "", "tick": tick,
            "bpm": round(state.bpm, 2), "chord": state.chord.label if state.chord else "N",
            "song": self.song, "meter": [state.meter.beats_per_bar, state.meter.beat_unit],
            "at_ns": bar_start_ns(state, tick),
            "energy": round(float(self.steering.values.get("energy", 0.5)), 4),
        })
        cues: list[Event] = []
        for poll in self.polls:
            if self._due(poll, song_bar, section, new_section):
                self.link.open_poll(poll.spec(self.bars.bar))
                self.opened.append((tick, poll.id))
                cues.append(Cue(tick, "/stage/poll/open", (poll.id, poll.kind)))
        self._console()
        cues.extend(self._tally_cues(tick))
        for result in self.link.take_results():
            if self.steering.offer(result):
                cues.append(Cue(tick, "/stage/poll/result",
                                (result.poll_id, result.winner if result.winner is not None
                                 else -1, float(result.value))))
        steer = self.steering.on_section() if new_section else self.steering.on_bar()
        # Only what the crowd has steered (or the performer locked) goes to the band: the
        # rest keeps the setlist's and the controller's values.
        steered = set(self.steering.steps) | set(self.steering.locks)
        applied = {c: v for c, v in steer.controls.items() if c in steered}
        for control, value in applied.items():
            self.set_control(control, value)
            cues.append(Cue(tick, "/stage/control", (control, round(float(value), 4))))
        if steer.section:
            self.command_section(steer.section)
        if steer.polls:
            self.steered.append(SteerRecord(tick, applied, steer.section, steer.polls))
        self.bars.bar += 1
        return cues

    def _tally_cues(self, tick: int) -> list[Event]:
        """The latest tally per poll since the last bar: for the big screen and the VJ rig."""
        latest: dict[str, dict[str, Any]] = {}
        for tally in self.link.take_tallies():
            latest[str(tally.get("poll"))] = tally
        cues: list[Event] = []
        for poll_id, tally in latest.items():
            value = float(tally.get("value") or 0.0)
            cues.append(Cue(tick, "/stage/poll/tally",
                            (poll_id, int(tally.get("voters") or 0), round(value, 4))))
            if tally.get("kind") == "tap":
                cues.append(Cue(tick, "/stage/crowd/energy", (round(value, 4),)))
        return cues

    def _due(self, poll: Poll, song_bar: int, section: str | None, new_section: bool) -> bool:
        if poll.open_bar is not None:
            return poll.open_bar == song_bar
        if poll.open_section is not None and new_section and section == poll.open_section:
            first = section not in self._seen_sections
            self._seen_sections.add(section)
            return first
        return False

    def _console(self) -> None:
        assert self.steering is not None
        for command in self.link.take_console():
            action = command.get("action")
            try:
                if action == "lock" and command.get("locked") is False:
                    self.steering.unlock(str(command["control"]))
                elif action == "lock":
                    value = command.get("value")
                    self.steering.lock(str(command["control"]),
                                       None if value is None else float(value))
                elif action == "unlock":
                    self.steering.unlock(str(command["control"]))
                elif action == "veto":
                    self.steering.veto(str(command["poll"]))
                elif action == "panic":
                    log.warning("panic from the console (the link silenced the outputs)")
            except (KeyError, ValueError, TypeError) as exc:
                log.warning("console command %r ignored: %s", command, exc)


def bar_start_ns(state: PerformanceState, tick: int) -> int:
    """When the bar line at ``tick`` sounds, in ``perf_counter_ns``: the state is the
    followed position now, and the tempo holds from now on (a later change is re-sent with
    the next bar). Phones place their beat pulse from it; meaningful on the real clock."""
    ns_per_tick = 60e9 / (state.bpm * PPQ)
    return time.perf_counter_ns() + round((tick - state.tick) * ns_per_tick)
