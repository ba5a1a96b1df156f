"""How `bridge serve` and `bridge worker` run uvicorn: descriptor limit, connection bound,
request deadlines and a throttled log, so that stalled clients cannot lock real ones out."""

from __future__ import annotations

import logging
import resource
from typing import TYPE_CHECKING

import uvicorn

from bridge import logthrottle
from bridge.receiver.protocol import ConnectionLimits, guarded_protocol

if TYPE_CHECKING:
    from starlette.types import ASGIApp

    from bridge.settings import Settings

log = logging.getLogger("bridge.receiver")

MAX_AUTO_CONNECTIONS = 4096
MIN_SPARE_FDS = 64  # the store, log files, action clients' sockets, the listening socket
# A hard limit of "unlimited" would make the soft limit a very large descriptor table.
FD_CEILING = 1 << 20


def raise_fd_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit (the default soft limit is often 1,024)
    and return the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = FD_CEILING if hard == resource.RLIM_INFINITY else hard
    if soft == resource.RLIM_INFINITY or soft >= target:
        return FD_CEILING if soft == resource.RLIM_INFINITY else soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError) as exc:
        log.warning("could not raise the open file limit from %d to %d: %s", soft, target, exc)
        return soft
    return target


def connection_bound(configured: int | None, fd_limit: int) -> int:
    """BRIDGE_MAX_CONNECTIONS, or one derived from the descriptor limit; either way below it,
    with room for everything else the process opens."""
    spare = max(MIN_SPARE_FDS, fd_limit // 4)
    ceiling = max(1, fd_limit - spare)
    if configured is None:
        return min(MAX_AUTO_CONNECTIONS, ceiling)
    if configured > ceiling:
        log.warning(
            "BRIDGE_MAX_CONNECTIONS=%d leaves too few of the %d file descriptors for the rest "
            "of the process; using %d",
            configured,
            fd_limit,
            ceiling,
        )
        return ceiling
    return configured


def limits_for(settings: Settings) -> ConnectionLimits:
    fd_limit = raise_fd_limit()
    return ConnectionLimits(
        header_timeout_s=settings.header_timeout_s,
        body_timeout_s=settings.body_timeout_s,
        max_connections=connection_bound(settings.max_connections, fd_limit),
    )


def uvicorn_config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    limits = limits_for(settings)
    logthrottle.install()
    log.info(
        "connections: at most %d open; headers within %gs, bodies within %gs",
        limits.max_connections,
        limits.header_timeout_s,
        limits.body_timeout_s,
    )
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(limits),
        log_config=None,
        access_log=False,
        lifespan="on",
        server_header=False,
    )
