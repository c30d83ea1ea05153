"""Run the audience service in this process (asyncio), on its own or as one of several
workers sharing a port (SO_REUSEPORT) whose tallies merge through Redis."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

from stage.audience.server import AudienceService, ServiceConfig

log = logging.getLogger(__name__)
T = TypeVar("T")


def run_loop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop where it is installed (about twice the frames a second)."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


def raise_fd_limit() -> int:
    """Raise the open-file limit to its hard maximum (one fd per phone). Returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def build_service(config: ServiceConfig) -> AudienceService:
    if config.redis_url is None:
        return AudienceService(config)
    from stage.audience.redis_bus import RedisBackend

    service = AudienceService(config)
    service.backend = RedisBackend(config.redis_url, service)
    return service


async def serve(config: ServiceConfig, reuse_port: bool = False,
                ready: asyncio.Event | None = None) -> None:
    """Serve until SIGTERM/SIGINT or cancellation."""
    raise_fd_limit()
    service = build_service(config)
    runner = web.AppRunner(service.app(), access_log=None, handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port, reuse_port=reuse_port,
                       backlog=4096)
    await site.start()
    log.info("audience service for show %s on %s", config.show_id, config.base_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if ready is not None:
        ready.set()
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


class ServiceThread:
    """The service on its own asyncio loop in a background thread (tests, embedding).

    Production runs it as a child process (``process.start_service_process``).
    """

    def __init__(self, config: ServiceConfig) -> None:
        import threading

        self.config = config
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self.service: AudienceService | None = None
        self._thread = threading.Thread(target=self._run, name="audience-service", daemon=True)

    def start(self, timeout_s: float = 10.0) -> ServiceThread:
        self._thread.start()
        if not self._ready.wait(timeout_s):
            raise RuntimeError("audience service did not start")
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        self.service = build_service(self.config)
        runner = web.AppRunner(self.service.app(), access_log=None, handle_signals=False,
                               shutdown_timeout=0.5)
        await runner.setup()
        await web.TCPSite(runner, self.config.host, self.config.port).start()
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await runner.cleanup()

    def call(self, fn: object, *args: object) -> object:
        """Run ``fn(*args)`` on the service's loop and return its result (tests)."""
        import concurrent.futures

        future: concurrent.futures.Future[object] = concurrent.futures.Future()

        def _call() -> None:
            try:
                future.set_result(fn(*args))  # type: ignore[operator]
            except Exception as exc:  # handed back to the caller
                future.set_exception(exc)

        self._loop.call_soon_threadsafe(_call)
        return future.result(10.0)

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout_s)
