"""What the dashboard tells an operator: the cause on cards and rows, health, and every button's
notice (exact texts), confirmations, the rejected-reload banner and the origin check's words."""

from __future__ import annotations

import html as htmllib
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

import httpx
import pytest

from bridge import reload
from bridge.admin import views
from bridge.settings import Settings, SettingsError
from tests.admin.conftest import TOKEN, csrf_of
from tests.admin.fakes import NOW, FakeStore, row, state

ORIGIN = {"Origin": "http://bridge.test"}


def notice(page: str) -> str | None:
    match = re.search(r'<p class="flash flash-(\w+)" role="status" id="flash">(.*?)</p>', page)
    return f"{match.group(1)}: {htmllib.unescape(match.group(2))}" if match else None


def card(page: str, name: str) -> str:
    start = page.index(f'data-action="{name}"')
    return page[start : page.index("</article>", start)]


async def press(
    client: httpx.AsyncClient, path: str, **fields: str
) -> tuple[httpx.Response, str | None]:
    """POST a button like the browser does, follow the 303, and read the notice shown."""
    csrf = csrf_of((await client.get("/admin")).text)
    answer = await client.post(
        path, data={"csrf": csrf, "next": "/admin", **fields}, headers=ORIGIN
    )
    if answer.status_code != 303:
        return answer, None
    after = await client.get(answer.headers["location"])
    return answer, notice(after.text)


def test_the_cause_prefers_the_actions_reason_over_the_status() -> None:
    slack = row(
        1,
        "content-team",
        "retrying",
        last_status=200,
        last_error="Slack API error: channel_not_found",
    )
    assert views.cause(slack) == "Slack API error: channel_not_found (HTTP 200)"
    plain = row(2, "rebuild-site", "dead", last_status=502, last_error=None)
    assert views.cause(plain) == "HTTP 502"
    named = row(3, "rebuild-site", "retrying", last_status=502, last_error="HTTP 502: Bad gateway")
    assert views.cause(named) == "HTTP 502: Bad gateway"
    assert views.cause(row(4, "x", "succeeded", last_error="old")) is None


