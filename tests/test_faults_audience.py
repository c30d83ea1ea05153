"""The audience service killed mid-poll and started again, under a real engine on the real
clock: the band plays every bar on through the outage, the phone reconnects as the same
device, and every device's vote counts once in the result the engine logs.

Builds on tests/test_audience_link.py (the link and the service across a restart) with the
whole show path: engine, band, bridge, link, service process, phones, show log.
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import websockets
from conftest import TIMEOUT_S
from test_audience_link import wait_for
from test_audience_service import TOKEN, free_port, recv_until, vote

from stage.audience.link import AudienceLink
from stage.audience.process import start_service_process
from stage.commands._songs import song_plugins
from stage.engine.ports.base import MemoryOutput
from stage.engine.runner import Engine
from stage.engine.setlist import load_setlist
from stage.engine.showlog import LoggedLink, ShowLog, read_log
from stage.engine.time import RealClock, TempoMap

SONG = Path(__file__).with_name("fixtures") / "faults_crowd_song.toml"
SECRET = "cd" * 32


async def _phone_vote(port: int, choice: int, seq: int, cookie: str | None = None
                      ) -> dict[str, Any]:
    """One phone: join (with its cookie, if it has one), wait for the poll, vote; returns
    its welcome frame."""
    headers = {"Cookie": f"stage_device={cookie}"} if cookie else None
    async with websockets.connect(f"ws://127.0.0.1:{port}/ws", additional_headers=headers,
                                  close_timeout=1.0) as ws:
        welcome = await recv_until(ws, lambda m: m.get("type") == "welcome")
        await recv_until(ws, lambda m: m.get("type") == "poll" and m["poll"]
                         and m["poll"]["open"])
        await ws.send(vote(choice, seq=seq))
        await recv_until(ws, lambda m: m.get("type") == "ack")
        return welcome


def _start_engine(link: AudienceLink, log_path: Path) -> tuple[Engine, ShowLog, MemoryOutput,
                                                               threading.Event,
                                                               threading.Thread]:
    song = load_setlist(SONG).songs[0]
    show_log = ShowLog(log_path, {"setlist": None, "song": None, "crowd": {"kind": "live"}})
    plugins = song_plugins(song, None, follow=False, live=True,
                           crowd=LoggedLink(link, show_log))
    output = MemoryOutput()
    engine = Engine(RealClock(), TempoMap(song.tempo), plugins.follower, plugins.generators,
                    [output], finished=plugins.finished,
                    observer=show_log.song(0, song.title, plugins.generators, song.tempo,
                                           str(song.meter)))
    engine.end_tick_limit = plugins.max_bars * song.meter.ticks_per_bar
    stop = threading.Event()
    engine.start()
    thread = threading.Thread(target=engine.run, args=(stop, True), daemon=True)
    thread.start()
    return engine, show_log, output, stop, thread


def _results(path: Path) -> list[dict[str, Any]]:
    return read_log(path).of("result") if path.stat().st_size else []


def test_the_show_plays_on_through_a_service_crash_and_no_vote_counts_twice(
        tmp_path: Path) -> None:
    port = free_port()
    service_log = tmp_path / "service.log"
    first = start_service_process("127.0.0.1", port, TOKEN, "gig", secret_hex=SECRET,
                                  log_path=service_log)
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    log_path = tmp_path / "show.jsonl"
    _engine, show_log, output, stop, thread = _start_engine(link, log_path)
    second = None
    try:
        wait_for(link.connected.is_set)
        welcome = asyncio.run(_phone_vote(port, 0, seq=1))  # phone A votes "Low"
        first.process.kill()  # a crash, not a clean stop
        first.process.wait()
        heard = len(output.sent)
        wait_for(lambda: len(output.sent) > heard + 20)  # the band plays on meanwhile
        second = start_service_process("127.0.0.1", port, TOKEN, "gig", secret_hex=SECRET,
                                       log_path=service_log)
        wait_for(lambda: (second.health() or {}).get("engine") == 1)
        # phone A comes back as the same device and votes again; phone B joins and votes
        again = asyncio.run(_phone_vote(port, 2, seq=2, cookie=welcome["cookie"]))
        assert again["device"] == welcome["device"]
        asyncio.run(_phone_vote(port, 2, seq=3, cookie=welcome["cookie"]))  # a change, not +1
        asyncio.run(_phone_vote(port, 2, seq=1))
        results = wait_for(lambda: _results(log_path), timeout=4 * TIMEOUT_S)
        wait_for(lambda: read_log(log_path).of("steer"))  # applied on the next bar line
        assert thread.is_alive(), "the engine stopped"
    finally:
        stop.set()
        thread.join(timeout=TIMEOUT_S)
        show_log.close()
        link.stop()
        if second is not None:
            assert second.stop() == 0
        first.stop()
    result = results[0]["result"]
    assert result["poll"] == "next"
    assert result["counts"] == [0, 0, 2] and result["voters"] == 2  # A once, B once
    data = read_log(log_path)
    steer = data.of("steer")[0]
    assert steer["polls"] == ["next"] and steer["controls"]["energy"] > 0.5
    # every bar from the first to the last played has drums: no bar lost to the outage
    bar_ticks = 4 * 960
    drum_bars = {r["tick"] // bar_ticks for r in data.of("note") if r["part"] == "drums"}
    assert drum_bars == set(range(max(drum_bars) + 1))
    assert "Traceback" not in service_log.read_text()
