"""The real audience service on a loopback port, real websockets clients."""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from conftest import TIMEOUT_S

from stage.audience.protocol import encode
from stage.audience.serve import ServiceThread
from stage.audience.server import ServiceConfig

TOKEN = "test-token"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def service() -> Iterator[ServiceThread]:
    config = ServiceConfig(show_id="gig", token=TOKEN, port=free_port(), phone_hz=20.0)
    thread = ServiceThread(config).start()
    yield thread
    thread.stop()


def base(service: ServiceThread) -> str:
    return f"127.0.0.1:{service.config.port}"


async def recv_until(ws: Any, predicate: Any, timeout: float = TIMEOUT_S) -> dict[str, Any]:
    async def _loop() -> dict[str, Any]:
        while True:
            message = json.loads(await ws.recv())
            if predicate(message):
                return message
    return await asyncio.wait_for(_loop(), timeout)


def is_type(kind: str) -> Any:
    return lambda m: m.get("type") == kind


async def engine(service: ServiceThread) -> Any:
    ws = await websockets.connect(f"ws://{base(service)}/engine",
                                  additional_headers={"Authorization": f"Bearer {TOKEN}"})
    await recv_until(ws, is_type("hello"))
    return ws


async def phone(service: ServiceThread, cookie: str | None = None, **kw: Any) -> Any:
    headers = {"Cookie": f"stage_device={cookie}"} if cookie else None
    kw.setdefault("close_timeout", 1.0)  # the client's own wait for a TCP close
    return await websockets.connect(f"ws://{base(service)}/ws", additional_headers=headers, **kw)


POLL = {"id": "next", "kind": "choice", "question": "Where next?",
        "options": ["Chorus", "Break", "Build"], "close_bar": 4}


def vote(choice: int, seq: int, poll: str = "next") -> str:
    return encode("vote", poll=poll, choice=choice, seq=seq)


def test_phone_page_sets_a_signed_cookie_and_the_screen_shows_a_qr(service: ServiceThread) -> None:
    with urllib.request.urlopen(f"http://{base(service)}/?show=gig") as response:
        assert "stage_device=" in response.headers["Set-Cookie"]
        assert "HttpOnly" in response.headers["Set-Cookie"]
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
        assert b"/static/phone.js" in response.read()
    with urllib.request.urlopen(f"http://{base(service)}/screen") as response:
        page = response.read().decode()
        assert "/qr.svg" in page and "?show=gig" in page and "{{" not in page
    with urllib.request.urlopen(f"http://{base(service)}/qr.svg") as response:
        assert response.read().startswith(b"<?xml")
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"http://{base(service)}/?show=other")
    assert missing.value.code == 404


def test_votes_reach_the_engine_and_close_at_the_bar(service: ServiceThread) -> None:
    async def main() -> None:
        eng = await engine(service)
        await eng.send(encode("open_poll", poll=POLL))
        phones = [await phone(service) for _ in range(3)]
        for ws in phones:
            await recv_until(ws, lambda m: m.get("type") == "poll" and m["poll"]
                             and m["poll"]["open"])
        for i, ws in enumerate(phones):
            await ws.send(vote(1 if i else 2, seq=1))
            ack = await recv_until(ws, is_type("ack"))
            assert ack["seq"] == 1
        tally = await recv_until(eng, lambda m: m.get("type") == "tally" and
                                 m["voters"] == 3)
        assert tally["counts"] == [0, 2, 1]
        for bar in range(5):
            await eng.send(encode("state", bar=bar, section="verse"))
        result = await recv_until(eng, is_type("result"))
        assert result["winner"] == 1 and result["voters"] == 3
        closed = await recv_until(phones[0], lambda m: m.get("type") == "poll" and
                                  not m["poll"]["open"])
        assert closed["poll"]["tally"]["winner"] == 1
        await phones[0].send(vote(0, seq=2))
        error = await recv_until(phones[0], is_type("error"))
        assert error["code"] == "poll_closed"
    asyncio.run(main())


def test_reconnecting_phone_keeps_its_id_and_its_single_vote(service: ServiceThread) -> None:
    async def main() -> None:
        eng = await engine(service)
        await eng.send(encode("open_poll", poll=POLL))
        ws = await phone(service)
        welcome = await recv_until(ws, is_type("welcome"))
        await recv_until(ws, lambda m: m.get("type") == "poll" and m["poll"])
        await ws.send(vote(0, seq=1))
        await recv_until(ws, is_type("ack"))
        await ws.close()
        again = await phone(service, cookie=welcome["cookie"])
        rewelcome = await recv_until(again, is_type("welcome"))
        assert rewelcome["device"] == welcome["device"] and rewelcome["cookie"] is None
        assert rewelcome["your_vote"] == {"choice": 0}
        await again.send(vote(2, seq=2))  # changes the vote, does not add one
        await recv_until(again, is_type("ack"))
        tally = await recv_until(eng, lambda m: m.get("type") == "tally" and
                                 m["counts"][2] == 1)
        assert tally["voters"] == 1 and tally["counts"] == [0, 0, 1]
        forged = await phone(service, cookie=welcome["device"] + ".0000")
        assert (await recv_until(forged, is_type("welcome")))["device"] != welcome["device"]
    asyncio.run(main())


