"""Every dashboard page over hostile stored rows, in a real headless Chromium: nothing stored
runs (no dialog, no console error), nothing is cut off at desktop or phone width, and a job of
thousands of attempts or events stays one small page.

The rows are tests/admin/hostile.py's, written straight into a real SQLite store that the admin
routes serve on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import uvicorn

from tests.admin.browsing import DESKTOP, PHONE, chromium, overflowing, shot, sign_in
from tests.admin.hostile import (
    ACTION,
    MAX_JOB_ID,
    RULE,
    TOKEN,
    hostile_app,
    seed_batch,
    seed_long_job,
    seed_shown_text,
    seeded_store,
)

if TYPE_CHECKING:
    from playwright.async_api import Page

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

SHOWN = 1000
LONG_JOB = 5000
BATCH = 10_000


@pytest.fixture
async def url(tmp_path: Path) -> AsyncIterator[str]:
    async with seeded_store(tmp_path) as (store, _ids):
        path = tmp_path / "bridge.db"
        seed_shown_text(path, SHOWN)
        seed_long_job(path, LONG_JOB, 2000)
        seed_batch(path, BATCH, 10_000, "kb-batch")
        server = uvicorn.Server(
            uvicorn.Config(hostile_app(store), host="127.0.0.1", port=0, log_config=None)
        )
        task = asyncio.create_task(server.serve())
        try:
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.02)
            yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        finally:
            server.should_exit = True
            await task


def pages() -> list[str]:
    jobs = [*range(SHOWN, SHOWN + 12), LONG_JOB, BATCH, BATCH + 9_999, 1, MAX_JOB_ID]
    return [
        "/admin",
        f"/admin/?action={ACTION}&filter=failures",
        "/admin/notifications",
        "/admin/rules",
        f"/admin/rules/{RULE}",
        "/admin/activity",
        *(f"/admin/jobs/{j}" for j in jobs),
    ]


def listen(page: Page) -> list[str]:
    heard: list[str] = []

    async def dialog(d: Any) -> None:
        heard.append(f"dialog: {d.message}")
        await d.dismiss()

    page.on("dialog", dialog)
    page.on("pageerror", lambda e: heard.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: heard.append(f"console: {m.text} {m.location}") if m.type == "error" else None,
    )
    return heard


async def test_no_stored_text_runs_breaks_the_layout_or_makes_a_page_huge(url: str) -> None:
    async with chromium() as browser:
        context = await browser.new_context(viewport=DESKTOP)
        page = await context.new_page()
        await sign_in(page, url, TOKEN)  # its first answer is the sign-in form's 401
        heard = listen(page)
        cut: dict[str, list[str]] = {}
        for path in pages():
            answer = await page.goto(url + path)
            assert answer is not None and answer.status == 200, path
            html = await page.content()
            # 2,000 attempts were 5 MB; a job whose every field held 100 KB was 1.2 MB and
            # took Chromium two minutes to re-wrap at phone width (now cut to SHOWN_CHARS)
            assert len(html) < 300_000, (path, len(html))
            assert "49" not in await page.locator(".cause").all_inner_texts(), path
            for size in (DESKTOP, PHONE):
                await page.set_viewport_size(size)
                if found := await overflowing(page):
                    cut[f"{path} @{size['width']}"] = found
            await page.set_viewport_size(DESKTOP)
        await shot(page, "hostile-last-job")
        await context.close()
    assert heard == []
    assert cut == {}
