"""Broadcast to every phone without ever waiting on a slow one.

Each frame sent to phones is a complete snapshot, so a phone whose socket buffer is backed
up simply skips snapshots: it gets the latest one once its buffer drains (a merged
snapshot), and one that stays backed up past ``SLOW_CLOSE_NS`` is dropped. Nothing is
queued per phone beyond the kernel/transport buffer (bounded by ``SLOW_BUFFER_BYTES``).
"""

from __future__ import annotations

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

    __slots__ = ("abuse", "address", "bucket", "device", "lagging_since", "stale", "ws")

    def __init__(self, ws: web.WebSocketResponse, device: str, address: str,
                 bucket: Any, abuse: Any) -> None:
        self.ws = ws
        self.device = device
        self.address = address
        self.bucket = bucket
        self.abuse = abuse
        self.lagging_since = 0
        self.stale = False

    def backed_up(self) -> bool:
        transport = self.ws._req.transport if self.ws._req is not None else None
        if transport is None or transport.is_closing():
            return True
        return transport.get_write_buffer_size() > SLOW_BUFFER_BYTES


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

    async def broadcast(self, frame: str) -> int:
        """Send ``frame`` to every phone that can take it now. Returns how many got it.

        ``send_str`` on a socket whose buffer is below the transport's high-water mark
        completes without suspending, so this loop never waits on any single phone.
        """
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
            try:
                await phone.ws.send_str(frame)
                sent += 1
            except (ConnectionError, RuntimeError):
                self.phones.discard(phone)
        for phone in slow:
            self.dropped_slow += 1
            self.phones.discard(phone)
            log.info("dropping a phone backed up for %.0f s", SLOW_CLOSE_NS / 1e9)
            transport = phone.ws._req.transport if phone.ws._req is not None else None
            if transport is not None:
                transport.abort()
        return sent
