"""Two audience processes feed one engine through a real Redis; processes are killed
mid-poll and no acknowledged vote is lost or counted twice."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from test_audience_link import wait_for
from test_audience_service import TOKEN, free_port, recv_until, vote

from stage.audience.link import AudienceLink
from stage.audience.process import ServiceHandle, start_service_process
from stage.audience.redis_bus import start_redis_server, stream_seq

SECRET = "cd" * 32
POLL = {"id": "next", "kind": "choice", "question": "Where next?",
        "options": ["Chorus", "Break", "Build"]}

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None,
                                reason="redis-server is not installed (make setup installs it)")


@pytest.fixture
def redis_url() -> Iterator[str]:
    proc, url = start_redis_server()
    yield url
    proc.terminate()
    proc.wait()


def audience(port: int, redis_url: str, role: str, tmp_path: Any) -> ServiceHandle:
    return start_service_process("127.0.0.1", port, TOKEN, "gig", redis_url=redis_url,
                                 role=role, secret_hex=SECRET,
                                 log_path=tmp_path / f"{role}-{port}.log")


class Phone:
    """A phone that keeps its cookie and its last acknowledged vote."""

    def __init__(self) -> None:
        self.cookie: str | None = None
        self.seq = 0
        self.acked: int | None = None
        self.ws: Any = None

    async def join(self, port: int) -> None:
        headers = {"Cookie": f"stage_device={self.cookie}"} if self.cookie else None
        self.ws = await websockets.connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers)
        welcome = await recv_until(self.ws, lambda m: m.get("type") == "welcome")
        self.cookie = welcome["cookie"] or self.cookie
        await recv_until(self.ws, lambda m: m.get("type") == "poll" and m["poll"]
                         and m["poll"]["open"])

    async def vote(self, choice: int) -> None:
        self.seq += 1
        await self.ws.send(vote(choice, self.seq))
        await recv_until(self.ws, lambda m: m.get("type") == "ack")
        self.acked = choice


def test_stream_ids_order_as_integers() -> None:
    assert stream_seq("1700000000000-0") < stream_seq("1700000000000-1") < stream_seq(
        "1700000000001-0")


def test_two_processes_one_engine_and_a_gateway_killed_mid_poll(redis_url: str,
                                                                tmp_path: Any) -> None:
    port_a, port_b = free_port(), free_port()
    leader = audience(port_a, redis_url, "leader", tmp_path)
    gateway = audience(port_b, redis_url, "gateway", tmp_path)
    link = AudienceLink(f"ws://127.0.0.1:{port_a}/engine", TOKEN).start()
    try:
        wait_for(link.connected.is_set)
        link.open_poll(POLL)

        async def crowd() -> list[Phone]:
            on_a = [Phone() for _ in range(6)]
            on_b = [Phone() for _ in range(6)]
            for phone in on_a:
                await phone.join(port_a)
            for phone in on_b:
                await phone.join(port_b)
            for i, phone in enumerate(on_a + on_b):
                await phone.vote(i % 3)
            for phone in on_b[:3]:
                await phone.vote(2)  # changed minds, through the gateway
            gateway.process.kill()  # mid-poll, no goodbye
            gateway.process.wait()
            for i, phone in enumerate(on_b):
                await phone.join(port_a)  # the phone reconnects to the other process
                if i % 2:
                    await phone.vote(phone.acked or 0)  # re-sends a vote already in
            await on_b[5].vote(0)
            return on_a + on_b

        phones = asyncio.run(crowd())
        link.close_poll("next")
        results = wait_for(link.take_results)
        expected = [0, 0, 0]
        for phone in phones:
            assert phone.acked is not None
            expected[phone.acked] += 1
        assert results[0].voters == len(phones)
        assert list(results[0].counts) == expected
    finally:
        link.stop()
        gateway.stop()
        leader.stop()


def test_the_leader_restarts_and_replays_the_open_poll(redis_url: str, tmp_path: Any) -> None:
    port_a, port_b = free_port(), free_port()
    leader = audience(port_a, redis_url, "leader", tmp_path)
    gateway = audience(port_b, redis_url, "gateway", tmp_path)
    link = AudienceLink(f"ws://127.0.0.1:{port_a}/engine", TOKEN).start()
    try:
        wait_for(link.connected.is_set)
        link.open_poll(POLL)

        async def first_votes() -> list[Phone]:
            phones = [Phone() for _ in range(5)]
            for i, phone in enumerate(phones):
                await phone.join(port_b)
                await phone.vote(i % 2)
            return phones

        phones = asyncio.run(first_votes())
        leader.process.kill()
        leader.process.wait()
        leader = audience(port_a, redis_url, "leader", tmp_path)
        wait_for(lambda: (leader.health() or {}).get("engine") == 1)

        async def more_votes() -> None:
            for phone in phones[:2]:
                await phone.join(port_b)
                await phone.vote(2)

        asyncio.run(more_votes())
        link.close_poll("next")
        results = wait_for(link.take_results)
        assert results[0].voters == 5
        assert list(results[0].counts) == [2, 1, 2]  # votes 0,1,0,1,0 then two change to 2
    finally:
        link.stop()
        gateway.stop()
        leader.stop()


def test_workers_share_one_port_and_their_tallies_merge(tmp_path: Any) -> None:
    port = free_port()
    service = start_service_process("127.0.0.1", port, TOKEN, "gig", workers=2,
                                    log_path=tmp_path / "workers.log")
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    try:
        wait_for(lambda: len({(service.health() or {}).get("pid") for _ in range(8)}) == 2)
        wait_for(link.connected.is_set)  # retried past the worker that is not the leader
        link.open_poll(POLL)

        async def crowd() -> list[Phone]:
            phones = [Phone() for _ in range(10)]
            for i, phone in enumerate(phones):
                await phone.join(port)
                await phone.vote(i % 3)
            return phones

        phones = asyncio.run(crowd())
        link.close_poll("next")
        results = wait_for(link.take_results)
        assert results[0].voters == len(phones)
        assert list(results[0].counts) == [4, 3, 3]
    finally:
        link.stop()
        assert service.stop() == 0
    assert "Traceback" not in (tmp_path / "workers.log").read_text()
