"""Broadcast to every phone without ever waiting on a slow one.

Each frame sent to phones is a complete snapshot, so a phone whose socket buffer is backed
up simply skips snapshots: it gets the latest one once its buffer drains (a merged
snapshot), and one that stays backed up past ``SLOW_CLOSE_NS`` is dropped. Nothing is
queued per phone beyond the kernel/transport buffer (bounded by ``SLOW_BUFFER_BYTES``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web

log = logging.getLogger(__name__)

SLOW_BUFFER_BYTES = 16 * 1024
"""A phone with more than this waiting in its transport buffer skips snapshots."""
SLOW_CLOSE_NS = 10_000_000_000
"""A phone backed up this long (ten seconds) is disconnected."""


class Phone:
    """One connected phone: its socket, device id and limits. Kept small (10,000s held)."""

    __slots__ = ("abuse", "address", "bucket", "device", "lagging_since", "stale", "transport",
                 "ws")

    def __init__(self, ws: web.WebSocketResponse, device: str, address: str,
                 bucket: Any, abuse: Any, transport: asyncio.Transport | None) -> None:
        self.ws = ws
        self.transport = transport
        self.device = device
        self.address = address
        self.bucket = bucket
        self.abuse = abuse
        self.lagging_since = 0
        self.stale = False

    def backed_up(self) -> bool:
        transport = self.transport
        if transport is None or transport.is_closing():
            return True
        return transport.get_write_buffer_size() > SLOW_BUFFER_BYTES


def text_frame(text: str) -> bytes:
    """One unmasked websocket text frame (server to client), built once per broadcast."""
    payload = text.encode("utf-8")
    size = len(payload)
    if size < 126:
        header = bytes((0x81, size))
    elif size < 65536:
        header = bytes((0x81, 126)) + size.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + size.to_bytes(8, "big")
    return header + payload


class PhoneRegistry:
    """The phones held by this process."""

    def __init__(self) -> None:
        self.phones: set[Phone] = set()
        self.dropped_slow = 0
        self.skipped = 0

    def __len__(self) -> int:
        return len(self.phones)

    def add(self, phone: Phone) -> None:
        self.phones.add(phone)

    def discard(self, phone: Phone) -> None:
        self.phones.discard(phone)

    def broadcast(self, frame: str) -> int:
        """Send ``frame`` to every phone that can take it now. Returns how many got it.

        The frame is encoded once and written straight to each transport (as the
        websockets library's broadcast does): no per-phone task, no await, so this loop
        never waits on any single phone.
        """
        data = text_frame(frame)
        now = time.perf_counter_ns()
        sent = 0
        slow: list[Phone] = []
        for phone in list(self.phones):
            if phone.ws.closed:
                continue
            if phone.backed_up():
                if not phone.lagging_since:
                    phone.lagging_since = now
                elif now - phone.lagging_since > SLOW_CLOSE_NS:
                    slow.append(phone)
                phone.stale = True
                self.skipped += 1
                continue
            phone.lagging_since = 0
            phone.stale = False
            assert phone.transport is not None
            phone.transport.write(data)
            sent += 1
        for phone in slow:
            self.dropped_slow += 1
            self.phones.discard(phone)
            log.info("dropping a phone backed up for %.0f s", SLOW_CLOSE_NS / 1e9)
            if phone.transport is not None:
                phone.transport.abort()
        return sent
