"""The engine's health for the performer console, and the reach of its panic button.

:class:`EngineWatch` wraps the show's outputs (:class:`WatchedOutput`): every event sent is
timed against when it was due (the song's tempo map and origin, less the output's latency),
so the console sees late events and send-lateness percentiles as they really happened; port
losses and reconnects come from the outputs that count them, xruns from a JACK xrun counter
(``stage.engine.ports.xruns``) when a JACK server runs. ``attach(link)`` hands
the link its health probe (read on the link's thread, once a second) and its panic (all
notes off on every output, at once, from the link's thread: ``Output.panic`` is built to be
called from another thread).
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from stage.engine.events import Event
from stage.engine.ports.base import Output
from stage.engine.time import TempoMap

log = logging.getLogger(__name__)

LATE_NS = 2_000_000
"""An event sent more than 2 ms after it was due counts as late."""
SAMPLES = 4096
"""Send-lateness samples kept for the percentiles (the most recent)."""


class WatchedOutput(Output):
    """An output that times every send against its due time, then passes it on."""

    def __init__(self, inner: Output, watch: EngineWatch) -> None:
        super().__init__()
        self.inner = inner
        self.watch = watch
        self.name = inner.name
        self.latency_ns = inner.latency_ns
        self._tempo: TempoMap | None = None
        self._origin_ns = 0

    def accepts(self, event: Event) -> bool:
        return self.inner.accepts(event)

    def bind_timeline(self, tempo: TempoMap, origin_ns: int) -> None:
        self._tempo, self._origin_ns = tempo, origin_ns
        self.inner.bind_timeline(tempo, origin_ns)

    def send(self, event: Event, tick: int | None = None) -> None:
        tempo = self._tempo
        if tempo is not None:
            due = self._origin_ns + tempo.ns_at(event.tick) - self.latency_ns
            self.watch.record(time.perf_counter_ns() - due)
        self.inner.send(event, tick)

    def panic(self) -> None:
        self.inner.panic()

    def close(self) -> None:
        self.inner.close()
        self.closed = True

    @property
    def sounding(self) -> frozenset[tuple[int, int]]:
        return self.inner.sounding


class EngineWatch:
    """Counts what the console shows about the engine (see the module docstring)."""

    def __init__(self, xruns: Any | None = None) -> None:
        self.xruns = xruns
        """Something with a ``count`` of JACK xruns (an XrunCounter), or None."""
        self.outputs: list[WatchedOutput] = []
        self.sent = 0
        self.late = 0
        self.worst_ns = 0
        self.panics = 0
        self._lateness: deque[int] = deque(maxlen=SAMPLES)
        self._lock = threading.Lock()
        self.started_ns = time.perf_counter_ns()

    def wrap(self, outputs: Sequence[Output]) -> list[Output]:
        """The outputs, each wrapped (cue outputs too: their lateness counts as well)."""
        wrapped = [WatchedOutput(output, self) for output in outputs]
        self.outputs.extend(wrapped)
        return list(wrapped)

    def attach(self, link: Any) -> None:
        link.health_source = self.snapshot
        link.on_panic = self.panic

    def record(self, lateness_ns: int) -> None:
        """Engine thread: one event sent ``lateness_ns`` after it was due (negative: early)."""
        self.sent += 1
        if lateness_ns > LATE_NS:
            self.late += 1
            self.worst_ns = max(self.worst_ns, lateness_ns)
        self._lateness.append(lateness_ns)

    def panic(self) -> int:
        """All notes off on every output (any thread). Returns how many were silenced."""
        with self._lock:
            self.panics += 1
            for output in self.outputs:
                output.panic()
            return len(self.outputs)

    def snapshot(self) -> dict[str, Any]:
        """Link thread: counts and send-lateness percentiles (ms) for the console."""
        samples: list[int] = []
        for _ in range(3):  # the engine thread may append while we copy
            try:
                samples = sorted(self._lateness)
                break
            except RuntimeError:
                continue
        ports = [output.inner for output in self.outputs]
        xruns = [getattr(port, "xruns", None) for port in ports]
        counted = [x for x in xruns if isinstance(x, int)]
        if self.xruns is not None:
            counted.append(int(self.xruns.count))
        return {
            "sent": self.sent, "late": self.late, "worst_late_ms": round(self.worst_ns / 1e6, 3),
            "send_ms": _percentiles_ms(samples),
            "xruns": sum(counted) if counted else None,
            "reconnects": sum(int(getattr(port, "reconnects", 0) or 0) for port in ports),
            "lost_ports": [port.name for port in ports if getattr(port, "lost", False)],
            "outputs": [port.name for port in ports], "panics": self.panics,
            "uptime_s": round((time.perf_counter_ns() - self.started_ns) / 1e9, 1),
        }


def _percentiles_ms(ordered: list[int]) -> dict[str, float | int | None]:
    if not ordered:
        return {"n": 0, "p50": None, "p99": None, "max": None}
    pick = {q: ordered[min(len(ordered) - 1, int(q * len(ordered)))] for q in (0.5, 0.99)}
    return {"n": len(ordered), "p50": round(pick[0.5] / 1e6, 3),
            "p99": round(pick[0.99] / 1e6, 3), "max": round(ordered[-1] / 1e6, 3)}


def watch_outputs(link: Any | None, outputs: list[Output]) -> list[Output]:
    """With a link to the audience service: the outputs wrapped and the link given the
    engine's health and the panic button. Without one: the outputs as they are."""
    if link is None:
        return outputs
    from stage.engine.ports.xruns import XrunCounter

    counter = XrunCounter.open("stage-console-xruns")
    if counter is not None:
        atexit.register(counter.close)
    watch = EngineWatch(counter)
    watch.attach(link)
    return watch.wrap(outputs)
