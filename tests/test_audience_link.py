"""The engine's AudienceLink against the real service: results in, state out, and the
engine side carrying on while the service is down or restarting."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import websockets
from pages_support import wait_for
from test_audience_service import POLL, TOKEN, free_port, recv_until, vote

from stage.audience.link import STATE_QUEUE, AudienceLink
from stage.audience.process import start_service_process
from stage.audience.serve import ServiceThread
from stage.audience.server import ServiceConfig


def crowd_votes(port: int, choices: list[int], poll: str = "next") -> None:
    """Phones join, wait for the open poll and vote; every vote acknowledged."""
    async def main() -> None:
        phones = [await websockets.connect(f"ws://127.0.0.1:{port}/ws") for _ in choices]
        for ws, choice in zip(phones, choices, strict=True):
            await recv_until(ws, lambda m: m.get("type") == "poll" and m["poll"]
                             and m["poll"]["open"])
            await ws.send(vote(choice, seq=1, poll=poll))
            await recv_until(ws, lambda m: m.get("type") == "ack")
        for ws in phones:
            await ws.close()
    asyncio.run(main())


def test_link_carries_polls_state_tallies_and_results() -> None:
    port = free_port()
    service = ServiceThread(ServiceConfig("gig", TOKEN, port=port, phone_hz=20.0)).start()
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    try:
        wait_for(link.connected.is_set)
        link.open_poll(POLL)
        crowd_votes(port, [0, 2, 2])
        tallies = wait_for(lambda: [t for t in link.take_tallies() if t["voters"] == 3])
        assert tallies[-1]["counts"] == [1, 0, 2]
        for bar in range(5):
            link.publish_state({"bar": bar, "section": "verse", "tick": bar * 3840})
        results = wait_for(link.take_results)
        assert results[0].poll_id == "next" and results[0].winner == 2
        assert results[0].voters == 3
    finally:
        link.stop()
        service.stop()


def test_engine_side_never_blocks_while_the_service_is_down_then_catches_up() -> None:
    port = free_port()
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    try:
        link.open_poll({**POLL, "close_bar": 1000})
        for bar in range(STATE_QUEUE * 4):  # nobody listening: bounded, oldest dropped
            link.publish_state({"bar": bar, "section": "intro"})
        assert link.dropped_states == STATE_QUEUE * 3
        assert not link.connected.is_set()
        service = ServiceThread(ServiceConfig("gig", TOKEN, port=port, phone_hz=20.0)).start()
        try:
            wait_for(link.connected.is_set)
            crowd_votes(port, [1])
            link.close_poll("next")
            results = wait_for(link.take_results)
            assert results[0].winner == 1
        finally:
            service.stop()
    finally:
        link.stop()


def test_service_restart_mid_show_resumes_the_open_poll(tmp_path: Any) -> None:
    port = free_port()
    secret = "ab" * 32
    first = start_service_process("127.0.0.1", port, TOKEN, "gig", secret_hex=secret,
                                  log_path=tmp_path / "service.log")
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    try:
        wait_for(link.connected.is_set)
        link.open_poll({**POLL, "close_bar": 4})
        crowd_votes(port, [0])
        first.process.kill()  # a crash, not a clean stop
        first.process.wait()
        link.publish_state({"bar": 1, "section": "verse"})  # the show goes on meanwhile
        second = start_service_process("127.0.0.1", port, TOKEN, "gig", secret_hex=secret,
                                       log_path=tmp_path / "service.log")
        try:
            wait_for(lambda: (second.health() or {}).get("engine") == 1)
            crowd_votes(port, [2, 2])
            for bar in range(2, 6):
                link.publish_state({"bar": bar, "section": "verse"})
            results = wait_for(link.take_results)
            assert results[0].poll_id == "next" and results[0].counts == (0, 0, 2)
            health = second.health()
            assert health is not None and health["accepted"] == 2
        finally:
            assert second.stop() == 0  # a clean stop on SIGTERM
    finally:
        link.stop()
        first.stop()
    assert "Traceback" not in (tmp_path / "service.log").read_text()


def test_console_commands_reach_the_engine() -> None:
    port = free_port()
    service = ServiceThread(ServiceConfig("gig", TOKEN, port=port)).start()
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    try:
        wait_for(link.connected.is_set)
        from test_audience_service import console

        console(service, "/api/lock", {"control": "swing", "value": 0.6})
        commands = wait_for(link.take_console)
        assert commands[0]["action"] == "lock" and commands[0]["control"] == "swing"
        assert json.dumps(commands[0])
    finally:
        link.stop()
        service.stop()
