"""The crowd simulator against the real service: phones join, vote like people, and every
acknowledged final vote is in the result."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import websockets
from conftest import TIMEOUT_S
from test_audience_service import TOKEN, free_port, recv_until

from stage.audience.crowd import run_crowd, ws_url
from stage.audience.protocol import encode
from stage.audience.serve import ServiceThread
from stage.audience.server import ServiceConfig


def test_ws_url_from_the_join_url() -> None:
    assert ws_url("http://10.0.0.2:8080/?show=gig") == "ws://10.0.0.2:8080/ws"
    assert ws_url("https://stage.example/?show=gig") == "wss://stage.example/ws"


def test_simulated_phones_vote_and_none_is_lost() -> None:
    port = free_port()
    service = ServiceThread(ServiceConfig("gig", TOKEN, port=port, phone_hz=10.0)).start()
    try:
        async def main() -> tuple[dict[str, object], dict[str, object]]:
            engine = await websockets.connect(
                f"ws://127.0.0.1:{port}/engine",
                additional_headers={"Authorization": f"Bearer {TOKEN}"})
            await recv_until(engine, lambda m: m.get("type") == "hello")
            await engine.send(encode("open_poll", poll={
                "id": "next", "kind": "choice", "options": ["A", "B", "C"]}))
            stop = asyncio.Event()
            joined = asyncio.Event()
            crowd = asyncio.create_task(run_crowd(
                f"http://127.0.0.1:{port}/?show=gig", 40, vote_rate=2.0, duration_s=TIMEOUT_S,
                stop=stop, joined_event=joined))
            await asyncio.wait_for(joined.wait(), TIMEOUT_S)
            await asyncio.sleep(5.0)  # first votes come after a human reaction time
            await engine.send(encode("close_poll", id="next"))
            result = await recv_until(engine, lambda m: m.get("type") == "result")
            await asyncio.sleep(0.5)
            stop.set()
            report = await crowd
            return report.to_json(), result

        report, result = asyncio.run(main())
        assert report["joined"] == 40 and report["failed"] == 0
        assert report["votes_acked"] >= 40
        finals = Counter(v["choice"] for v in report["final_votes"].values())  # type: ignore[attr-defined]
        assert result["voters"] == 40
        assert result["counts"] == [finals[i] for i in range(3)]
        assert len(report["closed_seen_ns"]) == 40  # type: ignore[arg-type]
        assert json.dumps(report)
    finally:
        service.stop()
