"""`GET /metrics` as a Starlette endpoint: the HTTP side of bridge.metrics.

Kept out of bridge.metrics so that the workers, which report to it, never import Starlette
(an import-linter contract in pyproject.toml checks it).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol

from prometheus_client import CONTENT_TYPE_LATEST
from starlette.requests import Request
from starlette.responses import Response

from bridge import metrics

log = logging.getLogger("bridge.metrics")


class StoreWithStates(Protocol):
    async def action_states(self) -> Sequence[Any]: ...


async def metrics_response(store: StoreWithStates | None) -> Response:
    """The body of `GET /metrics`: queue gauges refreshed from the store, then the exposition."""
    current = metrics.current()
    if store is not None:
        try:
            current.refresh_queues(await store.action_states())
        except Exception:  # a scrape must not fail because the store hiccuped
            log.warning("metrics: could not read action states", exc_info=True)
    return Response(current.exposition(), media_type=CONTENT_TYPE_LATEST)


def metrics_endpoint(
    store: StoreWithStates | Callable[[], StoreWithStates | None] | None,
) -> Callable[[Request], Awaitable[Response]]:
    """A Starlette endpoint: `Route("/metrics", metrics_endpoint(store))`.

    `store` may be a callable returning the store, for apps whose lifespan opens it later.
    """

    async def endpoint(request: Request) -> Response:
        target = store
        if target is not None and not hasattr(type(target), "action_states") and callable(target):
            target = target()
        return await metrics_response(target)  # type: ignore[arg-type]

    return endpoint
