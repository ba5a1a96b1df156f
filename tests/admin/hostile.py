"""Stored data that once broke admin views, written straight into a real SQLite store's rows.

Bypassing the receiver on purpose: rows accepted by older versions, written by hand or by a
target's odd answer must still be viewable. Each value here made some view answer 500 before
the admin rendered through bridge.admin.safejson: NaN and Infinity, lone surrogates, nesting
500 levels deep, `*_at` numbers no datetime can hold, a 4,200-digit integer, control bytes.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from starlette.applications import Starlette

from bridge import admin
from bridge.delivery.store import Store, open_store
from tests.admin.fakes import fake_config

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


def seed(path: Path) -> list[int]:
    """Hostile rows in the store at `path` (its schema already made); returns the job ids."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("BEGIN")
        for n, received_at in enumerate((1e300, float("inf"), -1e300, 1_700_000_000.0)):
            conn.execute(
                "INSERT INTO notifications (key, content_key, webhook, format, received_at,"
                " request_id, raw, events, rules, summary) VALUES (?, ?, ?, 'current', ?, ?, ?,"
                " ?, ?, ?)",
                (
                    f"hostile-{n}",
                    f"hostile-{n}",
                    "production",
                    received_at,
                    ODD_TEXT,
                    raw_notification(n),
                    "[" + event_fields() + "]",
                    ("5", '["announce", "\\ud800", 7, {"a": NaN}]', '"a string"', "[]")[n],
                    ODD_TEXT,
                ),
            )
        ids = []
        for job_id, times in (
            (1, (1e300, float("inf"), -1e300)),
            (2, (float("-inf"), 1e300, 1_700_000_000.0)),
            (MAX_JOB_ID, (1_700_000_000.0, 1_700_000_100.0, 1_700_000_200.0)),
        ):
            created_at, last_attempt_at, due_at = times
            conn.execute(
                "INSERT INTO jobs (id, action, rule, notification_key, event, inputs,"
                " inputs_hash, request_id, summary, state, created_at, due_at, attempts,"
                " failures, first_failure_at, last_attempt_at, last_status, last_response,"
                " last_error) VALUES (?, ?, ?, ?, ?, ?, 'h', ?, ?, 'retrying', ?, ?, 2, 2, ?,"
                " ?, ?, ?, ?)",
                (
                    job_id,
                    ACTION,
                    RULE,
                    f"hostile-{job_id % 4}",
                    event_fields(),
                    inputs(),
                    ODD_TEXT,
                    ODD_TEXT,
                    created_at,
                    due_at,
                    float("inf"),
                    last_attempt_at,
                    10**18,
                    ODD_TEXT,
                    ODD_TEXT,
                ),
            )
            for number, (started, finished) in enumerate(
                ((1e300, float("inf")), (float("-inf"), -1e300), (5.0, "not a time")), start=1
            ):
                conn.execute(
                    "INSERT INTO attempts (job_id, number, delivery_id, started_at,"
                    " finished_at, outcome, status, response, error) VALUES (?, ?, ?, ?, ?,"
                    " 'retry', ?, ?, ?)",
                    (job_id, number, ODD_TEXT, started, finished, -5, ODD_TEXT, ODD_TEXT),
                )
            ids.append(job_id)
        conn.execute(
            "INSERT INTO actions (name, enabled, last_success_at, last_failure_at,"
            " failing_since, last_dead_at) VALUES (?, 1, ?, ?, ?, ?)",
            (ACTION, float("inf"), 1e300, -1e300, float("-inf")),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()
    json.loads(raw_notification(0))  # the seed itself is JSON Python reads back
    return ids


def hostile_app(store: Store | Callable[[], Store | None], token: str = TOKEN) -> Starlette:
    """Only the admin routes, over `store` (or a getter for one), with a config naming the
    stored action and rule."""
    config = fake_config(**{ACTION: {"channel": "#content", "token": "xoxb-config-secret"}})
    runtime = SimpleNamespace(config=config)
    settings = SimpleNamespace(admin_token=token)
    return Starlette(routes=admin.routes(runtime, store, settings))


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
