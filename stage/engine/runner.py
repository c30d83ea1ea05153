"""The engine loop: inputs -> follower -> generators -> scheduler -> outputs, on either clock.

One :class:`Engine` runs a live show on the :class:`RealClock` (its own thread, sleeping until
the next deadline or the next input) and an offline render on the :class:`VirtualClock`
(jumping from deadline to deadline), with the same code in between. Times held here are
nanoseconds on the clock; the tempo map counts from ``origin_ns``.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from stage.engine.events import Event, MidiMessage, NoteOff
from stage.engine.plugins import Follower, Generator
from stage.engine.ports.base import Input, Output, new_inbox
from stage.engine.ports.recorder import MidiRecorder
from stage.engine.scheduler import Due, Scheduler
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ, Clock, TempoMap

log = logging.getLogger(__name__)

MAX_SLEEP_NS = 20_000_000
"""A live engine wakes at least this often to notice a stop request (ns)."""


class EngineObserver(Protocol):
    """Watches the engine for the show log: called on the engine thread, must only hand off.
    ``show_ns`` is ns since the song's origin; ``tick`` ticks on the followed grid."""

    def heard(self, message: MidiMessage, show_ns: int, tick: int) -> None: ...
    def decided(self, state: PerformanceState, show_ns: int) -> None: ...
    def generated(self, event: Event, show_ns: int) -> None: ...


@dataclass(slots=True)
class EngineStats:
    inputs: int = 0
    reactions: int = 0
    windows: int = 0
    sent: int = 0
    muted_parts: list[str] = field(default_factory=list)


