"""`/healthz` (the process answers) and `/readyz` (it can accept notifications right now)."""

from __future__ import annotations

import asyncio
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


def readyz(runtime: Runtime) -> Callable[[Request], Awaitable[JSONResponse]]:
    """Readiness: a configuration is loaded and the store answers; 503 lists what is missing."""

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
                reasons.append(f"store unreachable: {str(exc) or type(exc).__name__}")
        if reasons:
            return JSONResponse({"status": "unavailable", "reasons": reasons}, status_code=503)
        return JSONResponse({"status": "ready"})

    return endpoint


async def _probe(store: Store) -> None:
    """The cheapest read every store has; it fails when the database cannot be reached."""
    await store.action_states()
