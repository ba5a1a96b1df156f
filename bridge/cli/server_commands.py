"""`bridge serve` (receiver and workers) and `bridge worker` (workers only)."""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
from typing import Any

import uvicorn

from bridge import eventloop
from bridge.app import Role, role_label
from bridge.cli.common import CliError, examples, load_rules, settings_from_env
from bridge.config import Config
from bridge.delivery.opening import open_store
from bridge.delivery.store import StoreError
from bridge.receiver.serving import uvicorn_config
from bridge.settings import Settings

log = logging.getLogger("bridge.cli")


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="receive webhooks and deliver actions (receiver and workers in one process)",
        description="Run the receiver, the admin API and the workers. Settings come from "
        "BRIDGE_* variables; these options override them.",
        **examples(
            "bridge serve --config rules.yaml",
            "BRIDGE_ADMIN_TOKEN_FILE=/run/secrets/admin bridge serve --port 9000",
            "BRIDGE_DB=postgresql://bridge@db/bridge bridge serve --no-workers",
        ),
    )
    _server_options(serve)
    serve.add_argument(
        "--no-workers",
        dest="workers",
        action="store_false",
        help="receive only: store jobs for `bridge worker` processes to deliver",
    )
    serve.set_defaults(func=run_serve, role="serve")

    worker = subparsers.add_parser(
        "worker",
        help="deliver stored jobs only (no webhook routes; /healthz, /readyz and /metrics)",
        description="Run the workers only, for replicas sharing a PostgreSQL store. It still "
        "listens on BRIDGE_PORT for /healthz, /readyz and /metrics.",
        **examples("BRIDGE_DB=postgresql://bridge@db/bridge bridge worker --port 8081"),
    )
    _server_options(worker)
    worker.set_defaults(func=run_serve, role="worker", workers=True)


def _server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="rules file (default: $BRIDGE_CONFIG or rules.yaml)")
    parser.add_argument("--host", help="address to listen on (default: $BRIDGE_HOST or 0.0.0.0)")
    parser.add_argument(
        "--port", type=int, help="port to listen on (default: $BRIDGE_PORT or 8080)"
    )


def run_serve(args: argparse.Namespace) -> int:
    from bridge.logs import setup_logging

    settings = settings_from_env().with_overrides(
        config=args.config, host=args.host, port=args.port
    )
    if not 0 <= settings.port <= 65535:
        raise CliError(f"--port {settings.port} is out of range (0-65535)", code=2)
    setup_logging(settings)
    config = load_rules(args.config)  # the file settings.config names
    return eventloop.run(_serve(settings, config, args.role, workers=args.workers))


async def _serve(settings: Settings, config: Config, role: Role, *, workers: bool) -> int:
    """Open the store here, so that a store that cannot open is one line, not a traceback."""
    from bridge.app import create_app

    try:
        store = open_store(settings.db)
        await store.open()
    except StoreError as exc:
        raise CliError(f"cannot open the store (BRIDGE_DB): {exc}") from None
    try:
        app = create_app(settings, role=role, config=config, store=store, workers=workers)
        # Deadlines, a connection bound and a throttled log (bridge/receiver/serving.py).
        server = _Server(uvicorn_config(app, settings), role_label(role, workers))
        with contextlib.suppress(SystemExit):  # uvicorn exits when its socket or lifespan fails
            await server.serve()
        if not server.started:
            raise CliError("the bridge did not start; the log above says why")
        return 0
    finally:
        await store.close()


class _Server(uvicorn.Server):
    """uvicorn's server, which logs that the bridge is ready once its socket is bound: a port
    in use fails after the application's start-up, which must not have said "ready" then."""

    def __init__(self, config: uvicorn.Config, label: str) -> None:
        super().__init__(config)
        self.label = label

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if not self.started:
            return
        bound = [sock.getsockname() for s in self.servers for sock in (s.sockets or ())]
        host, port = bound[0][:2] if bound else (self.config.host, self.config.port)
        log.info("bridge ready (%s): listening on %s:%s", self.label, host, port)
