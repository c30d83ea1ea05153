"""The phone page and the big screen in a real browser (headless chromium) against the real
audience service and a real engine link: join, vote, see the tally move on both; the
service restarts and the phone comes back as the same device with its vote."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
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

from stage.audience.identity import COOKIE_NAME
from stage.audience.link import AudienceLink
from stage.audience.serve import ServiceThread

POLL = {"id": "next", "kind": "choice", "question": "Where does the band go next?",
        "options": ["Chorus", "Breakdown", "Build up"], "close_bar": 1000}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    yield from browser_or_skip()


@pytest.fixture
def show() -> Iterator[tuple[ServiceThread, AudienceLink]]:
    service = start_service(free_port())
    link = AudienceLink(f"ws://127.0.0.1:{service.config.port}/engine", TOKEN).start()
    wait_for(link.connected.is_set)
    yield service, link
    link.stop()
    service.stop()


def bar(link: AudienceLink, number: int, section: str = "verse", chord: str = "A:min") -> None:
    link.publish_state({"bar": number, "section": section, "song": "Night Drive",
                        "chord": chord, "bpm": 120.0, "meter": [4, 4], "energy": 0.62})


def test_phone_votes_and_the_tally_moves_on_the_phone_and_the_big_screen(
        browser: Any, show: tuple[ServiceThread, AudienceLink]) -> None:
    service, link = show
    port = service.config.port
    screen = hd_page(browser, port, "/screen")
    first = phone_page(browser, port)
    expect_text(first, "#waiting-title", "Waiting for the next poll")
    expect_text(first, "#connection", "Live")
    shot(first, "phone-waiting")
    bar(link, 0)
    link.open_poll(POLL)
    expect_text(first, "#question", "Where does the band go next?")
    expect_text(first, "#song", "Night Drive")
    expect_text(first, "#section", "verse · A min")
    first.get_by_role("button", name="Breakdown: 0 votes").click()
    expect_text(first, "#poll-state", "1 vote · your vote is in")
    second = phone_page(browser, port)
    expect_text(second, "#question", "Where does the band go next?")
    second.get_by_role("button", name="Breakdown: 1 vote").click()
    third = phone_page(browser, port)
    expect_text(third, "#question", "Where does the band go next?")
    third.get_by_role("button", name="Chorus: 0 votes").click()
    # every phone and the big screen see the same tally: 1 Chorus, 2 Breakdown
    for phone in (first, second, third):
        expect_text(phone, "#poll-state", "3 votes")
        expect_text(phone, "#options button:nth-child(2) .count", "67%")
    expect_text(screen, "#bars li:nth-child(2) .pct", "67% · 2")
    expect_text(screen, "#bars li:nth-child(1) .pct", "33% · 1")
    expect_text(screen, "#value", "3 voted")
    expect_text(screen, "#song", "Night Drive")
    expect_text(screen, "#chord", "A min")
    expect_text(screen, "#crowd", "3")
    assert "gig" in screen.inner_text("#join-url")
    assert screen.locator("img.qr").evaluate("img => img.naturalWidth") > 0
    # the engine got the same tally
    tallies = wait_for(lambda: [t for t in link.take_tallies() if t["voters"] == 3])
    assert tallies[-1]["counts"] == [1, 2, 0]
    pressed = first.locator("#options button[aria-pressed=true] .label").inner_text()
    assert pressed.startswith("Breakdown")
    shot(first, "phone-voted")
    shot(screen, "screen-poll")


def test_slider_hype_taps_and_reactions_reach_the_service(
        browser: Any, show: tuple[ServiceThread, AudienceLink]) -> None:
    service, link = show
    port = service.config.port
    phone = phone_page(browser, port)
    screen = hd_page(browser, port, "/screen")
    link.open_poll({"id": "how-hard", "kind": "scale", "question": "How hard should it hit?",
                    "close_bar": 1000})
    expect_text(phone, "#question", "How hard should it hit?")
    phone.locator("#slider").fill("80")
    expect_text(phone, "#slider-value", "80%")
    phone.get_by_role("button", name="Send my call").click()
    expect_text(phone, "#scale-mean", "Crowd average: 80%")
    expect_text(screen, "#value", "Crowd average: 80%")
    shot(phone, "phone-slider")
    link.open_poll({"id": "hype", "kind": "tap", "question": "Hype the band!",
                    "close_bar": 1000})
    expect_text(phone, "#question", "Hype the band!")
    for _ in range(12):
        phone.locator("#tap-button").dispatch_event("pointerdown")
        phone.wait_for_timeout(60)
    tally = wait_for(lambda: [t for t in link.take_tallies()
                              if t["poll"] == "hype" and t["value"] > 0])
    assert tally[-1]["voters"] == 1
    expect_text(screen, "#value", "Crowd energy")
    shot(phone, "phone-hype")
    shot(screen, "screen-energy")
    before = service.service.stats["accepted"] if service.service else 0
    phone.get_by_role("button", name="Fire").click()
    wait_for(lambda: service.service and service.service.stats["accepted"] > before)


def test_waiting_and_offline_are_said_clearly_and_the_phone_reconnects(
        browser: Any) -> None:
    port = free_port()
    service = start_service(port)
    phone = phone_page(browser, port)
    try:
        expect_text(phone, "#connection", "Live")
        expect_text(phone, "#waiting-title", "Waiting for the next poll")
    finally:
        service.stop()
    expect_text(phone, "#connection", "Offline — reconnecting")
    assert phone.locator("#connection").get_attribute("data-state") == "offline"
    shot(phone, "phone-offline")
    service = start_service(port)
    try:
        expect_text(phone, "#connection", "Live")
    finally:
        service.stop()


def test_service_restart_the_phone_reconnects_as_itself_with_its_vote(browser: Any) -> None:
    port = free_port()
    secret = os.urandom(32)  # the show's secret survives a restart (STAGE_AUDIENCE_SECRET)
    service = start_service(port, secret)
    link = AudienceLink(f"ws://127.0.0.1:{port}/engine", TOKEN).start()
    try:
        wait_for(link.connected.is_set)
        link.open_poll(POLL)
        phone = phone_page(browser, port)
        phone.get_by_role("button", name="Build up: 0 votes").click()
        expect_text(phone, "#poll-state", "your vote is in")
        cookie = next(c["value"] for c in phone.context.cookies() if c["name"] == COOKIE_NAME)
        service.stop()  # every vote in this process is gone
        expect_text(phone, "#connection", "Offline")
        service = start_service(port, secret)
        # the engine link resumes the poll window, the phone reconnects and its vote is back
        expect_text(phone, "#connection", "Live", timeout_s=20)
        expect_text(phone, "#poll-state", "1 vote · your vote is in")
        restarted = service.service
        assert restarted is not None
        device = restarted.signer.verify(cookie)
        assert device is not None
        assert wait_for(lambda: restarted.tallier.vote_of(device)) == {"choice": 2}
        assert phone.context.cookies()[0]["value"] == cookie  # the same device
        state = json.loads(phone.evaluate(
            f"fetch('/api/state', {{headers: {{Authorization: 'Bearer {TOKEN}'}}}})"
            ".then(r => r.text())"))
        assert state["poll"]["tally"]["counts"] == [0, 0, 1]
    finally:
        link.stop()
        service.stop()


A11Y_AUDIT = "\n".join(
    line for line in (Path(__file__).parent / "pages_a11y.js").read_text(encoding="utf-8")
    .splitlines() if not line.startswith("//"))


@pytest.mark.parametrize("kind", ["waiting", "choice", "scale", "tap"])
def test_phone_is_usable_one_handed_in_the_dark(
        browser: Any, show: tuple[ServiceThread, AudienceLink], kind: str) -> None:
    """At 360 px: every text meets WCAG AA contrast on its background, every control is a
    44 px target with a name, nothing scrolls sideways."""
    service, link = show
    if kind != "waiting":
        link.open_poll({**POLL, "kind": kind, "options": POLL["options"] if kind == "choice"
                        else []})
    phone = phone_page(browser, service.config.port)
    expect_text(phone, "#connection", "Live")
    if kind != "waiting":
        expect_text(phone, "#question", "Where does the band go next?")
    audit = phone.evaluate(A11Y_AUDIT)
    assert audit == {"lowContrast": [], "smallTargets": [], "unnamed": [], "overflow": False}
