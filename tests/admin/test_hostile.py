"""Whatever the store holds, every admin view answers 200 with JSON/HTML that encodes.

Rows come from tests/admin/hostile.py, written straight into a real SQLite store.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from bridge.admin.auth import COOKIE_NAME, Guard
from bridge.admin.safejson import CUT, MAX_DEPTH
from bridge.delivery.store import StoreUnavailable
from tests.admin.fakes import FakeStore
from tests.admin.hostile import (
    ACTION,
    MAX_JOB_ID,
    RULE,
    TOKEN,
    depth_of,
    hostile_app,
    hostile_store,
    strict_json,
)

pytestmark = pytest.mark.timeout(60)

API_VIEWS = [
    "/admin/api/notifications",
    "/admin/api/notifications?limit=1",
    "/admin/api/notifications?limit=1&offset=1",
    "/admin/api/notifications?limit=1&offset=2",
    "/admin/api/notifications?limit=2&offset=2",
    "/admin/api/deliveries",
    "/admin/api/deliveries?filter=active_failures",
    f"/admin/api/deliveries?action={ACTION}",
    "/admin/api/actions",
    "/admin/api/rules",
    f"/admin/api/rules/{RULE}",
    "/admin/api/jobs/1",
    "/admin/api/jobs/2",
    f"/admin/api/jobs/{MAX_JOB_ID}",
]

PAGES = [
    "/admin",
    "/admin/",
    f"/admin/?action={ACTION}&filter=failures",
    "/admin/notifications",
    "/admin/notifications?limit=1&offset=1",
    "/admin/notifications?limit=1&offset=2",
    "/admin/rules",
    f"/admin/rules/{RULE}",
    "/admin/jobs/1",
    "/admin/jobs/2",
    f"/admin/jobs/{MAX_JOB_ID}",
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def client(kind: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with hostile_store(kind, tmp_path) as (store, _ids):
        app = hostile_app(store)
        transport = httpx.ASGITransport(app=app)
        session = Guard(TOKEN).new_session()
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bridge.test",
            headers={"Authorization": f"Bearer {TOKEN}"},
            cookies={COOKIE_NAME: session},
        ) as client:
            yield client


async def test_every_api_view_of_hostile_rows_is_strict_json(client: httpx.AsyncClient) -> None:
    failed = {}
    for path in API_VIEWS:
        answer = await client.get(path)
        if answer.status_code != 200:
            failed[path] = (answer.status_code, answer.text[:200])
            continue
        data = strict_json(answer.content)
        assert depth_of(data) <= MAX_DEPTH + 1, path
    assert failed == {}


async def test_what_cannot_be_shown_is_null_replaced_or_cut(
    client: httpx.AsyncClient, kind: str
) -> None:
    items = strict_json((await client.get("/admin/api/notifications")).content)["items"]
    assert {i["key"] for i in items} == {f"hostile-{n}" for n in range(4)}
    by_key = {i["key"]: i for i in items}
    assert by_key["hostile-0"]["received_at"] is None  # 1e300 seconds: no datetime holds it
    assert by_key["hostile-3"]["received_at"] == "2023-11-14T22:13:20Z"
    message = by_key["hostile-0"]["raw"]["notifications"][0]["message"]
    assert message["nan"] is None and message["inf"] is None and message["ninf"] is None
    assert message["created_at"] is None and message["sent_at"] is None
    assert message["big"] == "[integer of 13952 bits]"
    assert message["pair"] == "\U0001f600"  # a surrogate pair is the character it spells
    system = by_key["hostile-0"]["raw"]["notifications"][0]["data"]["system"]
    assert system["name"] == "lone \ufffd here" and system["codename"] == "\ufffd"
    assert CUT in (await client.get("/admin/api/notifications")).text
    assert by_key["hostile-1"]["rules"] == ["announce", "\ufffd", 7, {"a": None}]

    job = strict_json((await client.get("/admin/api/jobs/1")).content)
    assert job["created_at"] is None and job["last_attempt_at"] is None
    assert job["inputs"]["text"] is None and job["inputs"]["s"] == "\ufffd"
    assert job["inputs"]["token"] != "xoxb-stored-secret"
    assert [a["started_at"] for a in job["attempt_log"]] == [None, None, "1970-01-01T00:00:05Z"]
    # SQLite kept text in a REAL column (shown as stored); PostgreSQL kept NaN (null)
    assert job["attempt_log"][2]["finished_at"] == ("not a time" if kind == "sqlite" else None)


async def test_every_dashboard_page_of_hostile_rows_renders(client: httpx.AsyncClient) -> None:
    failed = {}
    for path in PAGES:
        answer = await client.get(path)
        if answer.status_code != 200:
            failed[path] = (answer.status_code, answer.text[:200])
            continue
        assert answer.headers["content-type"].startswith("text/html"), path
        answer.content.decode("utf-8")  # strict: every byte is UTF-8
    assert failed == {}


async def test_a_stored_bidi_override_is_shown_and_reorders_nothing(
    client: httpx.AsyncClient,
) -> None:
    """The stored error holds an unclosed U+202E: printed as it is, it reversed the rest of the
    line, the bridge's own ' (HTTP 2147483647)' after it included, on the card and the job."""
    for path in PAGES:
        page = (await client.get(path)).text
        assert not set(page) & {"\u202a", "\u202b", "\u202d", "\u202e", "\u2066"}, path
    job = (await client.get(f"/admin/jobs/{MAX_JOB_ID}")).text
    assert "\\u202e reversed" in job
    [cause] = re.findall(r'<p class="cause">(.*?)</p>', job)
    assert "\\u202e reversed (HTTP " in cause


