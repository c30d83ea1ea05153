"""Run the audience service in this process (asyncio), on its own or as one of several
workers sharing a port (SO_REUSEPORT) whose tallies merge through Redis."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal

from aiohttp import web

from stage.audience.server import AudienceService, ServiceConfig

log = logging.getLogger(__name__)


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
