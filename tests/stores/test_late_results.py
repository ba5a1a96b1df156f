"""A late result after a takeover: a worker whose lease expired (a frozen process, a paused VM)
finishes its call after another worker took the jobs over and delivered them. Its result must
not count anywhere: not on the jobs, not in their attempt log, not in the action's health or
failure episode, and it must raise no alert."""

from __future__ import annotations

from bridge.config import DeliverySettings
from bridge.delivery import alerts, retry
from bridge.delivery.clock import ManualClock
from bridge.delivery.model import ClaimPolicy
from bridge.delivery.store import Store
from tests.delivery.conftest import make_config
from tests.stores.values import accept

POLICY = ClaimPolicy(lease_s=10.0)


async def test_a_late_failure_after_a_takeover_does_not_count(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1])
    (late,) = (await store.claim("a", POLICY, worker_id="w1")).batches
    clock.advance(11)  # w1's lease ran out mid-call: w2 takes the job over and delivers it
    (taken,) = (await store.claim("a", POLICY, worker_id="w2")).batches
    now = clock.now()
    done = retry.succeeded(taken, started_at=now, finished_at=now, status=200, response="ok")
    await store.record(taken, done)

    clock.advance(1)
    now = clock.now()
    dead = retry.failed(
        late, DeliverySettings(), started_at=now, finished_at=now, error="boom", permanent=True
    )
    episode = await store.record(late, dead)
    config = make_config({"a": DeliverySettings(), "ops": DeliverySettings()}, alerts=["ops"])
    assert await alerts.after_attempt(store, config, late, dead, episode) is None

    detail = await store.job(late.job_ids[0])
    assert detail is not None
    assert detail.state == "succeeded"
    assert [(a.number, a.outcome, a.status) for a in detail.attempts] == [(1, "succeeded", 200)]
    states = {s.name: s for s in await store.action_states()}
    assert (states["a"].health, states["a"].failing_since) == ("working", None)
    assert "ops" not in states  # no alert job was enqueued


async def test_a_late_success_after_a_takeover_does_not_end_the_episode(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1])
    (late,) = (await store.claim("a", POLICY, worker_id="w1")).batches
    clock.advance(11)
    (taken,) = (await store.claim("a", POLICY, worker_id="w2")).batches
    now = clock.now()
    failed = retry.failed(taken, DeliverySettings(), started_at=now, finished_at=now, error="503")
    await store.record(taken, failed)

    done = retry.succeeded(late, started_at=now, finished_at=now + 1, status=200, response="ok")
    episode = await store.record(late, done)

    assert episode.failing_since == now  # still failing: the late success changed nothing
    detail = await store.job(late.job_ids[0])
    assert detail is not None
    assert detail.state == "retrying"
    assert [a.outcome for a in detail.attempts] == ["retrying"]
    (state,) = await store.action_states()
    assert (state.health, state.failing_since) == ("failing", now)
