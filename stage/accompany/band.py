"""The band: parts from a style, steered by controls and the arranger, as one Generator.

``Band.window`` plans each bar once (its section and controls, on the bar line), then asks
every part for the window's events; ``Band.react`` reads controller pads and pedals and
answers melody notes with harmony voices at once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from stage.accompany.arranger import END, Arranger, ControllerMap
from stage.accompany.controls import Controls, ControlValues
from stage.accompany.harmonizer import HarmonyVoices
from stage.accompany.parts.arp import Arp
from stage.accompany.parts.base import TIMING_MARGIN, BarPlan, Part
from stage.accompany.parts.bass import Bass
from stage.accompany.parts.chords import ChordPart
from stage.accompany.parts.drums import Drums
from stage.accompany.style import PART_NAMES, Style, load_style
from stage.accompany.voicing import colour
from stage.engine.chart import Bar, ChordChart
from stage.engine.events import ControlChange, Cue, Event, MidiMessage, Note, ProgramChange
from stage.engine.harmony import Chord, Key
from stage.engine.state import Meter, PerformanceState

log = logging.getLogger(__name__)

HARMONY_SOURCES = ("auto", "follower", "chart")
MAX_HARMONY_HOLD_BARS = 4
"""A harmony voice whose melody note-off never came is ended after this many bars."""
CC_VOLUME = 7


class Band:
    """Every part of one style, as one Generator (``name`` 'band').

    ``style``: a Style or a style name/path; ``mix``: per-part mix overrides
    (``{"keys": {"program": 0}}``); ``seed``: humanize seed; ``chart``: the song's chord chart,
    bar 0 at ``chart_start_tick``; ``key``: the key when the follower has none;
    ``harmony_source``: 'auto' (the follower's chord, else the chart's, else the tonic),
    'follower' or 'chart' (the chart first); ``parts``: the parts to play (default all the
    style enables); ``controls``: starting values; ``engines``: part -> "pattern" or "model"
    (the neural keys part, stage/accompany/model/; ``model_wait_s`` how long a due bar may
    wait for it: 0 live, None offline for a deterministic render).
    """

    name = "band"

    def __init__(self, style: Style | str | Path,
                 mix: Mapping[str, Mapping[str, Any]] | None = None, seed: int = 0,
                 chart: ChordChart | None = None, key: Key | None = None,
                 parts: Sequence[str] | None = None, start_section: str = "main_a",
                 controls: Mapping[str, float] | None = None,
                 controller_map: ControllerMap | None = None, chart_start_tick: int = 0,
                 harmony_source: str = "auto", auto_fill: bool = True,
                 engines: Mapping[str, str] | None = None,
                 model_wait_s: float | None = 0.0) -> None:
        loaded = style if isinstance(style, Style) else load_style(style)
        if mix:
            loaded = loaded.with_mix({k: dict(v) for k, v in mix.items()})
        if harmony_source not in HARMONY_SOURCES:
            raise ValueError(f"harmony_source must be one of {HARMONY_SOURCES}")
        self.style = loaded
        self.seed = seed
        self.key = key
        self.chart_start_tick = chart_start_tick
        self.harmony_source = harmony_source
        self._chart_bars: list[Bar] = [bar for _, bar in chart.bars()] if chart else []
        self.controls = Controls(ControlValues(**dict(controls or {})))
        self.controller_map = controller_map or ControllerMap()
        lengths = {name: section.bars for name, section in loaded.sections.items()}
        self.arranger = Arranger(lengths, start=start_section, auto_fill=auto_fill)
        wanted = set(parts) if parts is not None else set(PART_NAMES)
        unknown = wanted - set(PART_NAMES)
        if unknown:
            raise ValueError(f"unknown parts: {', '.join(sorted(unknown))}")
        self.enabled = [p for p in PART_NAMES if p in wanted and loaded.mix[p].enabled]
        self.engines = dict(engines or {})
        self.model_wait_s = model_wait_s
        self.parts: list[Part] = [self._make_part(p) for p in self.enabled if p != "harmony"]
        self.harmony = HarmonyVoices(loaded.mix["harmony"])
        # Parts that listen to the performer (the model part keeps their recent notes).
        self._listeners = [p for p in self.parts if callable(getattr(p, "hear", None))]
        self.muted: set[str] = set()
        # For benchmarks: (window start tick, part, wall ns, this thread's CPU ns) per call.
        self.timings: list[tuple[int, str, int, int]] | None = None
        self._plans: dict[int, BarPlan] = {}
        self._last_plan: BarPlan | None = None
        self._started = False
        self._first_bar: int | None = None  # no bar before the band's first is ever planned
        self._finished_sent = False

    def _make_part(self, name: str) -> Part:
        if self.engines.get(name) == "model":
            if name == "keys":
                from stage.accompany.model.part import model_part  # onnxruntime, lazily

                return model_part(name, self.style, self.seed, wait_s=self.model_wait_s)
            log.warning("no model plays the %s part; it plays its patterns", name)
        if name == "drums":
            return Drums(self.style, self.seed)
        if name == "bass":
            return Bass(self.style, self.seed)
        if name == "arp":
            return Arp(self.style, self.seed)
        return ChordPart(name, self.style, self.seed)

    # -- steering ------------------------------------------------------------------------
    def set_control(self, name: str, value: float | None) -> None:
        """Steer ``name`` toward ``value`` (0-1): it moves from the next planned bar, a
        bounded step per bar."""
        self.controls.set(name, value)

    def command_section(self, name: str, at_tick: int | None = None) -> None:
        """Switch to section ``name`` on the next bar line (after a fill into a new main or
        the ending), or at the bar starting ``at_tick`` (ticks), its fill the bar before."""
        self.arranger.request(name, at_tick)

    def handle_controller(self, message: MidiMessage) -> bool:
        """Apply a pad, pedal or CC from the controller map; True when the message was the
        controller's (not music to answer)."""
        consumed, actions = self.controller_map.interpret(message)
        for action in actions:
            if action.kind == "section":
                self.command_section(action.name)
            else:
                self.set_control(action.name, action.value)
        return consumed

    @property
    def section(self) -> str | None:
        """The section of the last planned bar (None before the first)."""
        return self._last_plan.section if self._last_plan else None

    @property
    def finished(self) -> bool:
        return self.arranger.finished

    # -- the Generator protocol ----------------------------------------------------------
    def window(self, state: PerformanceState, start_tick: int, end_tick: int
               ) -> Sequence[Event]:
        """Every part's events in [start_tick, end_tick) (ticks), sorted by tick."""
        plans = self._plans_for(state, start_tick - TIMING_MARGIN, end_tick + TIMING_MARGIN)
        events: list[Event] = []
        if not self._started:
            self._started = True
            events.extend(self._setup_events(start_tick))
        view = BandHarmony(self, state)
        for part in self.parts:
            if part.name in self.muted:
                continue
            began, began_cpu = time.perf_counter_ns(), time.thread_time_ns()
            try:
                events.extend(part.play(plans, view, start_tick, end_tick))
            except Exception:  # never stop the show: mute the part, keep the band
                log.exception("band part %s failed; muting it", part.name)
                self.muted.add(part.name)
            if self.timings is not None:
                self.timings.append((start_tick, part.name, time.perf_counter_ns() - began,
                                     time.thread_time_ns() - began_cpu))
        events.extend(self._section_cues(plans, start_tick, end_tick))
        bar = state.meter.ticks_per_bar
        events.extend(self.harmony.expire(start_tick, MAX_HARMONY_HOLD_BARS * bar))
        if self.finished and not self._finished_sent:
            self._finished_sent = True
            events.extend(self.harmony.release_all(start_tick))
        events.sort(key=_event_order)
        return events

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        """Controller messages steer; melody notes get harmony voices at ``state.tick``."""
        if self.handle_controller(message):
            return ()
        for part in self._listeners:
            part.hear(message, state.tick)  # type: ignore[attr-defined]
        if "harmony" not in self.enabled:
            return ()
        if "harmony" in self.muted or self.finished:
            return ()
        try:
            view = BandHarmony(self, state)
            plan = view.plan_at(state.tick)
            energy = plan.controls.energy if plan else self.controls.values().energy
            chord = view.chord_at(state.tick)
            if chord is None and message.is_note_on:
                return ()  # no chord here (N.C.): the melody sounds alone
            return self.harmony.answer(message, state.tick, chord or view.tonic, view.key,
                                       energy)
        except Exception:
            log.exception("harmony voices failed; muting them")
            self.muted.add("harmony")
            return self.harmony.release_all(state.tick)

    def release(self, tick: int) -> list[Event]:
        """Offs for every harmony voice still sounding (the show is stopping)."""
        return self.harmony.release_all(tick)

    def close(self) -> None:
        """The song is over: parts that hold resources (a model part's worker thread)
        let them go."""
        for part in self.parts:
            close = getattr(part, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                log.exception("closing the %s part failed", part.name)

    # -- planning ------------------------------------------------------------------------
    def _plans_for(self, state: PerformanceState, low_tick: int, high_tick: int
                   ) -> list[BarPlan]:
        meter = state.meter
        bar = meter.ticks_per_bar
        anchor = state.bar_start_tick
        start = anchor + ((low_tick - anchor) // bar) * bar
        if self._first_bar is None:
            self._first_bar = start + bar if start + bar <= low_tick + TIMING_MARGIN else start
        plans = []
        for bar_start in range(max(start, self._first_bar), high_tick, bar):
            plan = self._plans.get(bar_start)
            if plan is None or plan.meter != meter:
                plan = self._new_plan(bar_start, meter)
            plans.append(plan)
        if len(self._plans) > 16:
            for old in [t for t in self._plans if t < low_tick - 4 * bar]:
                del self._plans[old]
        return plans

    def _new_plan(self, bar_start: int, meter: Meter) -> BarPlan:
        last = self._last_plan
        if last is not None and bar_start <= last.start_tick:
            # The bar grid moved (the follower re-placed the downbeat): replay the last plan.
            plan = BarPlan(bar_start, meter, last.form, last.controls, last.swing)
        else:
            form = self.arranger.next_bar(bar_start, meter.ticks_per_bar)
            values = self.controls.advance(self.style.swing)
            swing = self.style.swing if values.swing is None else values.swing
            plan = BarPlan(bar_start, meter, form, values, swing)
            self._last_plan = plan
        self._plans[bar_start] = plan
        return plan

    def plan_at(self, tick: int, meter: Meter, anchor: int) -> BarPlan | None:
        bar = meter.ticks_per_bar
        return self._plans.get(anchor + ((tick - anchor) // bar) * bar)

    def _setup_events(self, tick: int) -> list[Event]:
        events: list[Event] = []
        for name in self.enabled:
            mix = self.style.mix[name]
            events.append(ProgramChange(tick, mix.program, mix.channel, name))
            events.append(ControlChange(tick, CC_VOLUME, mix.volume, mix.channel, name))
        return events

    def _section_cues(self, plans: list[BarPlan], start_tick: int, end_tick: int
                      ) -> list[Event]:
        return [Cue(plan.start_tick, "/stage/section", (plan.section,), part="band")
                for plan in plans
                if plan.form.first and start_tick <= plan.start_tick < end_tick]

    def chart_chord(self, tick: int, bar_start: int, meter: Meter
                    ) -> tuple[Chord | None, bool]:
        """(the chart's chord at ``tick`` in the bar starting ``bar_start`` (ticks), whether
        the chart covers that bar): (None, True) is the chart's N.C."""
        if not self._chart_bars:
            return None, False
        index = (bar_start - self.chart_start_tick) // meter.ticks_per_bar
        if index < 0:
            return None, False
        bar = self._chart_bars[index % len(self._chart_bars)]
        slot = min((tick - bar_start) * len(bar) // meter.ticks_per_bar, len(bar) - 1)
        return bar[max(slot, 0)], True


class BandHarmony:
    """The harmony every part plays from, for one window: chords coloured by the mood of
    the bar they fall in, and the key."""

    def __init__(self, band: Band, state: PerformanceState) -> None:
        self.band = band
        self.state = state
        self.key = state.key or band.key or Key(0, "maj")
        self._tonic = Chord(self.key.tonic, "maj" if self.key.mode == "maj" else "min")
        bar = state.meter.ticks_per_bar
        self._state_bar_end = state.bar_start_tick + bar * (
            1 + (state.tick - state.bar_start_tick) // bar)

    def plan_at(self, tick: int) -> BarPlan | None:
        return self.band.plan_at(tick, self.state.meter, self.state.bar_start_tick)

    @property
    def tonic(self) -> Chord:
        return self._tonic

    def chord_at(self, tick: int) -> Chord | None:
        """The chord the band plays at ``tick``; None where the chart marks no chord."""
        plan = self.plan_at(tick)
        meter = self.state.meter
        bar = meter.ticks_per_bar
        anchor = self.state.bar_start_tick
        bar_start = plan.start_tick if plan else anchor + ((tick - anchor) // bar) * bar
        chord = self._source_chord(tick, bar_start, meter)
        if plan is None or chord is None:
            return chord
        if plan.section == "ending" and self._last_bar_of_ending(plan):
            chord = self._tonic
        return colour(chord, self.key, plan.controls.mood)

    def _source_chord(self, tick: int, bar_start: int, meter: Meter) -> Chord | None:
        followed = self.state.chord
        if followed is not None and tick >= self._state_bar_end:
            followed = self.state.next_chord or followed
        charted, in_chart = self.band.chart_chord(tick, bar_start, meter)
        source = self.band.harmony_source
        if source == "follower" or (source == "auto" and followed is not None):
            return followed or self._tonic
        if in_chart:
            return charted  # the chart's own chord, or None for its N.C.
        return followed or self._tonic

    def _last_bar_of_ending(self, plan: BarPlan) -> bool:
        return plan.form.bar_in_section + 1 >= self.band.style.sections["ending"].bars


def _event_order(event: Event) -> tuple[int, int]:
    # At one tick: setup first, then notes, so programs are in place before they sound.
    return (event.tick, 1 if isinstance(event, Note) else 0)


__all__ = ["END", "Band", "BandHarmony"]