def test_abuse_gets_errors_then_a_close_and_nobody_else_loses_a_vote(
        service: ServiceThread) -> None:
    async def main() -> None:
        eng = await engine(service)
        await eng.send(encode("open_poll", poll=POLL))
        honest = await phone(service)
        await recv_until(honest, lambda m: m.get("type") == "poll" and m["poll"])
        await honest.send(vote(1, seq=1))
        await recv_until(honest, is_type("ack"))
        bad = await phone(service)
        await recv_until(bad, is_type("welcome"))
        await bad.send("{not json")
        assert (await recv_until(bad, is_type("error")))["code"] == "bad_json"
        await bad.send(encode("vote", poll="next", choice=1, pad="x" * 1000))
        assert (await recv_until(bad, is_type("error")))["code"] == "too_big"
        await bad.send(b"\x00binary")
        assert (await recv_until(bad, is_type("error")))["code"] == "bad_json"
        with pytest.raises(websockets.ConnectionClosed) as closed:
            for _ in range(200):
                await bad.send(encode("open_poll", poll=POLL))  # phones can't open polls
                await asyncio.sleep(0)
            await recv_until(bad, lambda m: False)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        huge = await phone(service)
        await recv_until(huge, is_type("welcome"))
        with pytest.raises(websockets.ConnectionClosed):
            await huge.send("x" * 100_000)
            await recv_until(huge, lambda m: False)
        await honest.send(vote(2, seq=2))
        assert (await recv_until(honest, is_type("ack")))["seq"] == 2
        for bar in range(5):
            await eng.send(encode("state", bar=bar))
        result = await recv_until(eng, is_type("result"))
        assert result["counts"] == [0, 0, 1]
        health = json.loads(urllib.request.urlopen(f"http://{base(service)}/health").read())
        assert health["rejected"] >= 20 and health["closed_abusive"] == 1
    asyncio.run(main())


def test_rate_limit_answers_with_an_error_frame(service: ServiceThread) -> None:
    async def main() -> None:
        ws = await phone(service)
        await recv_until(ws, is_type("welcome"))
        for _ in range(30):
            await ws.send(encode("ping"))
        error = await recv_until(ws, is_type("error"))
        assert error["code"] == "rate_limited"
    asyncio.run(main())


def test_foreign_origin_and_missing_token_are_refused(service: ServiceThread) -> None:
    async def main() -> None:
        with pytest.raises(websockets.InvalidStatus) as origin:
            await phone(service, origin="http://evil.example")
        assert origin.value.response.status_code == 403
        ok = await phone(service, origin=f"http://{base(service)}")
        await recv_until(ok, is_type("welcome"))
        with pytest.raises(websockets.InvalidStatus) as token:
            await websockets.connect(f"ws://{base(service)}/engine")
        assert token.value.response.status_code == 401
    asyncio.run(main())
    request = urllib.request.Request(f"http://{base(service)}/api/poll", method="POST",
                                     data=json.dumps(POLL).encode())
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(request)
    assert denied.value.code == 401


def console(service: ServiceThread, path: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://{base(service)}{path}", method="POST", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


def test_console_opens_polls_and_forwards_lock_and_veto(service: ServiceThread) -> None:
    async def main() -> None:
        eng = await engine(service)
        loop = asyncio.get_running_loop()
        hostile = {**POLL, "question": "<img src=x onerror=alert(1)>"}
        await loop.run_in_executor(None, console, service, "/api/poll", hostile)
        opened = await recv_until(eng, lambda m: m.get("action") == "open_poll")
        assert opened["poll"]["id"] == "next"
        await loop.run_in_executor(None, console, service, "/api/lock",
                                   {"control": "energy", "value": 0.4})
        lock = await recv_until(eng, lambda m: m.get("action") == "lock")
        assert lock["control"] == "energy" and lock["value"] == 0.4
        await loop.run_in_executor(None, console, service, "/api/veto", {"poll": "next"})
        assert (await recv_until(eng, lambda m: m.get("action") == "veto"))["poll"] == "next"
        ws = await phone(service)
        snapshot = await recv_until(ws, lambda m: m.get("type") == "poll" and m["poll"]
                                    and m["poll"]["vetoed"])
        # crowd-visible text travels as JSON data and the pages set it with textContent only
        assert snapshot["poll"]["question"] == hostile["question"]
    asyncio.run(main())
    with urllib.request.urlopen(f"http://{base(service)}/static/phone.js") as response:
        script = response.read().decode()
    assert "innerHTML" not in script and "textContent" in script


def test_big_screens_are_not_counted_as_phones(service: ServiceThread) -> None:
    async def main() -> dict[str, int]:
        screen = await websockets.connect(f"ws://{base(service)}/ws?role=screen")
        phone = await websockets.connect(f"ws://{base(service)}/ws")
        for ws in (screen, phone):
            await recv_until(ws, lambda m: m.get("type") == "welcome")
        with urllib.request.urlopen(f"http://{base(service)}/health", timeout=TIMEOUT_S) as r:
            health: dict[str, int] = json.load(r)
        await screen.close()
        await phone.close()
        return health

    health = asyncio.run(main())
    assert health["phones"] == 1 and health["screens"] == 1
