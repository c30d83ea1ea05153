"""Static pages for phones and the big screen, the join QR code, the process's RSS."""

from __future__ import annotations

import html
import io
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

import segno
from aiohttp import web

if TYPE_CHECKING:
    from stage.audience.server import ServiceConfig

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'")
"""No inline script anywhere: even text that slipped past escaping could not run."""


def _headers() -> dict[str, str]:
    return {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
    }


@lru_cache(maxsize=8)
def _template(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def _page(config: ServiceConfig, name: str) -> web.Response:
    text = _template(config.web_root / name)
    text = text.replace("{{SHOW_ID}}", html.escape(config.show_id, quote=True))
    text = text.replace("{{JOIN_URL}}", html.escape(config.join_url, quote=True))
    return web.Response(text=text, content_type="text/html", charset="utf-8",
                        headers=_headers())


def phone(config: ServiceConfig) -> web.Response:
    return _page(config, "phone.html")


def screen(config: ServiceConfig) -> web.Response:
    return _page(config, "screen.html")


def console(config: ServiceConfig) -> web.Response:
    return _page(config, "console.html")


@lru_cache(maxsize=4)
def _qr(url: str) -> str:
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="svg", scale=10, border=2, dark="#000",
                                    light="#fff", title="Scan to join")
    return buffer.getvalue().decode("utf-8")


def qr_svg(join_url: str) -> web.Response:
    return web.Response(text=_qr(join_url), content_type="image/svg+xml", headers=_headers())


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return 0
