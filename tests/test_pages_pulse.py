"""The phone's beat pulse against the real engine's beat, on loopback, in a real browser.

A real Engine on the real clock plays with the AudienceBridge publishing each bar through
the AudienceLink; the tempo changes in the middle of a bar, as the follower does when the
performer pushes. The phone page places its pulses from the service clock (ping/pong) and
the bars' anchors. Each pulse is compared with the engine's own beat time from its tempo
map; the page's clock is mapped to this process's ``perf_counter`` by round trips through
the browser's debugging protocol (the fastest of 40; its half round trip is the bound)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pages_support import TOKEN, browser_or_skip, phone_page, start_service, wait_for
from test_audience_service import free_port

from stage.audience.bridge import AudienceBridge
from stage.audience.link import AudienceLink
from stage.audience.process import start_service_process
from stage.engine.events import MidiMessage
from stage.engine.ports.base import MemoryOutput
from stage.engine.prior import PriorFollower
from stage.engine.runner import Engine
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import PPQ, RealClock, TempoMap

OUT = Path(__file__).resolve().parents[1] / "out" / "pulse.json"
START_BPM, PUSHED_BPM = 150.0, 180.0
CHANGE_AT_BEATS = 10.5
"""The performer pushes in the middle of the third bar (beats from the start)."""
BARS = 6
TARGET_MS = 20.0


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_or_skip()


class PushingFollower:
    """The setlist's prior, with the tempo changed once at ``change_ns`` of show time the
    way the MIDI follower changes it (from now on, on the engine thread)."""

    def __init__(self, change_ns: int, bpm: float) -> None:
        self.inner = PriorFollower(Meter(4, 4))
        self.change_ns, self.bpm, self.changed = change_ns, bpm, False

    def hear(self, message: MidiMessage, now_ns: int, tempo: TempoMap) -> None:
        self.inner.hear(message, now_ns, tempo)

    def state(self, now_ns: int, tempo: TempoMap) -> PerformanceState:
        if not self.changed and now_ns >= self.change_ns:
            tempo.set_tempo_at_ns(self.bpm, now_ns)
            self.changed = True
        return self.inner.state(now_ns, tempo)


def page_clock_to_perf_ms(page: Any) -> tuple[float, float]:
    """(perf_counter ms minus page ms, half the fastest round trip in ms)."""
    best: tuple[int, float] | None = None
    for _ in range(40):
        before = time.perf_counter_ns()
        page_ms = page.evaluate("performance.now()")
        after = time.perf_counter_ns()
        if best is None or after - before < best[0]:
            best = (after - before, (before + after) / 2e6 - page_ms)
    assert best is not None
    return best[1], best[0] / 2e6


def play(link: AudienceLink, bars: int, start_bpm: float, pushed_bpm: float,
         change_at_beats: float) -> Engine:
    """``bars`` bars of the real engine on the real clock, the bridge publishing every bar;
    the tempo moves from ``start_bpm`` to ``pushed_bpm`` at ``change_at_beats``."""
    tempo = TempoMap(start_bpm)
    change_ns = round(change_at_beats * 60e9 / start_bpm)
    bridge = AudienceBridge(link=link, polls=[], set_control=lambda _c, _v: None,
                            command_section=lambda _s: None,
                            section_at=lambda tick: "verse" if tick < 3 * 4 * PPQ else "chorus",
                            song="Pulse")
    engine = Engine(RealClock(), tempo, PushingFollower(change_ns, pushed_bpm), [bridge],
                    [MemoryOutput()])
    engine.end_tick_limit = bars * 4 * PPQ
    stop = threading.Event()
    engine.start()
    thread = threading.Thread(target=engine.run, args=(stop,), daemon=True)
    thread.start()
    thread.join(bars * 4 * 60 / min(start_bpm, pushed_bpm) + 10)
    stop.set()
    return engine


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure_pulse(browser: Any, bars: int = BARS, start_bpm: float = START_BPM,
                  pushed_bpm: float = PUSHED_BPM, change_at_beats: float = CHANGE_AT_BEATS,
                  crowd: Callable[[int], Callable[[], dict[str, Any]]] | None = None,
                  ) -> tuple[dict[str, Any], list[float]]:
    """Plays the show to one phone page; returns the figures and the signed pulse errors
    (ms, page pulse minus engine beat) of every pulse placed. With ``crowd`` the service
    runs in its own process (as live) and ``crowd(port)`` starts other phones; what it
    returns is called after the show for their figures."""
    port = free_port()
    service: Any = (start_service_process("127.0.0.1", port, TOKEN, "gig") if crowd
                    else start_service(port))
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    crowd_figures: dict[str, Any] | None = None
    try:
        finish = crowd(port) if crowd else None
        wait_for(link.connected.is_set)
        wait_for(lambda: link.clock_offset_ns is not None)
        phone = phone_page(browser, port)
        # A function, not an expression: Playwright polls an expression through eval(),
        # which the page's Content Security Policy (script-src 'self') refuses.
        phone.wait_for_function("() => !!window.__stageBeat && window.__stageBeat.offset !== null")
        engine = play(link, bars, start_bpm, pushed_bpm, change_at_beats)
        phone.wait_for_timeout(300)
        pulses = phone.evaluate("window.__stageBeat.report()")
        shift_ms, bound_ms = page_clock_to_perf_ms(phone)
        phone.context.close()
        crowd_figures = finish() if finish else None
    finally:
        link.stop()
        service.stop()
    scheduled, shown, timer = [], [], []
    for pulse in pulses:
        tick = (pulse["bar"] * 4 + pulse["beat"]) * PPQ
        if tick >= bars * 4 * PPQ:
            continue  # extrapolated past the show's end: no beat to compare with
        truth_ms = (engine.origin_ns + engine.tempo.ns_at(tick)) / 1e6
        scheduled.append(pulse["t"] + shift_ms - truth_ms)
        if pulse["shown"] is not None:
            shown.append(pulse["shown"] + shift_ms - truth_ms)
        if pulse["timer"] is not None:
            timer.append(pulse["timer"] - pulse["t"])
    figures = {
        "beats": bars * 4, "pulses": len(scheduled), "tempo": [start_bpm, pushed_bpm],
        "pulse_error_ms": _stats(scheduled),
        "frame_error_ms": _stats(shown),
        "baseline_timer_lateness_ms": _stats(timer),
        "page_clock_bound_ms": round(bound_ms, 3),
        "link_rtt_ms": None if link.sync_rtt_ns is None else round(link.sync_rtt_ns / 1e6, 3),
    }
    if crowd_figures is not None:
        figures["crowd"] = crowd_figures
    return figures, scheduled


def test_beat_pulse_lands_on_the_engines_beat(browser: Any) -> None:
    figures, scheduled = measure_pulse(browser)
    assert len(scheduled) >= BARS * 4 - 2, figures
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(figures, indent=1))
    errors = [abs(e) for e in scheduled]
    assert percentile(errors, 0.99) <= TARGET_MS, figures
    assert percentile(errors, 0.5) <= TARGET_MS / 4, figures


def _stats(errors: list[float]) -> dict[str, float | int | None]:
    if not errors:
        return {"n": 0, "p50": None, "p99": None, "max": None, "mean": None}
    absolute = [abs(e) for e in errors]
    return {"n": len(errors), "p50": round(percentile(absolute, 0.5), 3),
            "p99": round(percentile(absolute, 0.99), 3), "max": round(max(absolute), 3),
            "mean": round(sum(errors) / len(errors), 3)}
