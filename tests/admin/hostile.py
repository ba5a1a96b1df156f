"""Stored data that once broke admin views, written straight into a real SQLite store's rows.

Bypassing the receiver on purpose: rows accepted by older versions, written by hand or by a
target's odd answer must still be viewable. Each value here made some view answer 500 before
the admin rendered through bridge.admin.safejson: NaN and Infinity, lone surrogates, nesting
500 levels deep, `*_at` numbers no datetime can hold, a 4,200-digit integer, control bytes.
"""

from __future__ import annotations

import json
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import asyncpg
import pytest
from starlette.applications import Starlette

from bridge import admin
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store

DEPTH = 500
TOKEN = "hostile-admin-token-0123456789"
ACTION = "content-team"
RULE = "announce"
MAX_JOB_ID = 2**63 - 1
ODD_TEXT = "ok \x00\x07\x1b[31m red \x7f \ufffd \u202e reversed"


def deep(levels: int = DEPTH) -> str:
    """JSON text of `levels` nested lists around one object, 500 deep by default."""
    return "[" * levels + '{"deep_at": 1e300}' + "]" * levels


def raw_notification(n: int) -> str:
    """A stored notification body (JSON text, as the store keeps it) holding every oddity."""
    system = f'{{"id": "item-{n}", "name": "lone \\ud800 here", "codename": "\\udfff"}}'
    message = (
        '{"created_at": 1e300, "sent_at": -1e300, "nan": NaN, "inf": Infinity,'
        ' "ninf": -Infinity, "big": ' + "7" * 4200 + ', "modified_at": NaN,'
        ' "pair": "\\ud83d\\ude00"}'
    )
    item = '{"data": {"system": ' + system + '}, "message": ' + message + "}"
    return '{"notifications": [' + item + '], "deep": ' + deep() + "}"


def event_fields() -> str:
    """A stored job event: fields of the wrong types, a lone surrogate, deep nesting, NaN."""
    return (
        '{"object_type": "content_item", "action": "published", "name": "\\ud800",'
        ' "type": 5, "language": NaN, "codename": ' + deep() + ', "last_modified": Infinity}'
    )


def inputs() -> str:
    return '{"text": NaN, "token": "xoxb-stored-secret", "nested": ' + deep() + ', "s": "\\udc80"}'


NAN = float("nan")
INF = float("inf")
Rows = list[tuple[str, dict[str, Any]]]


def hostile_rows(dialect: str) -> Rows:
    """(table, columns) of every hostile row. PostgreSQL holds NaN in its float columns but no
    NUL in text and no 64-bit status; SQLite holds text in a REAL column but turns NaN into
    NULL (which NOT NULL refuses)."""
    pg = dialect == "postgres"
    odd = ODD_TEXT.replace("\x00", "") if pg else ODD_TEXT
    rows: Rows = []
    for n, received_at in enumerate((1e300, INF, NAN if pg else -1e300, 1_700_000_000.0)):
        note = {
            "key": f"hostile-{n}",
            "content_key": f"hostile-{n}",
            "webhook": "production",
            "format": "current",
            "received_at": received_at,
            "request_id": odd,
            "raw": raw_notification(n),
            "events": "[" + event_fields() + "]",
            "rules": ("5", '["announce", "\\ud800", 7, {"a": NaN}]', '"a string"', "[]")[n],
            "summary": odd,
        }
        rows.append(("notifications", note))
    for job_id, (created_at, last_attempt_at, due_at) in (
        (1, (1e300, INF, -1e300)),
        (2, (-INF, NAN if pg else 1e300, 1_700_000_000.0)),
        (MAX_JOB_ID, (1_700_000_000.0, 1_700_000_100.0, 1_700_000_200.0)),
    ):
        job = {
            "id": job_id,
            "action": ACTION,
            "rule": RULE,
            "notification_key": f"hostile-{job_id % 4}",
            "event": event_fields(),
            "inputs": inputs(),
            "inputs_hash": "h",
            "request_id": odd,
            "summary": odd,
            "state": "retrying",
            "created_at": created_at,
            "due_at": due_at,
            "attempts": 2,
            "failures": 2,
            "first_failure_at": INF,
            "last_attempt_at": last_attempt_at,
            "last_status": 2**31 - 1 if pg else 10**18,
            "last_response": odd,
            "last_error": odd,
        }
        rows.append(("jobs", job))
        times = ((1e300, INF), (-INF, -1e300), (5.0, NAN if pg else "not a time"))
        for number, (started, finished) in enumerate(times, start=1):
            attempt = {
                "job_id": job_id,
                "number": number,
                "delivery_id": odd,
                "started_at": started,
                "finished_at": finished,
                "outcome": "retry",
                "status": -5,
                "response": odd,
                "error": odd,
            }
            rows.append(("attempts", attempt))
    action = {
        "name": ACTION,
        "enabled": True,
        "last_success_at": INF,
        "last_failure_at": NAN if pg else 1e300,
        "failing_since": -1e300,
        "last_dead_at": -INF,
    }
    rows.append(("actions", action))
    # An hour far ahead, so the rules page counts it whatever the clock says.
    stats = {"rule": RULE, "hour": 2**62, "matched": 5, "last_matched_at": NAN}
    rows.append(("rule_stats", stats | {"shard": 0} if pg else stats | {"last_matched_at": INF}))
    return rows


