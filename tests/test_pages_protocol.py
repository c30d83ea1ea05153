"""Protocol additions behind the pages, without a browser: the service clock in pong and
welcome, music frames (bar timing for the beat pulse), the engine link's clock sync, tempo
re-anchoring, engine health and panic through the link, and the bridge's beat timing."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.request
from typing import Any

import pytest
import websockets
from test_audience_link import wait_for
from test_audience_service import TOKEN, free_port, is_type, recv_until

from stage.audience.bridge import AudienceBridge, bar_start_ns
from stage.audience.health import LATE_NS, EngineWatch, watch_outputs
from stage.audience.link import AudienceLink
from stage.audience.process import start_service_process
from stage.audience.protocol import encode, music_view
from stage.audience.redis_bus import start_redis_server
from stage.audience.serve import ServiceThread
from stage.audience.server import ServiceConfig
from stage.engine.events import CC_ALL_NOTES_OFF, ControlChange, NoteOn
from stage.engine.ports.base import MemoryOutput
from stage.engine.state import Meter, PerformanceState
from stage.engine.time import PPQ, TempoMap

BAR = Meter().ticks_per_bar


def _service() -> ServiceThread:
    return ServiceThread(ServiceConfig("gig", TOKEN, port=free_port(), phone_hz=20.0)).start()


def _url(service: ServiceThread, path: str) -> str:
    return f"ws://127.0.0.1:{service.config.port}{path}"


async def _engine(service: ServiceThread) -> Any:
    ws = await websockets.connect(_url(service, "/engine"),
                                  additional_headers={"Authorization": f"Bearer {TOKEN}"})
    await recv_until(ws, is_type("hello"))
    return ws


def test_pong_and_welcome_carry_the_service_clock() -> None:
    service = _service()

    async def main() -> None:
        before = time.perf_counter_ns() / 1e6
        async with websockets.connect(_url(service, "/ws")) as ws:
            welcome = await recv_until(ws, is_type("welcome"))
            await ws.send(encode("ping", seq=7))
            pong = await recv_until(ws, is_type("pong"))
        after = time.perf_counter_ns() / 1e6
        assert pong["seq"] == 7
        assert before <= welcome["t"] <= pong["t"] <= after  # same machine: same clock
    try:
        asyncio.run(main())
    finally:
        service.stop()


def test_engine_state_reaches_phones_as_a_music_frame_and_new_phones_get_the_last() -> None:
    service = _service()

    async def main() -> None:
        engine = await _engine(service)
        async with websockets.connect(_url(service, "/ws")) as phone:
            await recv_until(phone, is_type("welcome"))
            await engine.send(encode("state", bar=3, section="verse", song="S" * 500,
                                     chord="A:min7", bpm=128.0, meter=[6, 8], at=1234.5,
                                     energy=0.7, tick=11520))
            music = await recv_until(phone, is_type("music"))
            assert music["bar"] == 3 and music["section"] == "verse"
            assert music["song"] == "S" * 120  # cut: crowd screens never get a wall of text
            assert (music["bpm"], music["meter"], music["at"]) == (128.0, [6, 8], 1234.5)
            assert music["energy"] == 0.7 and music["crowd"] == 1
            assert "tick" not in music
            # the tempo moved in bar 3: the same view, re-anchored
            await engine.send(encode("tempo", bar=3, bpm=140.0, at=1300.0, meter=[6, 8]))
            moved = await recv_until(phone, is_type("music"))
            assert (moved["bpm"], moved["at"], moved["song"]) == (140.0, 1300.0, "S" * 120)
        async with websockets.connect(_url(service, "/ws")) as late:
            frames = [json.loads(await late.recv()) for _ in range(2)]
            if frames[1]["type"] == "poll":  # the poll snapshot, when there is one, first
                frames[1] = json.loads(await late.recv())
            assert [f["type"] for f in frames] == ["welcome", "music"]
            assert frames[1]["bpm"] == 140.0
        await engine.close()
    try:
        asyncio.run(main())
    finally:
        service.stop()


def test_music_view_keeps_only_what_phones_may_see() -> None:
    view = music_view({"bar": 1, "song": 5, "bpm": True, "at": float("inf"),
                       "meter": [4, 0], "token": "secret"})
    assert view == {"bar": 1, "song": "", "section": "", "chord": "", "bpm": None,
                    "at": None, "energy": None, "meter": [4, 4]}


def test_link_syncs_its_clock_and_sends_bar_starts_in_service_time() -> None:
    service = _service()
    link = AudienceLink(_url(service, "/engine"), TOKEN).start()
    try:
        wait_for(link.connected.is_set)
        offset = wait_for(lambda: link.clock_offset_ns is not None and link.clock_offset_ns + 1)
        rtt = link.sync_rtt_ns
        assert rtt is not None and abs(offset - 1) <= rtt  # one machine: offset 0 within rtt
        assert service.service is not None
        at_ns = time.perf_counter_ns() + 500_000_000
        link.publish_state({"bar": 0, "section": "intro", "bpm": 120.0, "at_ns": at_ns})
        wait_for(lambda: service.service and service.service.last_music)
        music = json.loads(service.service.last_music)
        assert abs(music["at"] - at_ns / 1e6) <= rtt / 1e6 + 0.01
    finally:
        link.stop()
        service.stop()


def test_health_and_panic_travel_through_the_link() -> None:
    service = _service()
    synth = MemoryOutput("synth")
    link = AudienceLink(_url(service, "/engine"), TOKEN)
    (output,) = watch_outputs(link, [synth])
    link.start()
    try:
        wait_for(link.connected.is_set)
        output.bind_timeline(TempoMap(120.0), time.perf_counter_ns())
        output.send(NoteOn(0, 60, 90, 2))
        assert service.service is not None
        health = wait_for(lambda: service.service and service.service.engine_health)
        assert health["sent"] == 1 and health["outputs"] == ["synth"]
        assert health["link"]["reconnects"] == 0 and health["link"]["rtt_ms"] is not None

        request = urllib.request.Request(
            f"http://127.0.0.1:{service.config.port}/api/panic", data=b"{}", method="POST",
            headers={"Authorization": f"Bearer {TOKEN}"})
        with urllib.request.urlopen(request) as response:
            assert json.load(response)["engines"] == 1
        done = wait_for(lambda: service.service and (service.service.last_panic or {})
                        .get("done_ms"))
        assert done >= service.service.last_panic["asked_ms"]
        assert service.service.last_panic["outputs"] == 1
        offs = [e for e in synth.events((ControlChange,)) if e.control == CC_ALL_NOTES_OFF]
        assert len(offs) == 16 and synth.sounding == frozenset()
        assert [c["action"] for c in link.take_console()] == ["panic"]
    finally:
        link.stop()
        service.stop()


def test_engine_watch_times_every_send_against_its_due_time() -> None:
    watch = EngineWatch()
    inner = MemoryOutput("keys", latency_ns=3_000_000)
    (output,) = watch.wrap([inner])
    tempo = TempoMap(120.0)
    origin = time.perf_counter_ns() - tempo.ns_at(PPQ) - 10 * LATE_NS  # beat 2 due long ago
    output.bind_timeline(tempo, origin)
    output.send(NoteOn(PPQ, 60, 100, 0))
    output.send(NoteOn(10 * PPQ, 62, 100, 0))  # due in the future: early, not late
    snapshot = watch.snapshot()
    assert (snapshot["sent"], snapshot["late"]) == (2, 1)
    assert snapshot["worst_late_ms"] >= 10 * LATE_NS / 1e6 + 3  # latency moves due earlier
    assert snapshot["send_ms"]["n"] == 2 and snapshot["xruns"] is None
    assert len(inner.sent) == 2 and inner.sounding == {(0, 60), (0, 62)}
    assert watch.panic() == 1 and inner.sounding == frozenset()


class _Recorder:
    def __init__(self) -> None:
        self.states: list[dict[str, Any]] = []
        self.tempos: list[dict[str, Any]] = []
        self.console: list[dict[str, Any]] = []

    def publish_state(self, state: dict[str, Any]) -> None:
        self.states.append(state)

    def publish_tempo(self, anchor: dict[str, Any]) -> None:
        self.tempos.append(anchor)

    def open_poll(self, poll: dict[str, Any]) -> None: ...
    def take_results(self) -> list[Any]: return []
    def take_tallies(self) -> list[dict[str, Any]]: return []

    def take_console(self) -> list[dict[str, Any]]:
        commands, self.console = self.console, []
        return commands


def _bridge(link: _Recorder) -> AudienceBridge:
    return AudienceBridge(link=link, polls=[], set_control=lambda _c, _v: None,
                          command_section=lambda _s: None, section_at=lambda _t: "verse",
                          song="Song")


def test_bridge_publishes_when_each_bar_starts_and_re_anchors_a_tempo_change() -> None:
    link = _Recorder()
    bridge = _bridge(link)
    state = PerformanceState(tick=BAR - PPQ, bpm=120.0, bar_start_tick=0)
    before = time.perf_counter_ns()
    bridge.window(state, BAR - PPQ // 2, BAR + 1)  # the bar line at BAR is one beat away
    after = time.perf_counter_ns()
    (published,) = [s for s in link.states if s["tick"] == BAR]
    assert before + 500_000_000 <= published["at_ns"] <= after + 500_000_000
    assert (published["song"], published["meter"], published["bpm"]) == ("Song", [4, 4], 120.0)
    assert link.tempos == []
    # half a beat into the bar the performer pushes to 150 bpm: the bar is re-anchored
    pushed = PerformanceState(tick=BAR + PPQ // 2, bpm=150.0, bar_start_tick=BAR)
    before = time.perf_counter_ns()
    bridge.window(pushed, BAR + PPQ // 2, BAR + PPQ)
    after = time.perf_counter_ns()
    (anchor,) = link.tempos
    assert anchor["bar"] == published["bar"] and anchor["bpm"] == 150.0
    # the next beat (tick BAR + PPQ, half a beat at 150 bpm = 200 ms away) lands where the
    # new tempo puts it
    next_beat = anchor["at_ns"] + round(PPQ * 60e9 / (150.0 * PPQ))
    assert before + 200_000_000 - 1000 <= next_beat <= after + 200_000_000 + 1000
    bridge.window(PerformanceState(tick=BAR + PPQ, bpm=150.2, bar_start_tick=BAR),
                  BAR + PPQ, BAR + 3 * PPQ // 2)
    assert len(link.tempos) == 1  # a wobble under 0.4 % re-times nothing
    assert bar_start_ns(pushed, BAR + PPQ // 2) - time.perf_counter_ns() < 1_000_000


def test_console_unlock_unlocks_and_panic_is_no_steering_command() -> None:
    link = _Recorder()
    bridge = _bridge(link)
    assert bridge.steering is not None
    link.console = [{"action": "lock", "control": "energy", "locked": True, "value": 0.9}]
    bridge.window(PerformanceState(tick=0), 0, PPQ)
    assert bridge.steering.locks == {"energy": 0.9}
    link.console = [{"action": "lock", "control": "energy", "locked": False, "value": None},
                    {"action": "panic"}]
    bridge.window(PerformanceState(tick=BAR - PPQ), BAR - PPQ, BAR + PPQ)
    assert bridge.steering.locks == {}


@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server not installed")
def test_with_redis_a_music_frame_leaves_a_reconnecting_phone_its_vote(tmp_path: Any) -> None:
    """Music frames travel the same Redis channel as poll snapshots; a process must not take
    one for the poll (it would forget the open poll and the phones' votes in it)."""
    proc, redis_url = start_redis_server()
    port = free_port()
    service = start_service_process("127.0.0.1", port, TOKEN, "gig", redis_url=redis_url,
                                    role="leader", log_path=tmp_path / "leader.log")
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()

    async def phone_votes_then_comes_back() -> Any:
        url = f"ws://127.0.0.1:{port}/ws"
        async with websockets.connect(url) as ws:
            welcome = await recv_until(ws, is_type("welcome"))
            await recv_until(ws, lambda m: m.get("type") == "poll" and m["poll"]
                             and m["poll"]["open"])
            await ws.send(encode("vote", poll="next", choice=1, seq=1))
            await recv_until(ws, is_type("ack"))
            link.publish_state({"bar": 1, "section": "verse", "bpm": 120.0})
            await recv_until(ws, is_type("music"))
        cookie = {"Cookie": f"stage_device={welcome['cookie']}"}
        async with websockets.connect(url, additional_headers=cookie) as ws:
            return await recv_until(ws, is_type("welcome"))
    try:
        wait_for(link.connected.is_set)
        link.open_poll({"id": "next", "kind": "choice", "options": ["A", "B"]})
        again = asyncio.run(phone_votes_then_comes_back())
        assert again["your_vote"] == {"choice": 1}
    finally:
        link.stop()
        service.stop()
        proc.terminate()
        proc.wait()
