"""``stage audience``: run the audience service (phones, big screen, console API)."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys

from stage.audience.identity import new_secret, new_token
from stage.audience.server import ServiceConfig

SECRET_ENV = "STAGE_AUDIENCE_SECRET"
TOKEN_ENV = "STAGE_AUDIENCE_TOKEN"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--token", default=os.environ.get(TOKEN_ENV),
                        help=f"console/engine token (default: ${TOKEN_ENV} or a new one)")
    parser.add_argument("--show-id", default="show", help="the show's id in the join URL")
    parser.add_argument("--public-url", help="base URL phones use, e.g. http://192.168.1.10:8080")
    parser.add_argument("--redis", metavar="URL", help="Redis URL: votes in through Streams, "
                        "tallies out through pub/sub (needed to share a show across processes)")
    parser.add_argument("--workers", type=int, default=1,
                        help="processes sharing the port (SO_REUSEPORT); >1 needs --redis "
                             "or starts a private redis-server")
    parser.add_argument("--phone-hz", type=float, default=2.0, help="snapshots a second to phones")
    parser.add_argument("--role", choices=("leader", "gateway"), default="leader",
                        help=argparse.SUPPRESS)


def _config(args: argparse.Namespace, token: str, secret: bytes, redis_url: str | None,
            ) -> ServiceConfig:
    public = args.public_url
    if public is None and args.host in ("0.0.0.0", "::"):
        public = f"http://{_lan_address()}:{args.port}"
    return ServiceConfig(show_id=args.show_id, token=token, host=args.host, port=args.port,
                         public_url=public, secret=secret, redis_url=redis_url,
                         leader=args.role == "leader", phone_hz=args.phone_hz)


def _lan_address() -> str:
    """This machine's address on the LAN (what phones reach), else loopback."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # no packet is sent: only picks a route
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def _spawn_gateways(args: argparse.Namespace, token: str, secret: bytes, redis_url: str,
                    ) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, SECRET_ENV: secret.hex(), TOKEN_ENV: token}
    command = [sys.executable, "-m", "stage.cli", "audience", "--host", args.host,
               "--port", str(args.port), "--show-id", args.show_id, "--redis", redis_url,
               "--role", "gateway", "--phone-hz", str(args.phone_hz)]
    if args.public_url:
        command += ["--public-url", args.public_url]
    return [subprocess.Popen(command, env=env) for _ in range(args.workers - 1)]


def run(args: argparse.Namespace) -> int:
    from stage.audience.serve import run_loop, serve

    token = args.token or new_token()
    secret = bytes.fromhex(os.environ[SECRET_ENV]) if SECRET_ENV in os.environ else new_secret()
    redis_url = args.redis
    redis_proc = None
    if args.workers > 1 and redis_url is None:
        from stage.audience.redis_bus import start_redis_server

        redis_proc, redis_url = start_redis_server()
    config = _config(args, token, secret, redis_url)
    if args.role == "leader":
        print(f"join URL:        {config.join_url}", flush=True)
        print(f"big screen:      {config.base_url}/screen", flush=True)
        print(f"console token:   {token}", flush=True)
        print(f"engine link:     ws://{args.host}:{args.port}/engine (Bearer token)", flush=True)
    gateways = _spawn_gateways(args, token, secret, redis_url) if args.workers > 1 else []
    try:
        run_loop(serve(config, reuse_port=args.workers > 1 or args.role == "gateway"))
    except KeyboardInterrupt:
        pass
    finally:
        for proc in gateways:
            proc.terminate()
        for proc in gateways:
            proc.wait()
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait()
    return 0