def seed(path: Path) -> list[int]:
    """Hostile rows in the SQLite store at `path` (schema already made); returns the job ids."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for table, columns in hostile_rows("sqlite"):
            names = ", ".join(columns)
            marks = ", ".join("?" for _ in columns)
            conn.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(columns.values()))
        conn.execute("COMMIT")
    finally:
        conn.close()
    return [c["id"] for t, c in hostile_rows("sqlite") if t == "jobs"]


async def seed_postgres(dsn: str) -> list[int]:
    """The same rows (PostgreSQL's variant) in the database at `dsn`."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            for table, columns in hostile_rows("postgres"):
                names = ", ".join(columns)
                marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
                sql = f"INSERT INTO {table} ({names}) VALUES ({marks})"
                await conn.execute(sql, *columns.values())
    finally:
        await conn.close()
    return [c["id"] for t, c in hostile_rows("postgres") if t == "jobs"]


def seed_long_job(path: Path, job_id: int, attempts: int, *, delivery_id: str = "") -> None:
    """A retrying job with `attempts` failed attempts, each with a 2 KB response and a
    recorded request: a job retried for days, as the job page and `bridge deliveries` see it."""
    now = 1_700_000_000.0
    event = '{"object_type": "content_item", "action": "published", "name": "Long job"}'
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.execute(
            "INSERT INTO jobs (id, action, rule, event, inputs, inputs_hash, summary, state,"
            " created_at, due_at, attempts, failures, last_attempt_at, last_status,"
            " last_response, last_error, batch_id) VALUES"
            " (?, ?, ?, ?, '{}', 'h', 'Long job', 'retrying', ?, ?, ?, ?, ?, 500, ?, ?, ?)",
            (
                *(job_id, ACTION, RULE, event, now, now + 3600, attempts, attempts),
                *(now + attempts, "y" * 2000, "answered 500", delivery_id or None),
            ),
        )
        request = json.dumps({"method": "POST", "url": "https://hooks.example/", "body": "b"})
        conn.executemany(
            "INSERT INTO attempts (job_id, number, delivery_id, started_at, finished_at,"
            " outcome, status, response, error, request) VALUES"
            " (?, ?, ?, ?, ?, 'retry', 500, ?, ?, ?)",
            [
                (
                    *(job_id, n, delivery_id or f"d{n}", now + n, now + n, "y" * 2000),
                    *(f"answered 500 (attempt {n})", request),
                )
                for n in range(1, attempts + 1)
            ],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def seed_batch(path: Path, first_id: int, count: int, delivery_id: str) -> None:
    """`count` failed jobs delivered as one call (one batch_id), as a debounced batch of
    `count` events leaves them."""
    now = 1_700_000_000.0
    event = '{"object_type": "content_item", "action": "published", "name": "Batched"}'
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO jobs (id, action, rule, event, inputs, inputs_hash, summary, state,"
            " created_at, due_at, attempts, failures, last_attempt_at, last_status,"
            " last_response, last_error, batch_id) VALUES (?, ?, ?, ?, '{}', 'h', ?,"
            " 'retrying', ?, ?, 1, 1, ?, 413, 'too large', 'answered 413', ?)",
            [
                (
                    job_id,
                    ACTION,
                    RULE,
                    event,
                    f"batched {job_id}",
                    now,
                    now + 3600,
                    now,
                    delivery_id,
                )
                for job_id in range(first_id, first_id + count)
            ],
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


SCRIPT = "</script><img src=x onerror=alert(1)>"
SHOWN_TEXT = (
    SCRIPT,
    "javascript:alert(2)",
    "{{7*7}} ${7*7}",
    "\u202egnp.exe \u200b\u200d\ufeff e\u0301\u0301\u0301 \U0001f600\U0001f1fa\U0001f1e6",
    "\x00 \ufffd \x1b[31mred\x1b[0m \x1b]0;title\x07",
    "A" * 100_000,
)
# The reasons the bridge writes for failures of every kind, as they read in the store.
REASONS = (
    "rebuild-site answered 301: redirect refused (to https://evil.example/): check the url",
    "the answer broke off after 120 of 4000 bytes",
    "malformed answer from Slack: not JSON",
    "answered 304 without a Location",
    "template error in 'text': 'x' is undefined (a permanent error: fix the rule)",
    "header 'X-Trace' holds a CR or LF: refused",
)


def seed_shown_text(path: Path, first_id: int) -> list[int]:
    """Failed jobs whose every shown field holds one of SHOWN_TEXT or REASONS (as error,
    response, summary, request id and the recorded request), dead and retrying."""
    now = 1_700_000_000.0
    ids: list[int] = []
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for n, text in enumerate(SHOWN_TEXT + REASONS):
            job_id = first_id + n
            ids.append(job_id)
            event = json.dumps({"object_type": "content_item", "action": "published", "name": text})
            request = json.dumps(
                {"method": "POST", "url": text, "headers": {"X": text}, "body": text}
            )
            conn.execute(
                "INSERT INTO jobs (id, action, rule, event, inputs, inputs_hash, request_id,"
                " summary, state, created_at, due_at, attempts, failures, last_attempt_at,"
                " last_status, last_response, last_error) VALUES"
                " (?, ?, ?, ?, ?, 'h', ?, ?, ?, ?, ?, 1, 1, ?, 502, ?, ?)",
                (
                    *(job_id, ACTION, RULE, event, json.dumps({"text": text}), text, text),
                    *(("dead", "retrying")[n % 2], now, now + 3600, now, text, text),
                ),
            )
            conn.execute(
                "INSERT INTO attempts (job_id, number, delivery_id, started_at, finished_at,"
                " outcome, status, response, error, request) VALUES"
                " (?, 1, ?, ?, ?, 'retry', 502, ?, ?, ?)",
                (job_id, f"d{job_id}", now, now, text, text, request),
            )
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids


def hostile_app(store: Any, token: str = TOKEN) -> Starlette:
    """Only the admin routes, over `store` (or a getter for one), with a config naming the
    stored action and rule."""
    config = real_config()
    runtime = SimpleNamespace(config=config)
    settings = SimpleNamespace(admin_token=token)
    return Starlette(routes=admin.routes(runtime, store, settings))


def real_config() -> Any:
    """A loaded config naming the stored action and rule: replay plans over it (a RuleEngine
    needs real rules), and its Slack token is a declared secret."""
    from bridge.config.loader import parse_config

    return parse_config(
        f"""\
version: 1
webhooks: [{{name: production, path: /webhooks/kontent, secrets: [webhook-secret]}}]
actions:
  {ACTION}: {{type: slack, token: xoxb-config-secret, channel: "#content"}}
rules:
  - name: announce
    when: {{object_type: content_item}}
    do: [{ACTION}]
""",
        env={},
    )


@asynccontextmanager
async def seeded_store(tmp_path: Path) -> AsyncIterator[tuple[Store, list[int]]]:
    """A real SQLite store (schema by its own migrations), then the hostile rows."""
    path = tmp_path / "bridge.db"
    store = open_store(f"sqlite:///{path}")
    await store.open()
    try:
        yield store, seed(path)
    finally:
        await store.close()


@asynccontextmanager
async def postgres_store(*, hostile: bool) -> AsyncIterator[tuple[Store, list[int]]]:
    """A real PostgreSQL store in a database of its own (dropped after), with the hostile rows
    when asked; skips without BRIDGE_TEST_POSTGRES_DSN."""
    dsn = os.environ.get("BRIDGE_TEST_POSTGRES_DSN")
    if not dsn:
        pytest.skip("BRIDGE_TEST_POSTGRES_DSN is not set")
    url = dsn.rsplit("/", 1)[0] + f"/t_admin_{uuid.uuid4().hex[:10]}"
    store = open_store(url)
    await store.open()  # creates the database and its schema
    try:
        yield store, (await seed_postgres(url) if hostile else [])
    finally:
        await store.close()
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
        finally:
            await conn.close()


@asynccontextmanager
async def hostile_store(kind: str, tmp_path: Path) -> AsyncIterator[tuple[Store, list[int]]]:
    """`seeded_store` for "sqlite", `postgres_store(hostile=True)` for "postgres"."""
    opened = seeded_store(tmp_path) if kind == "sqlite" else postgres_store(hostile=True)
    async with opened as seeded:
        yield seeded


def strict_json(body: bytes) -> Any:
    """Parse as a strict client would: UTF-8 only, no NaN/Infinity, no lone surrogates."""

    def refuse(name: str) -> Any:
        raise ValueError(f"not JSON: {name}")

    data = json.loads(body.decode("utf-8"), parse_constant=refuse)
    json.dumps(data, ensure_ascii=False).encode("utf-8")  # raises on a lone surrogate
    return data


def depth_of(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth_of(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth_of(v) for v in value), default=0)
    return 0
