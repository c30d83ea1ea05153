"""The show log's writer: JSON lines appended by a thread of its own, flushed every 0.25 s.

The engine thread only puts a small tuple on a bounded queue. Live, a full queue drops the
record and counts it (the show never waits on a disk); offline (the virtual clock has no
deadline) it waits instead, so a rendered show's log is always complete. Every batch is
written, flushed and, at least once a second, fsynced: a crash loses at most the last second.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import queue
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

QUEUE_SIZE = 65_536
"""Records waiting for the writer: a live show makes a few hundred a second at most."""
FLUSH_INTERVAL_S = 0.25
FSYNC_INTERVAL_S = 1.0

Record = dict[str, Any]
Encoder = Callable[[tuple[Any, ...]], Record | None]


class LogWriter:
    """Appends records to ``path``. ``put`` takes a raw tuple that ``encode`` turns into a
    record on the writer thread (so the engine thread never formats JSON); ``block``: wait
    when the queue is full (offline) instead of dropping (live)."""

    def __init__(self, path: str | Path, encode: Encoder, block: bool = False,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.encode = encode
        self.block = block
        self.dropped = 0
        self.written = 0
        self.errors = 0
        self._queue: queue.Queue[tuple[Any, ...] | None] = queue.Queue(maxsize=queue_size)
        self._file: IO[str] = self.path.open("a", encoding="utf-8")
        self._thread = threading.Thread(target=self._main, name="show-log", daemon=True)
        self._closed = False
        self._thread.start()

    def put(self, item: tuple[Any, ...]) -> None:
        """Hand one raw record to the writer; never blocks unless ``block``."""
        if self._closed:
            return
        try:
            if self.block:
                self._queue.put(item)
            else:
                self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1

    def close(self) -> None:
        """Write everything queued, then close the file (safe to call twice)."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout=30.0)
        if self._thread.is_alive():
            log.error("show log writer did not finish; %s may be short", self.path)

    def _main(self) -> None:
        last_sync = time.monotonic()
        done = False
        while not done:
            batch: list[tuple[Any, ...]] = []
            try:
                first = self._queue.get(timeout=FLUSH_INTERVAL_S)
            except queue.Empty:
                first = ()
            done = first is None
            if first:
                batch.append(first)
            while not done and len(batch) < 8192:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                else:
                    batch.append(item)
            self._write(batch)
            if done or time.monotonic() - last_sync >= FSYNC_INTERVAL_S:
                self._sync()
                last_sync = time.monotonic()
        self._file.close()

    def _write(self, batch: list[tuple[Any, ...]]) -> None:
        lines = []
        for item in batch:
            try:
                record = self.encode(item)
            except Exception:  # one bad record must not end the log
                self.errors += 1
                log.exception("show log: cannot encode %r", item[:1])
                continue
            if record is not None:
                lines.append(json.dumps(record, separators=(",", ":")))
        if lines:
            self._file.write("\n".join(lines) + "\n")
            self.written += len(lines)
        self._file.flush()

    def _sync(self) -> None:
        with contextlib.suppress(OSError):
            os.fsync(self._file.fileno())
