"""What the dashboard's browser tests share: Chromium, signing in, screenshots, overflow.

Chromium is Debian's (`BRIDGE_TEST_CHROMIUM`, default /usr/bin/chromium) driven by Playwright
with `executable_path`; without it the tests skip with a printed reason, except under CI=true.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from playwright.async_api import Browser, Page

CHROMIUM = os.environ.get("BRIDGE_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).parents[2] / "test-artifacts"
DESKTOP: Any = {"width": 1280, "height": 860}
PHONE: Any = {"width": 390, "height": 844}

# Elements cut off at the right: content wider than their box, or a box past the viewport.
# `.sr-only` labels are 1 px on purpose (read by screen readers, never seen).
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const found = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".sr-only, dialog:not([open])")) continue;
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    const cut = el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1
      && !["auto", "scroll"].includes(getComputedStyle(el).overflowX);
    if (cut || box.right > width + 0.5) {
      const name = `${el.tagName.toLowerCase()}.${el.className}`;
      found.push(`${name} (${el.scrollWidth} > ${el.clientWidth}, right ${box.right})`);
    }
  }
  return found;
}"""


def need_chromium() -> None:
    if Path(CHROMIUM).exists() or shutil.which(CHROMIUM):
        return
    reason = f"Chromium not found at {CHROMIUM} (Debian package `chromium`)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; CI must run the browser test")
    print(f"skipping: {reason}")
    pytest.skip(reason)


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    need_chromium()
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


async def sign_in(page: Page, url: str, token: str) -> None:
    await page.goto(f"{url}/admin")
    await page.fill("#token", token)
    await page.click("button[type=submit]")


async def overflowing(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(OVERFLOWING)
    return found


async def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
