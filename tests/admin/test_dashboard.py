"""Dashboard pages and buttons over the fake store: sessions, CSRF, what each page shows."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from bridge.admin.auth import COOKIE_NAME, Guard
from bridge.delivery.model import NotificationRow, RuleStats
from tests.admin.conftest import TOKEN, csrf_of
from tests.admin.fakes import NOW, FakeStore, row


async def test_sign_in_sets_a_strict_httponly_cookie_without_the_token(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client() as client:
        answer = await client.post("/admin/login", data={"token": TOKEN, "next": "/admin/rules"})
    assert answer.status_code == 303
    assert answer.headers["location"] == "/admin/rules"
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
    assert TOKEN not in cookie


@pytest.mark.parametrize("token", ["", "wrong", TOKEN + "x"])
async def test_a_wrong_token_is_401_and_sets_no_cookie(
    make_client: Callable[..., httpx.AsyncClient], token: str
) -> None:
    async with make_client() as client:
        answer = await client.post("/admin/login", data={"token": token})
    assert answer.status_code == 401
    assert "Wrong token." in answer.text
    assert "set-cookie" not in answer.headers


async def test_sign_in_never_redirects_outside_the_admin(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client() as client:
        answer = await client.post("/admin/login", data={"token": TOKEN, "next": "//evil.test/x"})
    assert answer.headers["location"] == "/admin"


def test_sessions_expire_and_are_bound_to_the_token() -> None:
    guard = Guard(TOKEN)
    session = guard.new_session(now=1000.0)
    assert guard.session_ok(session, now=1001.0)
    assert not guard.session_ok(session, now=1000.0 + 13 * 3600)
    assert not Guard("another-token").session_ok(session, now=1001.0)
    assert not guard.session_ok(session.replace(".", ".0"), now=1001.0)


async def test_the_overview_shows_badges_counts_filters_and_responses(
    signed_in: httpx.AsyncClient,
) -> None:
    page = await signed_in.get("/admin")
    assert page.status_code == 200
    html = page.text
    assert 'data-action="rebuild-site" data-health="failing"' in html
    assert 'class="badge badge-working"' in html
    assert '<dd class="pending">2</dd>' in html
    assert "Bad gateway from upstream" in html  # in the response dialog
    assert "Active failures" in html
    assert "xoxb-very-secret" not in html
    table = html[html.index('id="deliveries-title"') :]  # cards name the failing job first
    assert table.index("#3") < table.index("#2") < table.index("#1")  # newest first


async def test_a_retrying_row_says_when_it_runs_again(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    """The cause and the schedule in the same row: no need to open the job to see when."""
    store.rows = [
        row(4, "rebuild-site", "retrying", next_attempt_at=NOW + 125, last_status=429),
        row(5, "rebuild-site", "retrying", next_attempt_at=NOW - 30, last_status=500),
        row(6, "rebuild-site", "dead", next_attempt_at=None, last_status=400),
    ]
    html = (await signed_in.get("/admin")).text
    rows = {n: html[html.index(f'data-job="{n}"') :].split("</tr>")[0] for n in (4, 5, 6)}
    assert (
        '<span class="next-attempt">next attempt <time datetime="2023-11-14T22:15:25Z" '
        'title="2023-11-14 22:15:25 UTC">in 2 min</time></span>'
    ) in rows[4]
    assert ">due now</time>" in rows[5]  # claimed as soon as a worker is free
    assert "next attempt" not in rows[6]


async def test_a_failed_row_shows_what_came_back_under_its_cause(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    """`crm answered 500` alone hid the target's reason behind the response button."""
    store.rows = [
        row(4, "crm", "retrying", last_status=500, last_error="crm answered 500",
            last_response="database is down " * 20),
        row(5, "crm", "dead", last_status=500, last_error="Slack answered 500: no_service",
            last_response="no_service"),
        row(6, "crm", "succeeded", last_status=200, last_response="ok"),
    ]  # fmt: skip
    html = (await signed_in.get("/admin")).text
    rows = {n: html[html.index(f'data-job="{n}"') :].split("</tr>")[0] for n in (4, 5, 6)}
    said = ("database is down " * 20)[:159] + "…"
    assert f'<p class="cause">crm answered 500</p><p class="answered">{said}</p>' in rows[4]
    assert 'class="answered"' not in rows[5]  # the cause already quotes it
    assert 'class="answered"' not in rows[6]


