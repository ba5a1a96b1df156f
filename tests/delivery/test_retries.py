"""Retries on the schedule of seed 000, with a clock the test moves: 3 days in milliseconds."""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Callable
from typing import Any

import pytest

from bridge.actions.base import Call, PermanentFailure, Retry, Success
from bridge.config import DeliverySettings
from bridge.delivery.clock import ManualClock
from bridge.delivery.store import Store
from bridge.delivery.workers import WorkerPool
from tests.delivery.conftest import FakeRuntime, run_due
from tests.stores.values import accept

MakePool = Callable[..., tuple[WorkerPool, FakeRuntime]]
MINUTE = 60.0
DAY = 86400.0


async def test_failures_follow_the_schedule_then_hourly_until_three_days_then_dead(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    action = runtime.instances["a"]
    action.script = [RuntimeError("target down")] * 1000
    start = clock.now()
    await accept(store, [1])

    await run_due(pool)
    while (job := await store.job(1)) is not None and job.state == "retrying":
        assert job.next_attempt_at is not None
        clock.advance(job.next_attempt_at - clock.now() - 1)
        calls = len(action.calls)
        await run_due(pool)
        assert len(action.calls) == calls, "an attempt ran before it was due"
        clock.advance(1)
        await run_due(pool)
        assert len(action.calls) == calls + 1

    minutes = [round((at - start) / MINUTE) for at in action.times()]
    assert minutes[:9] == [0, 1, 3, 7, 15, 31, 63, 123, 183]
    assert all(b - a == 60 for a, b in itertools.pairwise(minutes[6:]))
    assert minutes[-1] * MINUTE <= 3 * DAY < (minutes[-1] + 60) * MINUTE
    assert job is not None and job.state == "dead"
    assert len(job.attempts) == job.row.attempts == len(action.calls)
    assert "target down" in (job.last_error or "")
    # The delivery id never changed: targets can drop repeats.
    assert {call.delivery_id for _, call in action.calls} == {"kb-1"}
    assert [call.attempt for _, call in action.calls][:3] == [1, 2, 3]


async def test_a_longer_retry_after_is_honoured_and_a_shorter_one_is_not(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    runtime.instances["a"].script = [
        Retry("429", delay_s=300, status=429),
        Retry("429", delay_s=5, status=429),
    ]
    await accept(store, [1])

    await run_due(pool)
    first = await store.job(1)
    clock.advance(300)
    await run_due(pool)
    second = await store.job(1)

    assert first is not None and first.next_attempt_at == first.last_attempt_at + 300
    assert first.last_status == 429
    assert second is not None and second.next_attempt_at == second.last_attempt_at + 120


async def test_a_permanent_failure_is_dead_at_once_and_kept(
    store: Store, make_pool: MakePool, caplog: pytest.LogCaptureFixture
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    failure = PermanentFailure("channel_not_found", status=404, response='{"ok":false}')
    runtime.instances["a"].script = [failure]
    await accept(store, [1])

    with caplog.at_level(logging.ERROR, logger="bridge.delivery.workers"):
        await run_due(pool)

    (line,) = [r for r in caplog.records if r.getMessage().startswith("delivery kb-1 is dead")]
    assert (getattr(line, "status", None), getattr(line, "response", None)) == (404, '{"ok":false}')

    job = await store.job(1)
    assert job is not None
    assert (job.state, job.row.attempts, job.last_status) == ("dead", 1, 404)
    assert job.last_error == "channel_not_found (permanent: not retried)"
    assert [r.job_id for r in await store.deliveries(filter="active_failures")] == [1]


async def test_an_attempt_that_times_out_is_a_failure(store: Store, make_pool: MakePool) -> None:
    pool, runtime = make_pool({"a": DeliverySettings(timeout_s=0.05)})

    async def hang(call: Call[Any]) -> Success:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    runtime.instances["a"].script = [hang]
    await accept(store, [1])

    await run_due(pool)

    job = await store.job(1)
    assert job is not None and job.state == "retrying"
    assert job.last_error == "timed out after 0.05s"


async def test_options_that_do_not_render_are_a_permanent_failure_with_the_reason(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool(
        {"a": DeliverySettings()}, options={"a": {"text": "{{ event.nope.deeper }}"}}
    )
    await accept(store, [1])

    await run_due(pool)

    job = await store.job(1)
    assert runtime.instances["a"].calls == []
    assert job is not None and job.state == "dead"
    assert "cannot render options" in (job.last_error or "")
    assert "text" in (job.last_error or "")


async def test_options_are_rendered_per_item_and_over_the_batch_and_inputs_override(
    store: Store, make_pool: MakePool
) -> None:
    pool, runtime = make_pool(
        {"a": DeliverySettings()},
        options={"a": {"text": "action default", "tag": "{{ event.name }}"}},
    )
    await accept(store, [5], inputs={"text": "Published {{ event.name }}"})

    await run_due(pool)

    ((_, call),) = runtime.instances["a"].calls
    assert call.options.text == "Published Item 5"
    assert call.options.tag == "Item 5"
    assert [item.options.text for item in call.items] == ["Published Item 5"]
    assert call.templates["text"] == "Published {{ event.name }}"
    assert call.request_id == "req-1"


async def test_reset_retries_the_oldest_failed_job_now_and_restarts_its_schedule(
    store: Store, clock: ManualClock, make_pool: MakePool
) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    action = runtime.instances["a"]
    action.script = [RuntimeError("down")] * 5
    await accept(store, [1, 2])
    await run_due(pool)
    for delay in (60, 120, 240):
        clock.advance(delay)
        await run_due(pool)
    assert (await store.job(1)).next_attempt_at == clock.now() + 480  # type: ignore[union-attr]

    assert await store.reset_action("a") is True
    await run_due(pool)  # due at once: fails again, and the schedule starts over at 1 minute
    job = await store.job(1)

    assert len(action.calls) == 5
    assert job is not None and job.next_attempt_at == clock.now() + 60
    assert await store.reset_action("nothing-failed") is False


async def test_retry_job_revives_a_dead_job(store: Store, make_pool: MakePool) -> None:
    pool, runtime = make_pool({"a": DeliverySettings()})
    runtime.instances["a"].script = [PermanentFailure("bad token")]
    await accept(store, [1])
    await run_due(pool)

    assert await store.retry_job(1) is True
    await run_due(pool)

    job = await store.job(1)
    assert job is not None and job.state == "succeeded" and job.row.attempts == 2
    assert [a.outcome for a in job.attempts] == ["dead", "succeeded"]
    assert {a.delivery_id for a in job.attempts} == {"kb-1"}
    assert await store.retry_job(1) is False  # nothing to retry
    assert await store.retry_job(999) is False
