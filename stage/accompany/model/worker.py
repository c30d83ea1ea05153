"""The model worker: a thread that generates bars ahead of their deadline.

The engine thread submits a request and never waits (on the stage): the queue is bounded,
a full queue refuses the request at once, and a bar whose result is not ready when it is
due is played by the pattern part instead. onnxruntime releases the GIL while it runs.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Request = TypeVar("Request")
Result = TypeVar("Result")
QUEUE_SIZE = 4


class ModelWorker(Generic[Request, Result]):
    """Runs ``work`` on a daemon thread over a bounded queue; :meth:`submit` returns a
    Future, or None when the queue is full (the caller plays its fallback)."""

    def __init__(self, work: Callable[[Request], Result], name: str = "model-worker",
                 size: int = QUEUE_SIZE) -> None:
        self.work = work
        self._queue: queue.Queue[tuple[Request, Future[Result]] | None] = queue.Queue(size)
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._lock = threading.Lock()
        self.failures = 0

    def submit(self, request: Request) -> Future[Result] | None:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True
        future: Future[Result] = Future()
        try:
            self._queue.put_nowait((request, future))
        except queue.Full:
            return None
        return future

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            request, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(self.work(request))
            except Exception as error:  # the bar falls back; the worker lives on
                self.failures += 1
                log.exception("model worker failed on a request")
                future.set_exception(error)

    def close(self, timeout_s: float = 1.0) -> None:
        """Stop the thread after the requests already queued."""
        if not self._started:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            return
        self._thread.join(timeout_s)
