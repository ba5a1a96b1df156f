"""No SQLite named query joins by scanning one table or array once per row of another.

SQLite's `json_each` has no index: joined straight to another array it is scanned once per row
of the other, so `insert_jobs` (seven arrays) took 17 s for 50 jobs and `record_attempts` (two)
seconds for a debounced batch of 10,000, each holding the write lock. Materialized, an array
gets an automatic index. This reads every query's plan, so a new query with the same shape
fails here instead of under load.
"""

from __future__ import annotations

import re
import sqlite3
from collections import defaultdict

import pytest

from bridge.delivery import queries
from bridge.delivery.connectors.sqlite import VERSION_TABLE, _statements

PARAMETER = re.compile(r"(?<!:):(\w+)")
# Scans inside a loop that are bounded by a small constant, with why.
BOUNDED: dict[str, list[str]] = {}


def plans() -> list[tuple[str, str, list[tuple[int, int, str]]]]:
    conn = sqlite3.connect(":memory:")
    conn.executescript(queries.schema("sqlite"))
    conn.execute(VERSION_TABLE)
    found = []
    for name, sql in queries.queries("sqlite").items():
        for statement in _statements(sql + ";"):
            params = {p: None for p in PARAMETER.findall(statement)}
            rows = conn.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
            found.append((name, statement, [(r[0], r[1], r[3]) for r in rows]))
    return found


def nested_scans(plan: list[tuple[int, int, str]]) -> list[str]:
    """Loops of one query level after the first that scan instead of searching: each of
    them runs once per row of the loops before it."""
    levels: dict[int, list[str]] = defaultdict(list)
    for _, parent, detail in plan:
        if detail.startswith(("SCAN", "SEARCH")):
            levels[parent].append(detail)
    return [
        detail
        for loops in levels.values()
        for detail in loops[1:]
        if detail.startswith("SCAN") and "CONSTANT ROW" not in detail
    ]


@pytest.mark.parametrize(("name", "statement", "plan"), plans(), ids=lambda v: str(v)[:40])
def test_no_join_scans_a_table_or_an_array_once_per_row(
    name: str, statement: str, plan: list[tuple[int, int, str]]
) -> None:
    assert nested_scans(plan) == BOUNDED.get(name, []), f"{name}: {plan}"


def test_the_check_sees_a_straight_json_each_join() -> None:
    conn = sqlite3.connect(":memory:")
    straight = "SELECT a.value FROM json_each(:a) AS a JOIN json_each(:b) AS b ON b.key = a.key"
    plan = [
        (r[0], r[1], r[3])
        for r in conn.execute(f"EXPLAIN QUERY PLAN {straight}", {"a": None, "b": None})
    ]
    assert nested_scans(plan), plan


# What /readyz, /metrics, the overview and the activity chart read: none of them may read every
# job's or attempt's row (at a million jobs the overview's counts took 1.8 s, past the
# readiness probe's 2 s with any load, and the chart 7-10 s). Two index-only passes are allowed:
# over the queue index for the counts by state (about 0.1 s a million jobs), and over the
# partial index of the jobs that ever failed (only those are in it: the failures filters of the
# delivery log read it newest first).
ALLOWED_PASSES = ("COVERING INDEX jobs_queue", "INDEX jobs_failed")
VIEWS = [
    "probe_read",
    "action_counts",
    "failed_deliveries",
    "search_failed_deliveries",
    "rule_stats",
    "series_delivered",
    "series_failed",
    "series_queue_changes",
]


def full_reads(plan: list[tuple[int, int, str]]) -> list[str]:
    """Plan steps that visit every row of jobs or attempts."""
    return [
        detail
        for _, _, detail in plan
        if re.match(r"SCAN (jobs|attempts)\b", detail)
        and not any(allowed in detail for allowed in ALLOWED_PASSES)
    ]


@pytest.mark.parametrize("name", VIEWS)
def test_operator_views_and_probes_never_read_every_job(name: str) -> None:
    found = [(n, plan) for n, _, plan in plans() if n == name]
    assert found, f"no query named {name}"
    for _, plan in found:
        assert full_reads(plan) == [], f"{name}: {plan}"


def test_the_view_check_sees_a_pass_over_every_job() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(queries.schema("sqlite"))
    sql = "SELECT action, sum(failures), max(last_attempt_at) FROM jobs GROUP BY action"
    plan = [(r[0], r[1], r[3]) for r in conn.execute(f"EXPLAIN QUERY PLAN {sql}")]
    assert full_reads(plan), plan
