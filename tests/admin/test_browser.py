"""The dashboard in a real headless Chromium against a running bridge whose target fails.

Skipped with a printed reason when Chromium is missing, except under CI=true, where that fails.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.admin.harness import Bridge, eventually, notification, running_bridge, signed

if TYPE_CHECKING:
    from playwright.async_api import Browser

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TOKEN = "browser-test-admin-token"
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"


def need_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    reason = f"Chromium not found at {CHROMIUM} (Debian package `chromium`)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser test")
    print(f"skipping: {reason}")
    pytest.skip(reason)


@pytest.fixture
async def bridge(tmp_path: Path) -> AsyncIterator[Bridge]:
    # A long retry schedule: only Reset makes the failed job run again.
    async with running_bridge(tmp_path, admin_token=TOKEN, retry="1h") as running:
        yield running


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


async def test_without_a_session_the_dashboard_answers_401_with_the_sign_in_form(
    bridge: Bridge,
) -> None:
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        page = await http.get("/admin")
        api = await http.get("/admin/api/actions")
        forged = await http.get("/admin", cookies={"bridge_admin": "99999999999.deadbeef"})
    assert page.status_code == 401
    assert 'name="token"' in page.text
    assert api.status_code == 401
    assert forged.status_code == 401


async def test_an_operator_sees_a_failure_reads_the_response_and_resets(
    bridge: Bridge, browser: Browser
) -> None:
    from playwright.async_api import expect

    context = await browser.new_context(viewport={"width": 1280, "height": 860})
    page = await context.new_page()
    first = await page.goto(f"{bridge.url}/admin")
    assert first is not None and first.status == 401
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    card = page.locator('.action[data-action="rebuild-site"]')
    await expect(card).to_have_attribute("data-health", "ready")
    cookie = next(c for c in await context.cookies() if c["name"] == "bridge_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]

    bridge.target.failing = True
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        body = notification(1)
        accepted = await http.post("/webhooks/kontent", content=body, headers=signed(body))
    assert accepted.json()["jobs"] == 1
    await bridge.target.wait_for_requests(1)

    async def health_is(expected: str) -> bool:
        await page.click("#refresh")
        return bool(await card.get_attribute("data-health") == expected)

    await eventually(lambda: health_is("failing"))
    await expect(card.locator(".badge")).to_have_text("Failing")
    row = page.locator("table.deliveries tbody tr").first
    await expect(row.locator(".pill")).to_have_text("retrying")
    await row.locator("button.open-response").click()
    dialog = page.locator("dialog[open]")
    await expect(dialog).to_be_visible()
    await expect(dialog.locator("pre")).to_contain_text("upstream build service unavailable")
    await expect(dialog).to_contain_text("HTTP 502")
    # The cause sits inside the dialog's padding, lined up with the body below it.
    cause, body = dialog.locator(".dialog-cause"), dialog.locator("pre")
    cause_box, body_box = await cause.bounding_box(), await body.bounding_box()
    assert cause_box is not None and body_box is not None
    assert abs(cause_box["x"] - body_box["x"]) < 1, (cause_box, body_box)
    await dialog.locator("button.copy").click()
    await expect(dialog.locator("button.copy")).to_have_attribute("data-copied", "")
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / "dashboard-failing.png"), full_page=True)
    await dialog.get_by_role("button", name="Close").click()
    await expect(page.locator("dialog[open]")).to_have_count(0)

    bridge.target.failing = False
    await card.get_by_role("button", name="Reset").click()
    await bridge.target.wait_for_requests(2)
    await eventually(lambda: health_is("working"))
    await expect(card.locator(".badge")).to_have_text("Working")
    await expect(row.locator(".pill")).to_have_text("succeeded")
    await page.screenshot(path=str(ARTIFACTS / "dashboard-recovered.png"), full_page=True)

    # Readable on a phone: nothing wider than the screen, the badge still there.
    await page.set_viewport_size({"width": 390, "height": 844})
    await page.reload()
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    await expect(card.locator(".badge")).to_be_visible()
    await page.screenshot(path=str(ARTIFACTS / "dashboard-phone.png"), full_page=True)
    await context.close()
