"""Job ids in admin URLs as operators copy them: `42`, or the delivery id `kb-42` that logs, alerts
and the dashboard name a call by, over a real SQLite store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bridge.delivery.clock import SystemClock
from bridge.delivery.model import ClaimPolicy, Outcome
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store
from tests.admin.hostile import ACTION, RULE, TOKEN, hostile_app
from tests.stores.values import notification, planned

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
async def dead_job(tmp_path: Path) -> AsyncIterator[tuple[Store, int, str]]:
    """A real store holding one dead job: (store, its job id, the delivery id its call had)."""
    store = open_store(f"sqlite:///{tmp_path}/bridge.db", SystemClock())
    async with store:
        notes = [notification(n) for n in (1, 2, 3)]
        await store.accept(notes, [planned(n, ACTION, rule=RULE) for n in notes], request_id="r")
        claim = await store.claim(
            ACTION, ClaimPolicy(ordering="none", concurrency=3), worker_id="w"
        )
        batch = claim.batches[-1]
        now = store.clock.now()
        await store.record(batch, Outcome("dead", now, now, status=404, error="channel_not_found"))
        yield store, batch.jobs[0].id, batch.delivery_id


@pytest.mark.parametrize("spelling", ["{id}", "{delivery}", "KB-{id}", "Kb-{id}"])
async def test_a_job_is_found_and_retried_by_its_delivery_id(
    dead_job: tuple[Store, int, str], spelling: str
) -> None:
    store, job_id, delivery = dead_job
    assert delivery == f"kb-{job_id}"  # what the log line and the job page say
    typed = spelling.format(id=job_id, delivery=delivery)
    transport = httpx.ASGITransport(app=hostile_app(store))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://b", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as api:
        shown = await api.get(f"/admin/api/jobs/{typed}")
        assert shown.status_code == 200, shown.text
        assert shown.json()["job_id"] == job_id
        assert shown.json()["attempt_log"][0]["delivery_id"] == delivery
        retried = await api.post(f"/admin/api/jobs/{typed}/retry")
    assert retried.json() == {"job_id": job_id, "retried": True}
    detail = await store.job(job_id)
    assert detail is not None and detail.state == "retrying"


NOT_DELIVERY_IDS = ["kb-", "kb-kb-3", "kb--3", "kb-0", "kb-³", "kb- 3", "kb3", "k-3", "kb-1e3"]


@pytest.mark.parametrize("typed", NOT_DELIVERY_IDS)
async def test_what_is_no_delivery_id_is_no_job(
    dead_job: tuple[Store, int, str], typed: str
) -> None:
    store, _job_id, _delivery = dead_job
    transport = httpx.ASGITransport(app=hostile_app(store))
    async with httpx.AsyncClient(
        transport=transport, base_url="http://b", headers={"Authorization": f"Bearer {TOKEN}"}
    ) as api:
        assert (await api.get(f"/admin/api/jobs/{typed}")).status_code == 404
        assert (await api.post(f"/admin/api/jobs/{typed}/retry")).status_code == 404
