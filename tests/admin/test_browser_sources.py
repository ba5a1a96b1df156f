"""The Sync API sources on the dashboard, in a real headless Chromium at desktop and phone
width: a failing source's banner on every page and its card with the cause, a working one, one
another replica polls; and a proxy's hostile error page as the cause. Screenshots go to
test-artifacts/ (sources-*.png)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bridge.delivery.clock import SystemClock
from bridge.delivery.opening import open_store
from tests.admin.browsing import DESKTOP, PHONE, chromium, overflowing, shot, sign_in
from tests.admin.harness import Bridge, eventually, running_bridge
from tests.admin.sourcing import (
    ENV,
    RIGHT_KEY,
    SOURCE_KEY,
    TOKEN,
    bridge_with_source,
    hostile_page,
    sources_yaml,
)
from tests.fakes.sync import FakeSync, item_system

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(120),
    pytest.mark.usefixtures("fresh_metrics"),
]

PREVIEW_ENV = "0c4f9a2e-7b1d-4e3a-9f8c-5d6e7f8a9b0c"


def three_sources(sync_url: str, preview_url: str) -> str:
    return (
        sources_yaml(sync_url)
        + f"""\
  - name: preview
    environment_id: "{PREVIEW_ENV}"
    slot: preview
    interval: 1s
    api_url: "{preview_url}"
    preview_api_key: preview-key
  - name: archive
    environment_id: "{ENV}"
    interval: 10m
    api_url: "{sync_url}"
"""
    )


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def sources(bridge: Bridge) -> dict[str, dict[str, Any]]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=bridge.url, headers=headers) as http:
        answer = await http.get("/admin/api/sources")
    return {s["name"]: s for s in answer.json()["sources"]}


def listen(page: Page) -> list[str]:
    heard: list[str] = []

    async def dialog(d: Any) -> None:
        heard.append(f"dialog: {d.message}")
        await d.dismiss()

    page.on("dialog", dialog)
    page.on("console", lambda m: heard.append(f"console: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: heard.append(f"pageerror: {e}"))
    return heard


async def look(page: Page, path: str, name: str, url: str) -> None:
    """The page at both widths: nothing cut off or wider than the screen; a screenshot each."""
    for size, width in ((DESKTOP, "desktop"), (PHONE, "phone")):
        await page.set_viewport_size(size)
        await page.goto(f"{url}{path}")
        assert await overflowing(page) == [], f"{path} at {width}"
        await shot(page, f"{name}-{width}")


async def test_an_operator_sees_which_source_fails_why_and_where_it_is_polled(
    tmp_path: Path, sync_api: FakeSync, browser: Browser
) -> None:
    from playwright.async_api import expect

    store = open_store(f"sqlite:///{tmp_path}/bridge.db", SystemClock())
    await store.open()
    try:  # another replica polls `archive`
        assert await store.claim_source("archive", owner="replica-b", lease_s=3600) is not None
    finally:
        await store.close()
    sync_api.secure_key = RIGHT_KEY  # prod's key was rotated on Kontent.ai's side
    extra = three_sources(sync_api.base_url(), sync_api.base_url("preview"))
    async with running_bridge(tmp_path, admin_token=TOKEN, extra_config=extra) as bridge:

        async def preview_polls() -> bool:
            return bool((await sources(bridge))["preview"]["state"] == "working")

        await eventually(preview_polls)  # from its first token on, changes are its to bring
        sync_api.change(PREVIEW_ENV, item_system("draft-1"), slot="preview")

        async def settled() -> bool:
            found = await sources(bridge)
            return bool(
                found["prod"]["consecutive_failures"] >= 2
                and found["preview"]["state"] == "working"
                and found["preview"]["deltas"]["accepted"] == 1
                and found["archive"]["note"].startswith("Another replica")
            )

        await eventually(settled)
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await sign_in(page, bridge.url, TOKEN)  # its first answer is the sign-in form's 401

        banner = page.locator("#sources-banner")
        await expect(banner).to_contain_text("The Sync API source prod is failing")
        await expect(banner).to_contain_text("unauthorized")
        prod = page.locator('.source[data-source="prod"]')
        await expect(prod.locator(".badge")).to_have_text("Failing")
        await expect(prod.locator("p.cause")).to_contain_text("secure_access_key")
        await expect(prod.locator(".lease")).to_contain_text("Lease held by this process")
        preview = page.locator('.source[data-source="preview"]')
        await expect(preview.locator(".badge")).to_have_text("Working")
        await expect(preview.locator("dd.accepted")).to_have_text("1")
        await expect(preview.locator(".last time")).to_have_count(1)  # relative, UTC beside
        await expect(preview.locator(".last .abs")).to_contain_text("UTC")
        archive = page.locator('.source[data-source="archive"]')
        await expect(archive.locator(".badge")).to_have_text("Not polling here")
        await expect(archive).to_contain_text("Another replica holds its lease")
        await expect(page.locator(".source-scope")).to_contain_text("each replica shows its own")

        heard = listen(page)
        await look(page, "/admin", "sources", bridge.url)
        await look(page, "/admin/rules", "sources-banner", bridge.url)
        assert SOURCE_KEY not in await page.content()
        assert heard == []
        await context.close()


async def test_a_hostile_cause_renders_as_text_at_both_widths(
    tmp_path: Path, sync_api: FakeSync, browser: Browser
) -> None:
    for _ in range(200):
        sync_api.fail_next(502, hostile_page(), {"Content-Type": "text/html; charset=utf-8"})
    async with bridge_with_source(tmp_path, sync_api) as bridge:

        async def failing() -> bool:
            return bool((await sources(bridge))["prod"]["consecutive_failures"] >= 1)

        await eventually(failing)
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await sign_in(page, bridge.url, TOKEN)
        heard = listen(page)
        cause = page.locator('.source[data-source="prod"] p.cause')
        await expect_text(cause, "<script>alert('source')</script>")
        await expect_text(cause, "\\u202etxt.exe")
        await look(page, "/admin", "sources-hostile", bridge.url)
        assert await page.locator("img").count() == 0  # the answer's <img> is text
        assert SOURCE_KEY not in await page.content()
        assert heard == []
        await context.close()


async def expect_text(locator: Any, text: str) -> None:
    from playwright.async_api import expect

    await expect(locator).to_contain_text(text)
