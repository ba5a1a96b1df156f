"""An alert quotes the failure's reason, which holds what a target answered and what an item is
named: the worker renders alert inputs as templates, so that text must render as written."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bridge.actions.base import PermanentFailure
from bridge.config import DeliverySettings
from bridge.delivery.store import Store
from bridge.delivery.workers import WorkerPool
from tests.delivery.conftest import FakeRuntime, run_due
from tests.stores.values import accept

MakePool = Callable[..., tuple[WorkerPool, FakeRuntime]]


@pytest.mark.parametrize(
    "reason",
    [
        "hook answered 400: unexpected '{% endif %}'",  # the alert itself died: syntax error
        "hook answered 400: {{ 7*7 }}",  # printed 49
        "option 'to[0]' is not one email address ('{{ notification }}')",  # printed the raw
        "{#",
    ],
)
async def test_an_alert_prints_the_reason_as_written(
    store: Store, make_pool: MakePool, reason: str
) -> None:
    pool, runtime = make_pool(
        {"a": DeliverySettings(), "notify": DeliverySettings()}, alerts=["notify"]
    )
    runtime.instances["a"].script = [PermanentFailure(reason)]
    await accept(store, [1])
    await run_due(pool)
    await run_due(pool)  # the alert job
    [(_, call)] = runtime.instances["notify"].calls
    assert reason in (call.options.text or "")
    assert [r.state for r in await store.deliveries(action="notify")] == ["succeeded"]