async def test_cards_and_rows_show_the_latest_error(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    store.rows[1] = replace(
        store.rows[1], last_status=200, last_error="Slack API error: channel_not_found"
    )
    page = (await signed_in.get("/admin")).text
    failing = card(page, "rebuild-site")
    assert 'Latest error · <a href="/admin/jobs/2">job #2</a>' in failing
    assert '<p class="cause">Slack API error: channel_not_found (HTTP 200)</p>' in failing
    table = page[page.index('id="deliveries-title"') :]
    assert '<p class="cause">Slack API error: channel_not_found (HTTP 200)</p>' in table
    assert "Latest error" not in card(page, "content-team")


async def test_dead_jobs_outstanding_are_not_working_and_healthy_actions_have_no_reset(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    store.states["content-team"] = state("content-team", "working", dead=2)
    store.states["quiet"] = state("quiet", "working")
    store.rows.append(row(9, "content-team", "dead", last_status=404, attempts=3, failures=3))
    page = (await signed_in.get("/admin")).text
    dead = card(page, "content-team")
    assert 'data-health="dead"' in dead and ">Dead</span>" in dead
    assert "/actions/content-team/reset" in dead
    assert "/actions/content-team/retry-failed" in dead
    assert '<p class="cause">HTTP 404</p>' in dead
    healthy = card(page, "quiet")
    assert 'data-health="working"' in healthy
    assert "/reset" not in healthy and "/retry-failed" not in healthy


async def test_every_button_says_what_it_did(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    _, said = await press(signed_in, "/admin/actions/rebuild-site/reset")
    assert said == (
        "ok: Reset rebuild-site: its oldest failed job runs again now and its retry schedule "
        "restarts."
    )
    _, said = await press(signed_in, "/admin/actions/content-team/reset")
    assert said == "warn: content-team had no failed job: nothing to reset."
    _, said = await press(signed_in, "/admin/actions/rebuild-site/disable", confirm="yes")
    assert said == (
        "ok: Disabled rebuild-site: its jobs are parked until you enable it; nothing is lost."
    )
    _, said = await press(signed_in, "/admin/actions/rebuild-site/enable")
    assert said == "ok: Enabled rebuild-site: its parked jobs are delivered again, oldest first."
    _, said = await press(signed_in, "/admin/jobs/2/retry")
    assert said == "ok: Job #2 is queued to run again now."
    _, said = await press(signed_in, "/admin/jobs/3/retry")
    assert said == (
        "warn: Job #3 was not retried: it is succeeded; only retrying or dead jobs can be retried."
    )
    # Shown once: the next page has no notice.
    assert notice((await signed_in.get("/admin")).text) is None
    assert ("retry_job", 3) not in store.calls


async def test_disable_asks_first_and_changes_nothing_until_confirmed(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    asked, _ = await press(signed_in, "/admin/actions/rebuild-site/disable")
    assert asked.status_code == 200
    assert "<h1>Disable rebuild-site?</h1>" in asked.text
    assert "Nothing is sent to rebuild-site until you enable it again." in asked.text
    assert '<input type="hidden" name="confirm" value="yes">' in asked.text
    assert '<a class="button" href="/admin">Cancel</a>' in asked.text
    assert not [c for c in store.calls if c[0] == "set_enabled"]


async def test_retry_all_failed_previews_the_jobs_then_retries_exactly_them(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    store.rows.append(row(4, "rebuild-site", "dead", last_status=410, attempts=9, failures=9))
    asked, _ = await press(signed_in, "/admin/actions/rebuild-site/retry-failed")
    assert "<h1>Retry 2 jobs of rebuild-site?</h1>" in asked.text
    preview = asked.text[asked.text.index('<table class="preview">') :]
    assert preview.index("#2") < preview.index("#4")
    assert '<input type="hidden" name="jobs" value="2,4">' in asked.text
    assert not [c for c in store.calls if c[0] == "retry_job"]
    # A job that fails after the preview is not swept in: exactly what was shown is retried.
    store.rows.append(row(5, "rebuild-site", "retrying", failures=1))
    _, said = await press(
        signed_in, "/admin/actions/rebuild-site/retry-failed", confirm="yes", jobs="2,4"
    )
    assert said == "ok: 2 jobs of rebuild-site queued to run again now."
    assert [c for c in store.calls if c[0] == "retry_job"] == [("retry_job", 2), ("retry_job", 4)]
    _, said = await press(signed_in, "/admin/actions/content-team/retry-failed")
    assert said == "warn: content-team has no retrying or dead job: nothing to retry."


@pytest.fixture
def rejected_reload() -> Iterator[None]:
    saved = (reload.reload_state.ok, list(reload.reload_state.errors))
    reload.reload_state.ok = False
    reload.reload_state.last_attempt_at = NOW - 30
    reload.reload_state.errors = [
        "rules.yaml:14:7: rules[2].do[0].action: unknown action 'content-tem' "
        "(did you mean 'content-team'?)"
    ]
    yield
    reload.reload_state.ok, reload.reload_state.errors = saved


async def test_a_rejected_reload_shows_a_banner_with_its_errors(
    signed_in: httpx.AsyncClient, rejected_reload: None
) -> None:
    page = (await signed_in.get("/admin/rules")).text
    assert (
        "<h2>The last config reload was rejected; the bridge keeps running the previous "
        "configuration.</h2>" in page
    )
    assert (
        "<li><code>rules.yaml:14:7: rules[2].do[0].action: unknown action &#39;content-tem&#39; "
        "(did you mean &#39;content-team&#39;?)</code></li>" in page
    )


async def test_no_banner_after_a_good_reload(signed_in: httpx.AsyncClient) -> None:
    saved = reload.reload_state.ok
    reload.reload_state.ok = True
    try:
        assert 'id="reload-banner"' not in (await signed_in.get("/admin")).text
    finally:
        reload.reload_state.ok = saved


async def test_a_sign_in_through_a_proxy_that_drops_host_says_how_to_fix_it(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    async with make_client() as client:
        answer = await client.post(
            "/admin/login",
            data={"token": TOKEN},
            headers={"Origin": "https://bridge.example.com"},
        )
    assert answer.status_code == 403
    assert (
        htmllib.unescape(answer.text).count(
            "This form was sent from https://bridge.example.com, but this bridge was reached as "
            "bridge.test. Behind a reverse proxy that does not keep the Host header, set "
            "BRIDGE_PUBLIC_URL=https://bridge.example.com (docs/operations.md, “Behind a reverse "
            "proxy”)."
        )
        == 1
    )
    assert "set-cookie" not in answer.headers


def test_public_url_setting() -> None:
    env = {"BRIDGE_PUBLIC_URL": "https://Bridge.Example.com/"}
    assert Settings.from_env(env).public_url == "https://bridge.example.com"
    assert Settings.from_env({}).public_url is None
    with pytest.raises(SettingsError) as path:
        Settings.from_env({"BRIDGE_PUBLIC_URL": "https://ops.example.com/bridge"})
    assert str(path.value) == (
        "BRIDGE_PUBLIC_URL='https://ops.example.com/bridge' must not have a path: the dashboard "
        "is served at /admin of that address (a proxy may not move it under a prefix)"
    )
    with pytest.raises(SettingsError) as scheme:
        Settings.from_env({"BRIDGE_PUBLIC_URL": "bridge.example.com"})
    assert str(scheme.value) == (
        "BRIDGE_PUBLIC_URL='bridge.example.com' must be the address the dashboard is opened at, "
        "such as https://bridge.example.com (http:// or https://, a host, an optional port)"
    )
