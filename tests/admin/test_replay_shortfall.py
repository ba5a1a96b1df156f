"""A replay whose notifications a prune removed between its preview and its run says so.

The store creates no job for a notification that is no longer stored (pruning.py); the admin
API and the dashboard used to report the jobs planned as created. A real SQLite store."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import cast

from bridge.admin import replay
from bridge.admin.context import AdminContext
from bridge.delivery.clock import ManualClock
from bridge.delivery.opening import open_store
from bridge.delivery.replaying import shortfall
from tests.stores.values import notification, planned


async def test_jobs_of_pruned_notifications_are_not_counted_as_created(tmp_path: Path) -> None:
    clock = ManualClock(1_000_000.0)
    async with open_store(f"sqlite:///{tmp_path}/bridge.db", clock) as store:
        notes = [notification(n) for n in (1, 2, 3)]
        await store.accept(notes, [], request_id="seed")  # stored, no jobs: prunable
        plan = replay.ReplayPlan(
            replay.ReplayAsk(0.0, clock.now(), None, frozenset(), frozenset()),
            3,
            [planned(note, "a") for note in notes],
        )
        clock.advance(3600)
        assert await store.prune(before=clock.now()) == 3  # after the preview, before the run
        ctx = cast(AdminContext, SimpleNamespace(store=store))
        request_id, created = await replay.run_replay(ctx, plan)
        assert request_id.startswith("replay-") and created == 0
        assert await store.deliveries(limit=10) == []
    assert shortfall(3, 0) == (
        "3 not created: their notifications were pruned (retention) since being read"
    )
    assert shortfall(3, 3) == ""
