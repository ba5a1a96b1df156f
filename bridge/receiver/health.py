"""`/healthz` (the process answers) and `/readyz` (it can accept notifications right now)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse

if TYPE_CHECKING:
    from bridge.delivery.store import Store
    from bridge.runtime import Runtime

STORE_PING_TIMEOUT_S = 2.0


async def healthz(request: Request) -> JSONResponse:
    """Liveness: answering at all is the whole check, so an orchestrator restarts a hung process."""
    return JSONResponse({"status": "ok"})


# A write probe commits (an fsync on SQLite): probes more frequent than this reuse its answer.
WRITE_PROBE_INTERVAL_S = 5.0


def readyz(runtime: Runtime) -> Callable[[Request], Awaitable[JSONResponse]]:
    """Readiness: a configuration is loaded and the store both answers and accepts writes (a
    store that can be read but not written would answer every notification 503); 503 lists
    what is missing."""
    write_probe = WriteProbe()

    async def endpoint(request: Request) -> JSONResponse:
        reasons: list[str] = []
        if not runtime.loaded:
            reasons.append("configuration not loaded")
        if runtime.store is None:
            reasons.append("store not open")
        else:
            try:
                await asyncio.wait_for(_probe(runtime.store), STORE_PING_TIMEOUT_S)
            except Exception as exc:  # any failure means "not ready", with its reason
                reasons.append(f"store unreachable: {_reason(exc)}")
            else:
                refused = await write_probe.refusal(runtime.store)
                if refused is not None:
                    reasons.append(f"store refuses writes: {refused}")
        if reasons:
            return JSONResponse({"status": "unavailable", "reasons": reasons}, status_code=503)
        return JSONResponse({"status": "ready"})

    return endpoint


class WriteProbe:
    """The outcome of the latest write probe, reused for WRITE_PROBE_INTERVAL_S after a success
    (a failure is probed again at once, so readiness comes back as soon as writes do)."""

    def __init__(self) -> None:
        self._ok_until = 0.0

    async def refusal(self, store: Store) -> str | None:
        now = time.monotonic()
        if now < self._ok_until:
            return None
        try:
            await asyncio.wait_for(store.probe_write(), STORE_PING_TIMEOUT_S)
        except Exception as exc:  # any failure means "not ready", with its reason
            return _reason(exc)
        self._ok_until = now + WRITE_PROBE_INTERVAL_S
        return None


async def _probe(store: Store) -> None:
    """The cheapest read every store has (one row, whatever the number of jobs); it fails when
    the database cannot be reached."""
    await store.probe_read()


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return f"no answer within {STORE_PING_TIMEOUT_S:g} s"
    return str(exc) or type(exc).__name__