async def test_filters_and_action_reach_the_store(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    page = await signed_in.get("/admin/?filter=failures&action=rebuild-site")
    assert page.status_code == 200
    assert ("deliveries", ("rebuild-site", "failures", 50, 0)) in store.calls
    assert (await signed_in.get("/admin/?filter=nope")).status_code == 400
    assert (await signed_in.get("/admin/?action=nope")).status_code == 404


async def test_buttons_post_with_csrf_and_come_back(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    csrf = csrf_of((await signed_in.get("/admin")).text)
    for verb in ("reset", "disable", "enable"):
        answer = await signed_in.post(
            f"/admin/actions/rebuild-site/{verb}",
            data={"csrf": csrf, "next": "/admin/?filter=failures", "confirm": "yes"},
            headers={"Origin": "http://bridge.test"},
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/admin/?filter=failures"
    retry = await signed_in.post("/admin/jobs/2/retry", data={"csrf": csrf})
    assert retry.status_code == 303
    assert [c for c in store.calls if c[0] != "deliveries"] == [
        ("reset_action", "rebuild-site"),
        ("set_enabled", ("rebuild-site", False)),
        ("set_enabled", ("rebuild-site", True)),
        ("retry_job", 2),
    ]


async def test_a_post_without_csrf_or_from_another_origin_changes_nothing(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    csrf = csrf_of((await signed_in.get("/admin")).text)
    missing = await signed_in.post("/admin/actions/rebuild-site/disable", data={})
    foreign = await signed_in.post(
        "/admin/actions/rebuild-site/disable",
        data={"csrf": csrf},
        headers={"Origin": "http://evil.test"},
    )
    assert missing.status_code == foreign.status_code == 403  # signed in, but not this form
    assert [c for c in store.calls if c[0] != "deliveries"] == []


async def test_without_a_session_every_page_is_401_with_the_form(
    make_client: Callable[..., httpx.AsyncClient], store: FakeStore
) -> None:
    async with make_client() as client:
        for path in ("/admin", "/admin/", "/admin/rules", "/admin/jobs/1", "/admin/notifications"):
            page = await client.get(path)
            assert page.status_code == 401, path
            assert 'name="token"' in page.text
        client.cookies.set(COOKIE_NAME, "4102444800.forged", path="/admin")
        assert (await client.get("/admin")).status_code == 401
        bearer = await client.get("/admin", headers={"Authorization": f"Bearer {TOKEN}"})
        assert bearer.status_code == 401  # the dashboard takes a session, not the API token
        posted = await client.post("/admin/actions/rebuild-site/reset", data={"csrf": "x"})
        assert posted.status_code == 401
    assert [c for c in store.calls if c[0] != "deliveries"] == []


async def test_job_rule_and_notification_pages(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    from bridge.delivery.model import AttemptRow

    store.attempts[2] = (AttemptRow(1, NOW - 60, NOW - 59.5, "retry", 502, "Bad", "HTTP 502", "d"),)
    store.stats["announce"] = RuleStats(matched=7, last_matched_at=NOW - 30)
    store.notes = [
        NotificationRow("k", "production", NOW - 5, "req-9", "a thing", ["announce"], {"n": 1})
    ]
    job = await signed_in.get("/admin/jobs/2")
    assert job.status_code == 200
    assert "Attempt 1" in job.text and "HTTP 502" in job.text and "req-1" in job.text
    rules = await signed_in.get("/admin/rules")
    assert ">7<" in rules.text
    rule = await signed_in.get("/admin/rules/announce")
    assert rule.status_code == 200 and "#3" in rule.text
    notes = await signed_in.get("/admin/notifications")
    assert "req-9" in notes.text and 'href="/admin/rules/announce"' in notes.text
    assert (await signed_in.get("/admin/jobs/99")).status_code == 404
    assert (await signed_in.get("/admin/rules/nope")).status_code == 404


async def test_sign_out_clears_the_cookie(signed_in: httpx.AsyncClient) -> None:
    answer = await signed_in.post("/admin/logout")
    assert answer.status_code == 303
    assert (await signed_in.get("/admin")).status_code == 401


async def test_static_assets_are_served(signed_in: httpx.AsyncClient) -> None:
    css = await signed_in.get("/admin/static/admin.css")
    js = await signed_in.get("/admin/static/admin.js")
    assert css.status_code == js.status_code == 200
    assert "badge-failing" in css.text and "clipboard" in js.text
