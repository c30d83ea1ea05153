"""Ableton Link: publish the followed tempo and beat phase to every Link peer on the network.

Link (through ``aalink``) lives in its own thread with its own asyncio loop. The engine
thread only calls :meth:`LinkSync.publish`, which stores the latest (bpm, beat, stamp) and
wakes that loop; it never blocks on Link or the network. The loop applies the tempo, and
re-aligns the session's beat only when it drifted from the performer's by more than a
tolerance, so peers (Ableton Live, Resolume, a drum machine app) keep a steady phase.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from typing import Any

from stage.engine.events import Event, MidiMessage
from stage.engine.state import PerformanceState
from stage.engine.time import PPQ

log = logging.getLogger(__name__)

START_TIMEOUT_S = 5.0
DRIFT_TOLERANCE_BEATS = 0.02
"""Re-align Link's beat only past this drift (beats): forcing on every publish would jitter."""


class LinkUnavailable(RuntimeError):
    """aalink is not installed (``pip install aalink``)."""


class LinkSync:
    """A Link session member that follows the show: tempo in bpm, beat in quarter notes.

    ``publish(bpm, beat, stamp_ns)``: the performer is at ``beat`` (quarters since the song's
    start, float) at ``stamp_ns`` (perf_counter ns; default now) playing ``bpm``.
    """

    def __init__(self, bpm: float = 120.0, quantum: float = 4.0,
                 tolerance_beats: float = DRIFT_TOLERANCE_BEATS) -> None:
        try:
            import aalink
        except ImportError:
            raise LinkUnavailable("Ableton Link needs aalink (pip install aalink)") from None
        self._aalink = aalink
        self.tolerance_beats = tolerance_beats
        self.realigned = 0
        self._initial = (bpm, quantum)
        self._latest: tuple[float, float, int] | None = None
        self._wake_pending = False
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._link: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=self._run, name="ableton-link", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._link is None:
            raise LinkUnavailable("Ableton Link did not start")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            bpm, quantum = self._initial
            self._link = self._aalink.Link(bpm, loop)
            self._link.quantum = quantum
            self._link.enabled = True
        except Exception:
            log.exception("Ableton Link failed to start")
        finally:
            self._ready.set()
        if self._link is not None:
            loop.run_forever()
        loop.close()

    def publish(self, bpm: float, beat: float, stamp_ns: int | None = None) -> None:
        """Tell Link the followed tempo and beat. Non-blocking: the latest call wins."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        stamp = time.perf_counter_ns() if stamp_ns is None else stamp_ns
        with self._lock:
            self._latest = (bpm, beat, stamp)
            if self._wake_pending:
                return
            self._wake_pending = True
        with contextlib.suppress(RuntimeError):  # the loop closed under us: show's end
            loop.call_soon_threadsafe(self._apply)

    def _apply(self) -> None:
        with self._lock:
            latest, self._latest, self._wake_pending = self._latest, None, False
        if latest is None:
            return
        bpm, beat, stamp = latest
        now_beat = beat + (time.perf_counter_ns() - stamp) * bpm / 60e9
        link = self._link
        if abs(link.tempo - bpm) > 1e-6:
            link.tempo = bpm
        if abs(link.beat - now_beat) > self.tolerance_beats:
            link.force_beat(now_beat)
            self.realigned += 1

    @property
    def peers(self) -> int:
        """How many other Link peers share the session."""
        return int(self._link.num_peers) if self._link is not None else 0

    @property
    def tempo(self) -> float:
        return float(self._link.tempo) if self._link is not None else 0.0

    def close(self) -> None:
        """Leave the session and stop the thread. Safe to call twice."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def stop() -> None:
            if self._link is not None:
                self._link.enabled = False
            loop.stop()

        try:
            loop.call_soon_threadsafe(stop)
        except RuntimeError:
            return
        self._thread.join(START_TIMEOUT_S)


class LinkPublisher:
    """A generator (name ``link``) that plays nothing and tells Link where the show is each
    time the engine plans a window: the followed tempo and beat (quarters) of ``state``,
    stamped now. Wire it only on the real clock (an offline render has no 'now')."""

    name = "link"

    def __init__(self, sync: LinkSync) -> None:
        self.sync = sync

    def window(self, state: PerformanceState, start_tick: int, end_tick: int
               ) -> Sequence[Event]:
        self.sync.publish(state.bpm, state.tick / PPQ)
        return ()

    def react(self, message: MidiMessage, state: PerformanceState) -> Sequence[Event]:
        return ()
