"""The store's read views: what the CLI, the admin API and the dashboard show, and what a
replay and a polled source read back. Read-only, on the reader connection; rows become the
values of model.py (rows.py). `Store` (store.py) has them as methods; the writes are there.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

from bridge.delivery import rows
from bridge.delivery.clock import Clock
from bridge.delivery.connectors import Connector, Tx
from bridge.delivery.model import (
    ActionState,
    DeliveryRow,
    JobDetail,
    LogFilter,
    NotificationRow,
    ObjectVersion,
    RuleStats,
    SeriesBucket,
    StoredNotification,
)

# A page of stored notifications (the dashboard's, the admin API's, up to 500 rows) holds
# payloads up to this many characters: a signed body may be 5 MiB, and 500 of them made one
# page 2.5 GB.
PAGE_RAW_CHARS = 64_000


class StoreViews:
    """Read views over `connector` (mixed into Store, which sets the three attributes)."""

    connector: Connector
    clock: Clock
    retention_s: float

    async def action_states(self, known: Sequence[str] = ()) -> list[ActionState]:
        now = self.clock.now()

        async def op(tx: Tx) -> list[ActionState]:
            counts = {row["action"]: row for row in await tx.fetch("action_counts")}
            actions = {row["name"]: row for row in await tx.fetch("actions")}
            names = sorted(set(counts) | set(actions) | set(known))
            return [rows.action_state(n, actions.get(n), counts.get(n), now) for n in names]

        return await self.connector.read(op)

    async def deliveries(
        self,
        *,
        action: str | None = None,
        filter: LogFilter = "all",
        limit: int = 50,
        offset: int = 0,
    ) -> list[DeliveryRow]:
        since = self.clock.now() - self.retention_s
        values: dict[str, Any] = {"action": action, "filter": filter, "limit": limit}
        values |= {"offset": offset, "since": since}
        query = "deliveries" if filter == "all" else "failed_deliveries"
        found = await self.connector.read(lambda tx: tx.fetch(query, **values))
        return [rows.delivery_row(row) for row in found]

    async def job(self, job_id: int) -> JobDetail | None:
        async def op(tx: Tx) -> JobDetail | None:
            row = await tx.fetch_one("job", id=job_id)
            if row is None:
                return None
            key = row["notification_key"]
            raw = await tx.fetch_value("job_notification_raw", key=key) if key else None
            return rows.job_detail(row, raw, await tx.fetch("job_attempts", id=job_id))

        return await self.connector.read(op)

    async def notifications(self, *, limit: int = 50, offset: int = 0) -> list[NotificationRow]:
        """Newest first; a payload over PAGE_RAW_CHARS is left out (`notification` has it)."""
        found = await self.connector.read(
            lambda tx: tx.fetch(
                "notifications", limit=limit, offset=offset, raw_chars=PAGE_RAW_CHARS
            )
        )
        return [rows.notification_row(row) for row in found]

    async def notification(self, key: str) -> NotificationRow | None:
        """One stored notification, its payload whole."""
        row = await self.connector.read(lambda tx: tx.fetch_one("notification", key=key))
        return None if row is None else rows.notification_row(row)

    async def stored_notifications(
        self, *, since: float, after_seq: int = 0, limit: int = 500
    ) -> list[StoredNotification]:
        values = {"since": since, "after_seq": after_seq, "limit": limit}
        found = await self.connector.read(lambda tx: tx.fetch("stored_notifications", **values))
        return [rows.stored_notification(row) for row in found]

    async def count_notifications(self, *, since: float) -> int:
        count = await self.connector.read(
            lambda tx: tx.fetch_value("count_notifications", since=since)
        )
        return int(count)

    async def rule_stats(self) -> dict[str, RuleStats]:
        """Per rule, the notifications it matched within the retention (counted per hour as
        they are accepted: a replay's jobs add none) and the time of the last."""
        since_hour = int((self.clock.now() - self.retention_s) // 3600)
        found = await self.connector.read(lambda tx: tx.fetch("rule_stats", since_hour=since_hour))
        return {
            row["rule"]: RuleStats(int(row["matched"]), row["last_matched_at"]) for row in found
        }

    async def batch_jobs(self, batch_id: str, *, limit: int = 50) -> tuple[int, list[DeliveryRow]]:
        """How many jobs went out in the call `batch_id` (a row's delivery_id), and the first
        `limit` of them, oldest first."""

        async def op(tx: Tx) -> tuple[int, list[DeliveryRow]]:
            size = await tx.fetch_value("batch_size", batch_id=batch_id)
            found = await tx.fetch("batch_jobs", batch_id=batch_id, limit=limit)
            return int(size or 0), [rows.delivery_row(row) for row in found]

        return await self.connector.read(op)

    async def rule_matches(self, rule: str, *, limit: int = 50) -> list[DeliveryRow]:
        found = await self.connector.read(
            lambda tx: tx.fetch("rule_matches", rule=rule, limit=limit)
        )
        return [rows.delivery_row(row) for row in found]

    async def search_deliveries(
        self, search: Any, *, limit: int = 50, offset: int = 0
    ) -> list[DeliveryRow]:
        """The delivery log narrowed by `search` in SQL: any object with the optional fields of
        bridge.admin.search.DeliverySearch (action, filter, q, codename, name, item_id,
        request_id, rule, state, since, until; None: not asked), newest first."""
        values: dict[str, Any] = {
            key: getattr(search, key, None)
            for key in ("action", "q", "codename", "item_id", "request_id", "rule")
        }
        values["item_name"] = getattr(search, "name", None)  # `name` names the query
        values |= {key: getattr(search, key, None) for key in ("state", "since", "until")}
        values |= {"filter": getattr(search, "filter", None) or "all", "limit": limit}
        values |= {"offset": offset, "retained": self.clock.now() - self.retention_s}
        # The failures filters read the jobs that ever failed alone (a partial index): the
        # general query walks every job newest first, and failures may be rare.
        query = "search_deliveries" if values["filter"] == "all" else "search_failed_deliveries"
        found = await self.connector.read(lambda tx: tx.fetch(query, **values))
        return [rows.delivery_row(row) for row in found]

    async def delivery_series(
        self, *, since: float, until: float, bucket_s: float
    ) -> dict[str, list[SeriesBucket]]:
        """Per action with any activity, one bucket per `bucket_s` from `since` to `until`:
        jobs delivered in it, failed attempts started in it, and jobs waiting at its end (or
        now, for the current bucket; a bucket that starts later counts nothing)."""
        count = max(1, int((until - since) // bucket_s))
        window = {"since": since, "until": until, "bucket_s": bucket_s}
        now = self.clock.now()

        async def op(tx: Tx) -> tuple[list[Any], list[Any], list[Any]]:
            changes = {"since": since, "bucket_s": bucket_s, "now": now}
            return (
                await tx.fetch("series_delivered", **window),
                await tx.fetch("series_failed", **window),
                await tx.fetch("series_queue_changes", **changes),
            )

        delivered, failed, queue_changes = await self.connector.read(op)
        counts: dict[str, list[dict[str, int]]] = {}

        def put(action: str, index: int, kind: str, n: int) -> None:
            if 0 <= index < count and n:
                buckets = counts.setdefault(action, [{} for _ in range(count)])
                buckets[index][kind] = n

        for kind, found in (("delivered", delivered), ("failed", failed)):
            for row in found:
                put(row["action"], int(row["bucket"]), kind, int(row["n"]))
        for action, waiting in _queue_depths(queue_changes, count).items():
            for index, n in enumerate(waiting):
                if since + index * bucket_s <= now:
                    put(action, index, "queued", n)
        return {
            action: [SeriesBucket(since + i * bucket_s, **b) for i, b in enumerate(buckets)]
            for action, buckets in sorted(counts.items())
        }

    async def object_versions(
        self, object_id: str, language: str | None, slot: str | None
    ) -> list[ObjectVersion]:
        """Each webhook's latest notification about this object (id, language, slot) within
        retention: a polled source skips the deltas a webhook already delivered."""
        values = {"object_id": object_id, "language": language or "", "slot": slot or ""}
        found = await self.connector.read(lambda tx: tx.fetch("object_versions", **values))
        return [ObjectVersion(r["webhook"], r["last_modified"], r["received_at"]) for r in found]


def _queue_depths(changes: list[Any], count: int) -> dict[str, list[int]]:
    """Jobs waiting at each bucket's end, per action, from `series_queue_changes` rows: those
    waiting at the start (bucket -1), plus those created, less those finished, up to the end."""
    net: dict[str, list[int]] = {}  # per action: position 0 the start, then each bucket
    for row in changes:
        index = int(row["bucket"]) + 1
        if 0 <= index <= count:
            deltas = net.setdefault(row["action"], [0] * (count + 1))
            deltas[index] += int(row["joined"]) - int(row["left"])
    return {action: list(itertools.accumulate(deltas))[1:] for action, deltas in net.items()}