async def test_the_payload_dialog_shows_cut_json_and_times_it_cannot_read(
    client: httpx.AsyncClient,
) -> None:
    html = (await client.get("/admin/notifications")).text
    payloads = re.findall(r'<pre class="response-body">(.*?)</pre>', html, re.S)
    assert len(payloads) == 4
    assert all("NaN" not in p and "Infinity" not in p for p in payloads)
    assert CUT in html
    assert "1e+300" in html  # a received_at no datetime holds is shown as it is stored
    job = (await client.get("/admin/jobs/1")).text
    assert "cannot be summarised" in job  # event fields of the wrong types
    assert "\ufffd" in job


class _DownStore(FakeStore):
    """A store whose every read fails the way a dead database connection does."""

    async def deliveries(self, **_: Any) -> Any:
        raise StoreUnavailable("SQLite store unavailable: disk I/O error")

    async def action_states(self) -> Any:
        raise StoreUnavailable("SQLite store unavailable: disk I/O error")

    async def notifications(self, **_: Any) -> Any:
        raise StoreUnavailable("SQLite store unavailable: disk I/O error")


async def test_a_store_that_is_down_is_503_not_500() -> None:
    app = hostile_app(_DownStore())
    session = Guard(TOKEN).new_session()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://bridge.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
        cookies={COOKIE_NAME: session},
    ) as client:
        paths = ["/admin/api/deliveries", "/admin/api/actions", "/admin/api/notifications"]
        paths += ["/admin", "/admin/notifications"]
        codes = {p: (await client.get(p)).status_code for p in paths}
    assert codes == dict.fromkeys(codes, 503)


BROKEN_JSON = ["{not json", "", "5", '"text"', "[1, 2", "\\x7f", "[" * 5000]


async def test_stored_json_that_no_longer_parses_is_shown_not_a_500(
    kind: str, tmp_path: Path
) -> None:
    """Columns the store keeps as JSON text, broken by hand or by an older version."""
    async with hostile_store(kind, tmp_path) as (store, _ids):
        statements = []
        for n, broken in enumerate(BROKEN_JSON):
            statements.append(
                (
                    "INSERT INTO notifications (key, content_key, format, received_at, raw, events,"
                    " rules, summary) VALUES ({}, {}, 'current', 1.0, {}, {}, {}, 's')",
                    (f"broken-{n}", f"broken-{n}", broken, broken, broken),
                )
            )
            statements.append(
                (
                    "INSERT INTO jobs (id, action, rule, notification_key, event, inputs,"
                    " inputs_hash, summary, created_at, due_at) VALUES ({}, 'a', 'r', {}, {},"
                    " {}, 'h', 's', 1.0, 1.0)",
                    (100 + n, f"broken-{n}", broken, broken),
                )
            )
        await _execute(kind, store, tmp_path, statements)
        app = hostile_app(store)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://bridge.test",
            headers={"Authorization": f"Bearer {TOKEN}"},
            cookies={COOKIE_NAME: Guard(TOKEN).new_session()},
        ) as client:
            paths = ["/admin/api/notifications?limit=500", "/admin/notifications?limit=500"]
            for n in range(len(BROKEN_JSON)):
                paths += [f"/admin/api/jobs/{100 + n}", f"/admin/jobs/{100 + n}"]
            codes = {p: (await client.get(p)).status_code for p in paths}
            listed = strict_json((await client.get(paths[0])).content)["items"]
    assert codes == dict.fromkeys(codes, 200)
    broken = {i["key"]: i for i in listed if i["key"].startswith("broken-")}
    assert broken["broken-0"]["raw"] == {"unreadable": "{not json"}
    assert broken["broken-2"]["raw"] == {"unreadable": 5}  # JSON, but not an object
    assert broken["broken-2"]["rules"] == 5  # shown as stored


async def _execute(
    kind: str, store: Any, tmp_path: Path, statements: list[tuple[str, tuple[Any, ...]]]
) -> None:
    """Write rows behind the store's back, in its own dialect."""
    if kind == "sqlite":
        conn = sqlite3.connect(tmp_path / "bridge.db", isolation_level=None)
        try:
            for sql, values in statements:
                conn.execute(sql.format(*("?" * len(values))), values)
        finally:
            conn.close()
        return
    pg = await asyncpg.connect(store.connector.url)
    try:
        for sql, values in statements:
            await pg.execute(sql.format(*(f"${i}" for i in range(1, len(values) + 1))), *values)
    finally:
        await pg.close()
