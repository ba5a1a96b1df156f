"""Source fixtures: the store fixtures of tests/stores (SQLite and PostgreSQL alike), a local
Sync API, and `make_poller` (a poller on a runtime of its own)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import pytest

from bridge.config import Config, parse_config
from bridge.delivery.clock import ManualClock
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store
from bridge.runtime import Runtime
from bridge.settings import Settings
from bridge.sources import SyncPoller
from tests.fakes.sync import FakeSync
from tests.sources.polling import MakePoller, QuickClock, SignallingClock, rules
from tests.stores.conftest import (  # noqa: F401  (fixtures, found by name)
    fresh_postgres,
    make_store,
    postgres_template,
    store,
    store_kind,
    store_url,
)


@pytest.fixture
def clock() -> SignallingClock:
    """The stores' clock for make_store (tests/stores/conftest.py), and the poller's here."""
    return SignallingClock()


@pytest.fixture
async def sync_api() -> AsyncIterator[FakeSync]:
    async with FakeSync() as fake:
        yield fake


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'bridge.db'}"


@pytest.fixture
def store_clock() -> ManualClock:
    """The stores' time (lease expiry), moved by the tests."""
    return ManualClock(start=time.time())


@pytest.fixture
async def make_poller(
    sync_api: FakeSync, db_url: str, store_clock: ManualClock
) -> AsyncIterator[MakePoller]:
    """`await make_poller()`: a poller on a runtime of its own with the store opened anew, as
    after a restart or on another replica (`store=` shares one)."""
    async with AsyncExitStack() as stack:

        async def make(
            *, store: Store | None = None, config: Config | None = None, **options: Any
        ) -> SyncPoller:
            if store is None:
                store = open_store(db_url, store_clock)
                await store.open()
                stack.push_async_callback(store.close)
            runtime = Runtime(Settings())
            await runtime.start(
                config or parse_config(rules(sync_api.base_url("published")), env={}), store
            )
            stack.push_async_callback(runtime.aclose)
            options.setdefault("min_request_interval_s", 0.0)
            return SyncPoller(runtime, "prod", options.pop("clock", QuickClock()), **options)

        yield make
