"""What the operator views and probes cost as jobs pile up: each store view at two sizes.

    .venv/bin/python bench/views.py [--sizes 100000,1000000] [--store sqlite|postgres]

For each size, a fresh store (migrations applied by `open_store`) gets that many jobs spread
over the 3-day retention, as a busy site keeps them: 95% succeeded, 3% retrying, 1% dead, 1%
pending, 5 actions, 20 rules, two jobs per notification. Then each view an operator or a probe
reads is timed (median of 3): /readyz's read, the overview's counts (also /metrics and
`bridge status`), the rules page, the delivery log and its filters, the activity chart at 1 h
and 24 h, a search. The baseline, in the same run on the same data, is one pass over every
job's row (`SELECT count(*), sum(failures), max(last_attempt_at) FROM jobs`): what the views
cost before they were kept off it. Printed per view: milliseconds at each size, the growth
from the smallest size to the largest, and the share of the baseline at the largest.

What it shows: /readyz, the rules page and the delivery log stay flat; the overview's counts
grow with the jobs (an index-only count by state, about one minimal pass: before it was ten);
the activity chart grows with the jobs of its window, not with every job kept; a free-text
search still reads every job's summary.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bridge.delivery.opening import open_store
from bridge.delivery.store import Store

RETENTION_S = 3 * 86400
BASELINE = "SELECT count(*), sum(failures), max(last_attempt_at) FROM jobs"
# One generator for both dialects: SQLite and PostgreSQL both read this.
JOBS_SQL = """
INSERT INTO jobs (action, rule, notification_key, event, inputs, inputs_hash, request_id,
                  summary, state, created_at, due_at, attempts, failures, last_attempt_at,
                  last_status, last_response, finished_at)
SELECT 'action-' || (i % 5), 'rule-' || (i % 20), 'key-' || (i / 2),
       '{"object_type":"content_item","action":"published"}', '{}', 'h', 'request',
       'content_item published article ''Item ' || i || '''', state, created, created, 1,
       CASE WHEN state = 'succeeded' THEN 0 ELSE 1 END, created + 1, 200, 'ok',
       CASE WHEN state IN ('succeeded', 'dead') THEN created + 1 END
FROM (SELECT i, :now - (i * 7919 % :n) * :spread AS created,
             CASE WHEN i % 100 < 95 THEN 'succeeded' WHEN i % 100 < 98 THEN 'retrying'
                  WHEN i % 100 < 99 THEN 'dead' ELSE 'pending' END AS state
      FROM numbers) AS x
"""


@dataclass(frozen=True)
class View:
    name: str
    run: Callable[[Store, float], Awaitable[Any]]


class Ask:  # a delivery-log search by free text (bridge.admin.search.DeliverySearch's fields)
    q = "item 4242"


VIEWS = [
    View("/readyz read (probe_read)", lambda s, now: s.probe_read()),
    View("overview counts (action_states)", lambda s, now: s.action_states()),
    View("rules page (rule_stats)", lambda s, now: s.rule_stats()),
    View("delivery log, all", lambda s, now: s.deliveries()),
    View("delivery log, failures", lambda s, now: s.deliveries(filter="failures")),
    View("rule's matches", lambda s, now: s.rule_matches("rule-3")),
    View(
        "activity chart, 1 h",
        lambda s, now: s.delivery_series(since=now - 3600, until=now, bucket_s=300),
    ),
    View(
        "activity chart, 24 h",
        lambda s, now: s.delivery_series(since=now - 86400, until=now, bucket_s=3600),
    ),
    View("search by text (q)", lambda s, now: s.search_deliveries(Ask())),
]


def sqlite_fill(path: Path, jobs: int, now: float) -> float:
    """Fill the SQLite file; the baseline's time."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TEMP TABLE numbers (i INTEGER PRIMARY KEY)")
    conn.execute(
        "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
        "INSERT INTO numbers SELECT i FROM c",
        (jobs,),
    )
    conn.execute(JOBS_SQL, {"now": now, "n": jobs, "spread": RETENTION_S / jobs})
    conn.execute(
        "INSERT OR IGNORE INTO actions (name, last_success_at) "
        "SELECT DISTINCT action, :now FROM jobs",
        {"now": now},
    )
    conn.commit()
    conn.execute("ANALYZE")
    times = []
    for _ in range(3):
        started = time.perf_counter()
        conn.execute(BASELINE).fetchall()
        times.append(time.perf_counter() - started)
    conn.close()
    return statistics.median(times)


async def postgres_fill(dsn: str, name: str, jobs: int, now: float) -> tuple[str, float]:
    import asyncpg

    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = dsn.rsplit("/", 1)[0] + f"/{name}"
    async with open_store(url):
        pass  # migrations
    conn = await asyncpg.connect(url)
    try:
        numbers = f"SELECT generate_series(1, {jobs})::bigint AS i"
        await conn.execute(f"CREATE TEMP TABLE numbers AS {numbers}")
        sql = JOBS_SQL.replace(":now", f"{now}::float8").replace(":n", str(jobs))
        await conn.execute(sql.replace(":spread", f"{RETENTION_S / jobs}::float8"))
        await conn.execute(
            "INSERT INTO actions (name, last_success_at) "
            "SELECT DISTINCT action, $1::float8 FROM jobs ON CONFLICT DO NOTHING",
            now,
        )
        await conn.execute("VACUUM ANALYZE jobs")
        times = []
        for _ in range(3):
            started = time.perf_counter()
            await conn.fetch(BASELINE)
            times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return url, statistics.median(times)


async def measure(url: str) -> dict[str, float]:
    store = open_store(url)
    async with store:
        now = store.clock.now()
        found = {}
        for view in VIEWS:
            times = []
            for _ in range(3):
                started = time.perf_counter()
                await view.run(store, now)
                times.append(time.perf_counter() - started)
            found[view.name] = statistics.median(times)
        return found


async def one_size(
    args: argparse.Namespace, work: Path, jobs: int
) -> tuple[dict[str, float], float]:
    now = time.time()
    if args.store == "sqlite":
        path = work / f"views-{jobs}.db"
        async with open_store(f"sqlite:///{path}"):
            pass  # migrations first, then the rows
        baseline = sqlite_fill(path, jobs, now)
        url = f"sqlite:///{path}"
    else:
        dsn = os.environ.get("BRIDGE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1/test")
        url, baseline = await postgres_fill(dsn, f"bench_views_{jobs}", jobs, now)
    return await measure(url), baseline


def main(args: argparse.Namespace) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    with tempfile.TemporaryDirectory(prefix="bench-views-") as tmp:
        for jobs in sizes:
            print(f"filling {jobs:,} jobs ({args.store})...", flush=True)
            results.append(asyncio.run(one_size(args, Path(tmp), jobs)))
    header = "".join(f"{f'{n:,} jobs':>14}" for n in sizes)
    print(f"\n{'view (median of 3, ms)':<34}{header}{'growth':>9}{'of a pass':>11}")
    first, last = results[0], results[-1]
    for view in VIEWS:
        cells = "".join(f"{found[view.name] * 1000:14.1f}" for found, _ in results)
        growth = last[0][view.name] / max(first[0][view.name], 1e-6)
        share = last[0][view.name] / last[1]
        print(f"{view.name:<34}{cells}{growth:8.1f}x{share:10.2f}x")
    cells = "".join(f"{baseline * 1000:14.1f}" for _, baseline in results)
    growth = last[1] / max(first[1], 1e-6)
    print(f"{'baseline: one pass over every job':<34}{cells}{growth:8.1f}x{1:10.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    main(parser.parse_args())
