"""Delivery fixtures: a real SQLite store on a manual clock, a recording action, a runtime."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bridge.actions.base import Action, ActionOptions, Call, Resources, Success
from bridge.config import ActionConfig, Config, DeliverySettings, KontentConfig
from bridge.delivery.clock import ManualClock
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store
from bridge.delivery.workers import WorkerPool

# What a RecordingAction does on a call: return a Success, raise, or wait for a test's signal.
Behaviour = Callable[[Call[Any]], Awaitable[Success]]


class RecordingOptions(ActionOptions):
    text: str | None = None
    message: str | None = None
    tag: str | None = None


class RecordingAction(Action[RecordingOptions]):
    """Records every call; answers with the next scripted behaviour, then succeeds."""

    Options = RecordingOptions

    def __init__(self, name: str, resources: Resources) -> None:
        super().__init__(name, resources)
        self.calls: list[tuple[float, Call[RecordingOptions]]] = []
        self.script: list[Behaviour | BaseException] = []
        self.clock: ManualClock | None = None
        self._changed = asyncio.Condition()

    async def send(self, call: Call[RecordingOptions]) -> Success:
        self.calls.append((self.clock.now() if self.clock else 0.0, call))
        async with self._changed:
            self._changed.notify_all()
        step = self.script.pop(0) if self.script else None
        if isinstance(step, BaseException):
            raise step
        if step is not None:
            return await step(call)
        return Success(status=200, response="ok")

    async def wait_calls(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: len(self.calls) >= count)

    def times(self) -> list[float]:
        return [at for at, _ in self.calls]


@dataclass
class FakeRuntime:
    """The two things workers read from the app's runtime: the config and action instances."""

    store: Store
    config: Config
    instances: dict[str, RecordingAction] = field(default_factory=dict)

    def resolve(self, action_name: str) -> Action[Any]:
        return self.instances[action_name]


def make_config(
    actions: Mapping[str, DeliverySettings],
    *,
    alerts: Sequence[str] = (),
    options: Mapping[str, Mapping[str, Any]] | None = None,
) -> Config:
    return Config(
        source=Path("rules.yaml"),
        webhooks=(),
        kontent=KontentConfig(),
        defaults=DeliverySettings(),
        actions={
            name: ActionConfig(
                name, "recording", RecordingAction, dict((options or {}).get(name, {})), settings
            )
            for name, settings in actions.items()
        },
        rules=(),
        alerts=tuple(alerts),
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make_store(
    tmp_path: Path, clock: ManualClock
) -> AsyncIterator[Callable[..., Awaitable[Store]]]:
    opened: list[Store] = []

    async def make(name: str = "bridge.db", retention_s: float = 3 * 86400) -> Store:
        store = open_store(f"sqlite:///{tmp_path / name}", clock, retention_s=retention_s)
        assert isinstance(store, Store)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()


@pytest.fixture
async def store(make_store: Callable[..., Awaitable[Store]]) -> Store:
    return await make_store()


@pytest.fixture
async def make_pool(
    store: Store, clock: ManualClock
) -> AsyncIterator[Callable[..., tuple[WorkerPool, FakeRuntime]]]:
    pools: list[WorkerPool] = []

    def make(
        actions: Mapping[str, DeliverySettings],
        *,
        alerts: Sequence[str] = (),
        options: Mapping[str, Mapping[str, Any]] | None = None,
        worker_id: str = "w1",
    ) -> tuple[WorkerPool, FakeRuntime]:
        config = make_config(actions, alerts=alerts, options=options)
        runtime = FakeRuntime(store, config)
        for name in config.actions:
            action = RecordingAction(name, Resources(http=None))  # type: ignore[arg-type]
            action.clock = clock
            runtime.instances[name] = action
        pool = WorkerPool(runtime, worker_id=worker_id, poll_s=0.05, grace_s=1.0)
        pools.append(pool)
        return pool, runtime

    yield make
    for pool in pools:
        await pool.stop(grace_s=0)


async def run_due(pool: WorkerPool) -> None:
    """One dispatch round, then wait for every call it started to be recorded."""
    await pool.dispatch_once()
    await pool.drain()