class Engine:
    """Drives one show. ``lookahead_ticks`` is how far ahead parts play; ``window_ticks`` how
    much they play per call (both ticks)."""

    def __init__(
        self,
        clock: Clock,
        tempo: TempoMap,
        follower: Follower,
        generators: Sequence[Generator] = (),
        outputs: Sequence[Output] = (),
        inputs: Sequence[Input] = (),
        lookahead_ticks: int = PPQ,
        window_ticks: int = PPQ // 2,
        recorder: MidiRecorder | None = None,
        on_sent: Callable[[Due, int], None] | None = None,
        tail_bars: int | None = None,
        finished: Callable[[], bool] | None = None,
        observer: EngineObserver | None = None,
    ) -> None:
        self.clock = clock
        self.tempo = tempo
        self.follower = follower
        self.generators = list(generators)
        self.outputs = list(outputs) + ([recorder] if recorder else [])
        self.inputs = list(inputs)
        self.recorder = recorder
        self.lookahead_ticks = lookahead_ticks
        self.window_ticks = window_ticks
        self.on_sent = on_sent
        self.observer = observer
        self.inbox: queue.Queue[MidiMessage] = new_inbox()
        self.scheduler = Scheduler(tempo)
        self._by_key: dict[str, Output] = {}
        for index, output in enumerate(self.outputs):
            key = f"{index}:{output.name}"
            self._by_key[key] = output
            self.scheduler.add_output(key, output.latency_ns)
        self.origin_ns = 0
        self.generated_until = 0
        self.end_tick: int | None = None
        # Once every polled input has played out, the band finishes this many bars later.
        self.tail_bars = tail_bars
        # Or when the band says its form is over (the ending played); never past this tick.
        self.finished = finished
        self.end_tick_limit: int | None = None
        self.stats = EngineStats()
        self._closed = False

    # -- setup ---------------------------------------------------------------------------
    def start(self, origin_ns: int | None = None) -> None:
        """Set the show's origin (clock ns; default now) and start the live inputs."""
        self.origin_ns = self.clock.now_ns() if origin_ns is None else origin_ns
        for output in self.outputs:
            output.bind_timeline(self.tempo, self.origin_ns)
        for source in self.inputs:
            source.start(self.inbox)

    def show_ns(self, clock_ns: int) -> int:
        return clock_ns - self.origin_ns

    # -- one pass ------------------------------------------------------------------------
    def step(self, extra: Sequence[MidiMessage] = ()) -> None:
        """Everything due now: hear inputs, answer them, plan ahead, send what is due."""
        now = self.clock.now_ns()
        messages = list(extra)
        while True:
            try:
                messages.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        for source in self.inputs:
            messages.extend(source.pop_due(now))
        if len(messages) > 1:
            messages.sort(key=lambda m: m.stamp_ns)
        for message in messages:
            self._hear(message)
        if self.end_tick is None and self._over():
            self._set_end(now)
        self._plan(now)
        self._dispatch(self.scheduler.pop_due(self.show_ns(now)))

    def _hear(self, message: MidiMessage) -> None:
        self.stats.inputs += 1
        heard_ns = self.show_ns(message.stamp_ns)
        self.follower.hear(message, heard_ns, self.tempo)
        if self.recorder is not None:
            self.recorder.record_input(self.tempo.tick_at(heard_ns), message.data)
        state = self.follower.state(self.show_ns(self.clock.now_ns()), self.tempo)
        now_show = self.show_ns(self.clock.now_ns())
        observer = self.observer
        if observer is not None:
            observer.heard(message, heard_ns, self.tempo.tick_at(heard_ns))
            observer.decided(state, now_show)
        for generator in list(self.generators):
            events = self._call(generator, generator.react, message, state)
            for event in events:
                self.stats.reactions += 1
                if observer is not None:
                    observer.generated(event, now_show)
                for key in self._keys_for(event):
                    self._dispatch(self.scheduler.play_now(event, key, now_show))

    def _over(self) -> bool:
        """The performer has played out (if there is one) and the band's form is done."""
        has_file = any(source.ends for source in self.inputs)
        performer_done = self.inputs_finished if has_file else True
        if self.finished is None:
            return self.tail_bars is not None and has_file and performer_done
        return performer_done and self.finished()

    @property
    def stop_tick(self) -> int | None:
        """Where planning stops: the decided end, else the safety limit (ticks)."""
        return self.end_tick if self.end_tick is not None else self.end_tick_limit

    def _set_end(self, now: int) -> None:
        state = self.follower.state(self.show_ns(now), self.tempo)
        bar = state.meter.ticks_per_bar
        self.end_tick = max(state.bar_start_tick + bar * (1 + (self.tail_bars or 0)),
                            self.generated_until)

    def _plan(self, now: int) -> None:
        now_tick = self.tempo.tick_at(self.show_ns(now))
        while self.generated_until <= now_tick + self.lookahead_ticks:
            start = self.generated_until
            end = start + self.window_ticks
            stop_tick = self.stop_tick
            if stop_tick is not None:
                if start >= stop_tick:
                    return
                end = min(end, stop_tick)
            state = self.follower.state(self.show_ns(now), self.tempo)
            observer = self.observer
            if observer is not None:
                observer.decided(state, self.show_ns(now))
            for generator in list(self.generators):
                events = self._call(generator, generator.window, state, start, end)
                for event in events:
                    if observer is not None:
                        observer.generated(event, self.show_ns(now))
                    for key in self._keys_for(event):
                        self.scheduler.schedule(event, key)
            self.stats.windows += 1
            self.generated_until = end

    def _call(self, generator: Generator, method: Callable[..., Sequence[Event]],
              *args: object) -> Sequence[Event]:
        # Never stop the show: a part that fails is muted and logged, the rest play on.
        try:
            return method(*args)
        except Exception:
            log.exception("part %r failed; muting it", getattr(generator, "name", generator))
            self.generators.remove(generator)
            self.stats.muted_parts.append(str(getattr(generator, "name", generator)))
            return ()

    def _keys_for(self, event: Event) -> list[str]:
        return [key for key, output in self._by_key.items() if output.accepts(event)]

    def _dispatch(self, due: Sequence[Due]) -> None:
        for item in due:
            output = self._by_key[item.output]
            try:
                output.send(item.event, item.event.tick)
            except Exception:
                log.exception("output %s failed to send %s", output.name, item.event)
                continue
            self.stats.sent += 1
            if self.on_sent is not None:
                self.on_sent(item, self.clock.now_ns())

    # -- deadlines -----------------------------------------------------------------------
    def next_deadline_ns(self) -> int | None:
        """The next clock time (ns) something is due: an event, a window, a polled input."""
        candidates = []
        due = self.scheduler.next_due_ns()
        if due is not None:
            candidates.append(self.origin_ns + due)
        if self.stop_tick is None or self.generated_until < self.stop_tick:
            plan_tick = max(self.generated_until - self.lookahead_ticks, 0)
            candidates.append(self.origin_ns + self.tempo.ns_at(plan_tick))
        for source in self.inputs:
            source_due = source.next_due_ns()
            if source_due is not None:
                candidates.append(source_due)
        return min(candidates) if candidates else None

    @property
    def inputs_finished(self) -> bool:
        """Every input that plays out (a file performer) has; False when there is none."""
        ending = [source for source in self.inputs if source.ends]
        return bool(ending) and all(source.finished for source in ending)

    def state(self) -> PerformanceState:
        return self.follower.state(self.show_ns(self.clock.now_ns()), self.tempo)

    # -- loops ---------------------------------------------------------------------------
    def run(self, stop: threading.Event, live: bool = True) -> None:
        """Loop until ``stop`` is set or the show has played out; then close every output."""
        try:
            while not stop.is_set():
                self.step()
                if self._played_out():
                    break
                deadline = self.next_deadline_ns()
                now = self.clock.now_ns()
                if deadline is None:
                    deadline = now + MAX_SLEEP_NS
                if live:
                    deadline = min(deadline, now + MAX_SLEEP_NS)
                heard = self.clock.wait(deadline, self.inbox)
                if heard is not None:
                    self.step([heard])
        finally:
            self.close()

    def _release_generators(self, tick: int) -> None:
        """Note-offs for what generators hold open themselves (harmony voices answering a
        held melody note), so every output and the recording end them at the stop (tick).
        A generator offers them through an optional ``release(tick)`` method."""
        for generator in list(self.generators):
            release = getattr(generator, "release", None)
            if release is None:
                continue
            for event in self._call(generator, release, tick):
                if not isinstance(event, NoteOff):
                    continue
                for key in self._keys_for(event):
                    try:
                        self._by_key[key].send(event, tick)
                    except Exception:
                        log.exception("note-off on %s failed", self._by_key[key].name)

    def _played_out(self) -> bool:
        stop_tick = self.stop_tick
        return (stop_tick is not None and self.generated_until >= stop_tick
                and self.scheduler.pending() == 0)

    def close(self) -> None:
        """Send every owed note-off, then all-notes-off and sustain-off on every output."""
        if self._closed:
            return
        self._closed = True
        now_tick = self.tempo.tick_at(self.show_ns(self.clock.now_ns()))
        self._release_generators(max(now_tick, 0))
        owed = self.scheduler.release_all()
        for item in owed:
            output = self._by_key[item.output]
            event = item.event
            assert isinstance(event, NoteOff)
            try:  # the recorder keeps the note's end at the moment the show stopped
                output.send(event, min(event.tick, max(now_tick, 0)))
            except Exception:
                log.exception("note-off on %s failed", output.name)
        for output in self.outputs:
            output.close()
        for source in self.inputs:
            try:
                source.close()
            except Exception:
                log.exception("closing input %s failed", source.name)
        self._close_generators()

    def _close_generators(self) -> None:
        """Generators that hold resources (threads) offer an optional ``close()``; after
        the outputs are silent, so nothing here can delay an all-notes-off."""
        for generator in self.generators:
            close = getattr(generator, "close", None)
            if close is None:
                continue
            try:
                close()
            except Exception:
                log.exception("closing generator %s failed", getattr(generator, "name", "?"))
