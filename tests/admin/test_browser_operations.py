"""An operator's flows in a real headless Chromium against a running bridge whose target fails:
find the cause, search, retry all failed jobs, replay exactly what is needed, read the chart
and the job page, see a rejected reload. Each page is also checked at 390 px (nothing cut off)
and photographed under test-artifacts/ at both sizes.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.admin.browsing import DESKTOP, PHONE, chromium, overflowing, shot, sign_in
from tests.admin.harness import Bridge, eventually, notification, running_bridge, signed

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TOKEN = "browser-operations-token-0123"


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    # A long retry schedule: only the operator's buttons make a failed job run again.
    async with running_bridge(tmp_path, admin_token=TOKEN, retry="1h") as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def send(bridge: Bridge, *numbers: int) -> None:
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        for n in numbers:
            body = notification(n)
            answer = await http.post("/webhooks/kontent", content=body, headers=signed(body))
            assert answer.status_code == 200, answer.text


async def page_for(browser: Browser, bridge: Bridge) -> Page:
    context = await browser.new_context(viewport=DESKTOP)
    page = await context.new_page()
    await sign_in(page, bridge.url, TOKEN)
    return page


async def both_sizes(page: Page, name: str) -> None:
    """Screenshot at desktop size, then at 390 px, where nothing may be cut off."""
    await page.set_viewport_size(DESKTOP)
    await shot(page, f"{name}-desktop")
    await page.set_viewport_size(PHONE)
    assert await overflowing(page) == [], name
    await shot(page, f"{name}-phone")
    await page.set_viewport_size(DESKTOP)


async def failing_first_job(bridge: Bridge, page: Page, *numbers: int) -> None:
    bridge.target.failing = True
    await send(bridge, *numbers)
    await bridge.target.wait_for_requests(1)
    card = page.locator('.action[data-action="rebuild-site"]')

    async def failing() -> bool:
        await page.goto(f"{bridge.url}/admin")
        return await card.get_attribute("data-health") == "failing"

    await eventually(failing)


async def test_the_cause_is_on_the_card_and_the_row_and_reset_says_what_it_did(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    page = await page_for(browser, bridge)
    card = page.locator('.action[data-action="rebuild-site"]')
    await expect(card.get_by_role("button", name="Reset")).to_have_count(0)  # nothing to reset
    await failing_first_job(bridge, page, 1)
    cause = "rebuild-site answered 502: upstream build service unavailable (test)"
    await expect(card.locator("p.cause")).to_have_text(cause)
    await expect(card.locator(".cause-label")).to_contain_text("Latest error · job #1")
    row = page.locator('table.deliveries tr[data-job="1"]')
    await expect(row.locator("td.response-cell > p.cause")).to_have_text(cause)
    await both_sizes(page, "ops-cause")

    bridge.target.failing = False
    await card.get_by_role("button", name="Reset").click()
    await expect(page.locator("#flash")).to_have_text(
        "Reset rebuild-site: its oldest failed job runs again now and its retry schedule restarts."
    )
    await bridge.target.wait_for_requests(2)

    async def working() -> bool:
        await page.goto(f"{bridge.url}/admin")
        return await card.get_attribute("data-health") == "working"

    await eventually(working)
    await expect(card.get_by_role("button", name="Reset")).to_have_count(0)
    await expect(row.get_by_role("button", name="Retry")).to_have_count(0)  # succeeded
    await page.goto(f"{bridge.url}/admin/jobs/1")
    await expect(page.get_by_role("button", name="Retry now")).to_have_count(0)


async def test_search_finds_one_item_by_codename_and_by_name(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    await send(bridge, 1, 2, 3)
    await bridge.target.wait_for_requests(3)
    page = await page_for(browser, bridge)
    await page.get_by_text("More filters").click()
    await page.get_by_label("Codename").fill("a_2")
    await page.get_by_role("button", name="Search").click()
    rows = page.locator("table.deliveries tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("td.summary")).to_contain_text("Article 2")
    await expect(page.locator("#search-note")).to_have_text("1 matching job shown.")
    assert "codename=a_2" in page.url
    await both_sizes(page, "ops-search")
    await page.get_by_role("link", name="Clear").click()
    await expect(rows).to_have_count(3)
    await page.fill("#search-q", "article 3")
    await page.get_by_role("button", name="Search").click()
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_have_attribute("data-job", "3")


async def test_retry_all_failed_previews_then_retries_and_says_how_many(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    page = await page_for(browser, bridge)
    await failing_first_job(bridge, page, 1, 2)
    card = page.locator('.action[data-action="rebuild-site"]')
    await card.get_by_role("button", name="Retry all failed").click()
    await expect(page.locator("h1")).to_have_text("Retry 1 job of rebuild-site?")
    preview = page.locator("table.preview tbody tr")
    await expect(preview).to_have_count(1)
    await expect(preview.first.locator("td.cause")).to_have_text(
        "rebuild-site answered 502: upstream build service unavailable (test)"
    )
    await both_sizes(page, "ops-bulk-retry-preview")
    bridge.target.failing = False
    await page.get_by_role("button", name="Retry 1 job").click()
    await expect(page.locator("#flash")).to_have_text(
        "1 job of rebuild-site queued to run again now."
    )
    await bridge.target.wait_for_requests(3)  # the failed one again, then the one it held back


async def test_disable_asks_for_confirmation_and_cancel_changes_nothing(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    page = await page_for(browser, bridge)
    card = page.locator('.action[data-action="rebuild-site"]')
    await card.get_by_role("button", name="Disable").click()
    await expect(page.locator("h1")).to_have_text("Disable rebuild-site?")
    await both_sizes(page, "ops-confirm-disable")
    await page.get_by_role("link", name="Cancel").click()
    await expect(card.locator(".pill-disabled")).to_have_count(0)
    await expect(page.locator("#flash")).to_have_count(0)
    await card.get_by_role("button", name="Disable").click()
    await page.get_by_role("button", name="Disable rebuild-site").click()
    await expect(page.locator("#flash")).to_have_text(
        "Disabled rebuild-site: its jobs are parked until you enable it; nothing is lost."
    )
    await expect(card.locator(".pill-disabled")).to_have_text("disabled")


async def test_replay_one_notification_to_one_action_with_its_preview(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    await send(bridge, 1, 2)
    await bridge.target.wait_for_requests(2)
    page = await page_for(browser, bridge)
    await page.goto(f"{bridge.url}/admin/notifications")
    await both_sizes(page, "ops-notifications")
    first = page.locator("table.notifications tbody tr").filter(has_text="Article 1")
    await first.get_by_role("link", name="Replay…").click()
    await page.get_by_label("rebuild-site").check()
    await both_sizes(page, "ops-replay-form")
    await page.get_by_role("button", name="Preview").click()
    await expect(page.locator("h1")).to_have_text("Create 1 job?")
    await expect(page.locator(".confirm > p").first).to_have_text(
        "Replaying 1 stored notification(s) against the current rules creates this job "
        "(rebuild-site: 1). Nothing is created until you confirm."
    )
    planned = page.locator("table.planned tbody tr")
    await expect(planned).to_have_count(1)
    await expect(planned.first).to_contain_text("rebuild-on-publish")
    await expect(planned.first).to_contain_text("Article 1")
    assert bridge.target.requests == 2  # a preview creates nothing
    await both_sizes(page, "ops-replay-preview")
    await page.get_by_role("button", name="Create 1 job").click()
    flash = page.locator("#flash")
    await expect(flash).to_contain_text(
        "Created 1 job (rebuild-site: 1) from 1 stored notification(s); request id replay-"
    )
    request_id = re.search(r"replay-[0-9a-f]{12}", await flash.inner_text())
    assert request_id is not None and f"request_id={request_id.group()}" in page.url
    await expect(page.locator("table.deliveries tbody tr")).to_have_count(1)
    await bridge.target.wait_for_requests(3)


async def test_the_activity_chart_and_the_rejected_requests(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    page = await page_for(browser, bridge)
    await failing_first_job(bridge, page, 1, 2)
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        body = notification(9)
        await http.post("/webhooks/kontent", content=body, headers=signed(body, "wrong"))
    await page.get_by_role("link", name="Activity").click()
    chart = page.locator('[data-chart="rebuild-site"]')
    await expect(chart.locator("svg.chart")).to_be_visible()
    await expect(chart.locator(".failed-total")).to_have_text("1 failed attempt")
    await expect(chart.locator(".queued-total")).to_have_text("2 waiting now")
    await expect(chart.locator("rect.failed")).to_have_count(1)
    rejected = page.locator('table.rejected tr[data-webhook="production"]')
    await expect(rejected.locator('td[data-label="401"]')).to_have_text("1")
    await expect(rejected).to_contain_text(
        "the signature verified with none of the webhook's secrets"
    )
    await both_sizes(page, "ops-activity")


async def test_the_job_page_shows_the_inputs_and_each_attempt(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    page = await page_for(browser, bridge)
    await failing_first_job(bridge, page, 1)
    await page.goto(f"{bridge.url}/admin/jobs/1")
    await expect(page.locator("pre.inputs")).to_contain_text(bridge.target.url)
    attempt = page.locator(".attempts li").first
    await expect(attempt).to_contain_text("rebuild-site answered 502")
    await expect(attempt.locator("details.sent summary")).to_contain_text("Request sent")
    await both_sizes(page, "ops-job")


async def test_a_rejected_reload_shows_its_errors_until_fixed(
    bridge: Bridge, browser: Browser, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    page = await page_for(browser, bridge)
    config = tmp_path / "rules.yaml"
    good = config.read_text()
    config.write_text(good.replace("do: [rebuild-site]", "do: [rebuild-sit]"))
    banner = page.locator("#reload-banner")

    async def shown() -> bool:
        await page.goto(f"{bridge.url}/admin/rules")
        return await banner.count() == 1

    await eventually(shown)
    await expect(banner.locator("h2")).to_have_text(
        "The last config reload was rejected; the bridge keeps running the previous configuration."
    )
    await expect(banner.locator(".reload-errors li")).to_contain_text(
        "unknown action 'rebuild-sit' (did you mean 'rebuild-site'?)"
    )
    await both_sizes(page, "ops-reload-rejected")
    config.write_text(good)

    async def gone() -> bool:
        await page.goto(f"{bridge.url}/admin/rules")
        return await banner.count() == 0

    await eventually(gone)


def long_named(n: int) -> bytes:
    name = f"Article {n} " + "Averylongwordwithoutanyspaces" * 3
    item = {
        "data": {"system": {"id": f"item-{n}", "name": name, "codename": f"a_{n}"}},
        "message": {"object_type": "content_item", "action": "published"},
    }
    return json.dumps({"notifications": [item]}).encode()


async def test_nothing_is_cut_off_at_390_px_with_many_rows_and_long_names(
    bridge: Bridge, browser: Browser
) -> None:
    """20 notifications whose names are 90 characters without a space: before the phone
    layout, 163 elements of the Notifications page were cut off at 390 px."""
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        for n in range(20):
            body = long_named(n)
            answer = await http.post("/webhooks/kontent", content=body, headers=signed(body))
            assert answer.status_code == 200
    await bridge.target.wait_for_requests(20)
    page = await page_for(browser, bridge)
    await page.set_viewport_size(PHONE)
    for path in (
        "/admin/notifications",
        "/admin/",
        "/admin/jobs/1",
        "/admin/rules",
        "/admin/rules/rebuild-on-publish",
        "/admin/activity",
        "/admin/replay",
        "/admin/?q=article",
    ):
        await page.goto(f"{bridge.url}{path}")
        assert await overflowing(page) == [], path
    await page.goto(f"{bridge.url}/admin/notifications")
    await shot(page, "ops-notifications-many-phone")
