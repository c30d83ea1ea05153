"""The performer console in a real browser: token sign-in, open/close a poll the phones see,
lock and unlock a control, engine health, and a panic that reaches the engine's outputs
through the link. And the other way round: a phone can never reach a performer control."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from pages_support import (
    TOKEN,
    browser_or_skip,
    expect_text,
    hd_page,
    phone_page,
    shot,
    start_service,
    wait_for,
)
from test_audience_service import free_port

from stage.audience.health import EngineWatch
from stage.audience.link import AudienceLink
from stage.audience.serve import ServiceThread
from stage.engine.events import CC_ALL_NOTES_OFF, ControlChange, NoteOff, NoteOn
from stage.engine.ports.base import MemoryOutput
from stage.engine.time import TempoMap


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_or_skip()


class Engine:
    """The engine's side as `stage run` wires it: outputs watched, link given health+panic."""

    def __init__(self, port: int) -> None:
        self.synth = MemoryOutput("synth")
        self.watch = EngineWatch()
        (self.output,) = self.watch.wrap([self.synth])
        self.output.bind_timeline(TempoMap(120.0), time.perf_counter_ns())
        self.link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN)
        self.watch.attach(self.link)
        self.link.start()


@pytest.fixture
def show() -> Iterator[tuple[ServiceThread, Engine]]:
    service = start_service(free_port())
    engine = Engine(service.config.port)
    wait_for(engine.link.connected.is_set)
    yield service, engine
    engine.link.stop()
    service.stop()


def console(browser: Any, port: int, token: str = TOKEN) -> Any:
    page = hd_page(browser, port, "/console")
    page.get_by_label("Console token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    return page


def test_console_opens_a_poll_the_phone_shows_and_locks_reach_the_engine(
        browser: Any, show: tuple[ServiceThread, Engine]) -> None:
    service, engine = show
    port = service.config.port
    wrong = console(browser, port, "not-the-token")
    expect_text(wrong, "#status", "Wrong token")
    assert wrong.locator("#panels").is_hidden()
    phone = phone_page(browser, port)
    expect_text(phone, "#waiting-title", "Waiting for the next poll")
    engine.link.publish_state({"bar": 17, "section": "chorus", "song": "Night Drive",
                               "chord": "F:maj7", "bpm": 124.0, "meter": [4, 4]})
    page = console(browser, port)
    expect_text(page, "#status", "Live · 1 phones")
    expect_text(page, "#m-song", "Night Drive")
    page.get_by_label("Question").fill("Which groove?")
    page.get_by_label("Options (one a line, for Choice)").fill("Funk\nBossa")
    page.get_by_role("button", name="Open poll").click()
    expect_text(phone, "#question", "Which groove?")
    phone.get_by_role("button", name="Bossa: 0 votes").click()
    expect_text(page, "#poll-now", "1 voter")
    expect_text(page, "#c-votes", "1")
    expect_text(page, "#c-latency", " ms / ")  # the vote reached the engine, timed
    expect_text(page, "#e-sent", "0")  # the engine's health report arrived
    shot(page, "console")
    page.get_by_role("button", name="Lock energy").click()
    expect_text(page, "#lock-energy", "Unlock")
    page.get_by_role("button", name="Unlock energy").click()
    expect_text(page, "#lock-energy", "Lock")
    commands = wait_for(lambda: engine.link.take_console() or None)
    commands += wait_for(lambda: engine.link.take_console() or None) if len(commands) < 3 else []
    actions = [(c["action"], c.get("locked")) for c in commands]
    assert ("open_poll", None) in actions
    assert ("lock", True) in actions and ("lock", False) in actions
    page.get_by_role("button", name="Close poll").click()
    expect_text(phone, "#poll-state", "Closed · 1 voted")
    expect_text(phone, "#waiting-title", "Waiting for the next poll")
    results = wait_for(engine.link.take_results)
    assert results[0].winner == 1


def test_panic_from_the_console_silences_every_engine_output(
        browser: Any, show: tuple[ServiceThread, Engine]) -> None:
    service, engine = show
    engine.output.bind_timeline(TempoMap(120.0), time.perf_counter_ns())
    engine.output.send(NoteOn(0, 60, 100, 0))  # notes the engine left sounding
    engine.output.send(NoteOn(0, 64, 100, 3))
    page = console(browser, port=service.config.port)
    expect_text(page, "#e-link", "engine connected")
    assert "no engine" not in page.inner_text("#e-link")
    expect_text(page, "#e-sent", "2")
    expect_text(page, "#e-late", "0")
    page.get_by_role("button", name="PANIC").click()
    expect_text(page, "#panic-result", "engine silenced 1 output in")
    sent = [event for _, event in engine.synth.sent]
    offs = {(e.channel, e.pitch) for e in sent if isinstance(e, NoteOff)}
    assert offs == {(0, 60), (3, 64)}
    all_off = {e.channel for e in sent
               if isinstance(e, ControlChange) and e.control == CC_ALL_NOTES_OFF}
    assert all_off == set(range(16))
    assert engine.synth.sounding == frozenset()
    assert engine.watch.panics == 1
    shot(page, "console-panic")


def test_a_phone_can_never_reach_a_performer_control(
        browser: Any, show: tuple[ServiceThread, Engine]) -> None:
    service, engine = show
    phone = phone_page(browser, service.config.port)
    expect_text(phone, "#connection", "Live")
    # from the phone page's own context: its socket and its cookie, no token
    answers = phone.evaluate("""async () => {
        const ws = new WebSocket(`ws://${location.host}/ws`);
        const got = [];
        ws.onmessage = (e) => got.push(JSON.parse(e.data));
        await new Promise((ok) => { ws.onopen = ok; });
        for (const frame of [
            {v: 1, type: "console", action: "panic"},
            {v: 1, type: "panic"},
            {v: 1, type: "open_poll", poll: {id: "x", kind: "tap"}},
            {v: 1, type: "close_poll"},
            {v: 1, type: "state", bar: 99, section: "outro"},
            {v: 1, type: "lock", control: "energy", locked: true},
        ]) ws.send(JSON.stringify(frame));
        await new Promise((ok) => setTimeout(ok, 500));
        const codes = got.filter((m) => m.type === "error").map((m) => m.code);
        const http = [];
        for (const path of ["/api/panic", "/api/poll", "/api/lock", "/api/poll/close"]) {
            http.push((await fetch(path, {method: "POST", body: "{}"})).status);
        }
        http.push((await fetch("/api/state")).status);
        http.push((await fetch("/engine")).status);
        return {codes, http};
    }""")
    assert answers["codes"] == ["bad_type"] * 6
    assert answers["http"] == [401] * 6
    time.sleep(0.3)
    assert engine.link.take_console() == []
    assert engine.watch.panics == 0
    assert not engine.synth.events((ControlChange,))
    assert service.service is not None and service.service.tallier.book.current is None
