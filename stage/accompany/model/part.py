"""The model keys part: the accompanist playing the band's keys, behind the same Part
interface as the pattern parts, with the pattern part as its safety net.

A bar is asked of the model as soon as the band plans it (about a beat and a half before it
sounds): the request is copied on the engine thread and generated on the model worker. When
the bar is due, a ready result plays; otherwise the pattern part plays that bar, and the
miss is counted and logged. Offline (``wait_s=None``) the part waits for every bar, so a
render is deterministic. Every model note carries ``model:accompanist@<checkpoint>``.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from stage.accompany.arranger import END
from stage.accompany.model.runtime import (
    STEP_TICKS,
    AccompanistRuntime,
    BarNote,
    BarRequest,
    HeardNote,
    shared_accompanist,
)
from stage.accompany.model.vocab import STEPS_PER_BAR, STYLE_TEXTURE
from stage.accompany.model.worker import ModelWorker
from stage.accompany.parts.base import TIMING_MARGIN, BarPlan, HarmonyView, Part
from stage.accompany.parts.chords import ChordPart
from stage.accompany.style import Style
from stage.engine.events import Event, MidiMessage, Note
from stage.engine.time import PPQ

log = logging.getLogger(__name__)

MODEL_METER_TICKS = 4 * PPQ
"""The model plays 4/4 bars; in other meters the pattern part plays."""
MEMORY_TICKS = 3 * MODEL_METER_TICKS


@dataclass(slots=True)
class ModelStats:
    """Bars asked of the model, played by it, and played by the pattern part instead
    (``missed``: not ready when due; ``refused``: the worker's queue was full)."""

    requested: int = 0
    played: int = 0
    missed: int = 0
    refused: int = 0
    failed: int = 0


class ModelKeysPart(Part):
    """``name`` usually 'keys'. ``wait_s``: how long a due bar may wait for the model
    (0 on the stage: never; None offline: always); ``runtime``: the accompanist (the shipped
    one by default)."""

    def __init__(self, name: str, style: Style, seed: int,
                 runtime: AccompanistRuntime | None = None, wait_s: float | None = 0.0
                 ) -> None:
        super().__init__(name, style, seed)
        self.fallback = ChordPart(name, style, seed)
        self.runtime = runtime or shared_accompanist()
        self.source = self.runtime.source
        self.wait_s = wait_s
        self.texture = STYLE_TEXTURE.get(style.name, "mixed")
        self.stats = ModelStats()
        self.worker: ModelWorker[BarRequest, list[BarNote]] = ModelWorker(
            self.runtime.generate, name=f"model-{name}")
        self._pending: dict[int, Future[list[BarNote]] | None] = {}
        self._bars: dict[int, list[Note] | None] = {}  # None: the pattern part plays it
        self._heard: deque[HeardNote] = deque(maxlen=256)
        self._sounding: dict[int, HeardNote] = {}
        self._own: deque[tuple[int, int]] = deque(maxlen=256)

    # -- listening ------------------------------------------------------------------------
    def hear(self, message: MidiMessage, tick: int) -> None:
        """A performer message at ``tick`` (engine thread): note-ons and -offs are kept."""
        if message.is_note_on:
            pitch, velocity = message.data[1], message.data[2]
            note = HeardNote(tick, None, pitch, velocity)
            self._sounding[pitch] = note
            self._heard.append(note)
        elif message.is_note_off:
            started = self._sounding.pop(message.data[1], None)
            if started is not None:
                self._heard.append(HeardNote(started.tick, tick, started.pitch,
                                             started.velocity))

    # -- playing ---------------------------------------------------------------------------
    def play(self, plans: Sequence[BarPlan], harmony: HarmonyView, start_tick: int,
             end_tick: int) -> list[Event]:
        out: list[Event] = []
        for plan in plans:
            if plan.section == END or plan.end_tick + TIMING_MARGIN <= start_tick:
                continue
            lines = self.style.sections[plan.section].lines(self.name)
            if not lines:
                continue  # the arrangement rests the keys here
            if plan.meter.ticks_per_bar != MODEL_METER_TICKS:
                self.fallback.play_bar(plan, lines, harmony, start_tick, end_tick, out)
                continue
            if plan.start_tick not in self._bars and plan.start_tick not in self._pending:
                self._ask(plan, harmony)
            if plan.start_tick < end_tick and plan.end_tick > start_tick:
                notes = self._due(plan)
                if notes is None:
                    self.fallback.play_bar(plan, lines, harmony, start_tick, end_tick, out)
                    self._own.extend((e.tick, e.pitch) for e in out if isinstance(e, Note))
                else:
                    out.extend(n for n in notes if start_tick <= n.tick < end_tick)
        self._forget(start_tick)
        return out

    def _ask(self, plan: BarPlan, harmony: HarmonyView) -> None:
        bar = plan.start_tick
        ticks = [bar + step * STEP_TICKS for step in range(STEPS_PER_BAR)]
        horizon = bar - MEMORY_TICKS
        request = BarRequest(
            bar_tick=bar,
            melody=tuple(n for n in self._heard if (n.end or bar) >= horizon),
            own=tuple(o for o in self._own if o[0] >= horizon),
            chords=tuple(harmony.chord_at(t) for t in ticks),
            energy=plan.controls.energy, density=plan.controls.effective_density,
            style=self.texture, section=plan.section, key=harmony.key)
        self.stats.requested += 1
        future = self.worker.submit(request)
        if future is None:
            self.stats.refused += 1
            log.warning("model %s: worker queue full; bar at tick %d goes to the pattern part",
                        self.name, bar)
        self._pending[bar] = future

    def _due(self, plan: BarPlan) -> list[Note] | None:
        """The model's notes for ``plan``'s bar, deciding once: None means the pattern part."""
        bar = plan.start_tick
        if bar in self._bars:
            return self._bars[bar]
        future = self._pending.pop(bar, None)
        notes: list[Note] | None = None
        if future is not None:
            try:
                if self.wait_s is None or self.wait_s > 0 or future.done():
                    notes = self._notes(plan, future.result(timeout=self.wait_s))
                else:
                    raise FutureTimeout
            except FutureTimeout:
                self.stats.missed += 1
                future.cancel()
                log.warning("model %s missed its deadline for the bar at tick %d (%d missed); "
                            "the pattern part plays it", self.name, bar, self.stats.missed)
            except Exception:
                self.stats.failed += 1
                log.exception("model %s failed for the bar at tick %d", self.name, bar)
        if notes is not None:
            self.stats.played += 1
            self._own.extend((n.tick, n.pitch) for n in notes)
        self._bars[bar] = notes
        return notes

    def _notes(self, plan: BarPlan, generated: list[BarNote]) -> list[Note]:
        gain = self.mix.gain
        notes = []
        for note in generated:
            tick = plan.start_tick + note.step * STEP_TICKS
            length = max(1, int(note.length * STEP_TICKS * self.mix.gate))
            velocity = max(1, min(127, round(note.velocity * gain)))
            notes.append(Note(tick, length, note.pitch, velocity, self.mix.channel, self.name,
                              self.source))
        return notes

    def _forget(self, tick: int) -> None:
        for bar in [b for b in self._bars if b < tick - MEMORY_TICKS]:
            del self._bars[bar]
        for bar in [b for b in self._pending if b < tick - MEMORY_TICKS]:
            future = self._pending.pop(bar)
            if future is not None:
                future.cancel()

    def close(self) -> None:
        self.worker.close()


def model_part(name: str, style: Style, seed: int, wait_s: float | None = 0.0) -> Part:
    """The model part for ``name``, or the pattern part (logged) when the shipped weights
    cannot be loaded: a show never stops for a missing model."""
    try:
        return ModelKeysPart(name, style, seed, wait_s=wait_s)
    except Exception:
        log.exception("the model %s part cannot start; the pattern part plays", name)
        return ChordPart(name, style, seed)
