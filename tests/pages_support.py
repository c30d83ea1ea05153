"""Shared by the browser tests (tests/test_pages_*.py): Debian's chromium driven by the PyPI
``playwright`` package (its own Node driver; no browser download ever), a real audience
service on a free loopback port, a real engine link, screenshots under out/screenshots/."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import TIMEOUT_S

from stage.audience.serve import ServiceThread
from stage.audience.server import ServiceConfig

CHROMIUM = os.environ.get("STAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 "--disable-background-timer-throttling", "--disable-renderer-backgrounding",
                 "--disable-backgrounding-occluded-windows"]
TOKEN = "console-token"
SCREENSHOTS = Path(__file__).resolve().parents[1] / "out" / "screenshots"
PHONE = {"width": 360, "height": 740}
HD = {"width": 1920, "height": 1080}


def browser_or_skip() -> Iterator[Any]:
    """One headless chromium for a test module (``make test`` installs both pieces)."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install '.[test]'")
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} missing: apt-get install chromium (make test does)")
    playwright = sync_api.sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()


def start_service(port: int, secret: bytes | None = None) -> ServiceThread:
    config = ServiceConfig(show_id="gig", token=TOKEN, port=port, phone_hz=20.0)
    if secret is not None:
        config.secret = secret
    return ServiceThread(config).start()


def phone_page(browser: Any, port: int) -> Any:
    """A phone (its own browser context: its own cookie, so its own device)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                  has_touch=True)
    page = context.new_page()
    page.goto(f"http://127.0.0.1:{port}/?show=gig")
    return page


def hd_page(browser: Any, port: int, path: str) -> Any:
    page = browser.new_context(viewport=HD).new_page()
    page.goto(f"http://127.0.0.1:{port}{path}")
    return page


def shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.wait_for_timeout(550)  # the bars' width transitions settle
    page.screenshot(path=str(path))
    return path


def wait_for(check: Callable[[], Any], timeout: float = TIMEOUT_S) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("condition not met in time")


def expect_text(page: Any, selector: str, text: str, timeout_s: float = TIMEOUT_S) -> None:
    """Waits until ``selector``'s text contains ``text`` (the page's own rendering)."""
    page.wait_for_function(
        "([sel, want]) => { const el = document.querySelector(sel);"
        " return !!el && el.textContent.includes(want); }",
        arg=[selector, text], timeout=timeout_s * 1000)
