"""A source's failure text is whatever an API or a proxy answered: it renders as text on the
dashboard (escaped, bidi controls shown, bounded) and in the API, and never shows the key."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.sources import CycleResult, status
from tests.admin.harness import Bridge, eventually
from tests.admin.sourcing import (
    BIDI,
    SCRIPT,
    SOURCE_KEY,
    TOKEN,
    bridge_with_source,
    cut_secret_error,
    hostile_page,
)
from tests.fakes.sync import FakeSync

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fresh_metrics")]

# A page with one source card (and its banner) is some 20 KB: a 100 KB message made it larger.
PAGE_LIMIT_BYTES = 60_000


async def sources_answer(bridge: Bridge) -> httpx.Response:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(base_url=bridge.url, headers=headers) as http:
        return await http.get("/admin/api/sources")


def prod(answer: httpx.Response) -> dict[str, Any]:
    found: dict[str, Any] = answer.json()["sources"][0]
    return found


async def dashboard(bridge: Bridge, path: str = "/admin") -> str:
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        signed = await http.post("/admin/login", data={"token": TOKEN, "next": "/admin"})
        assert signed.status_code == 303
        page = await http.get(path)
    assert page.status_code == 200
    return page.text


def assert_rendered_as_text(page: str) -> None:
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;source&#39;)&lt;/script&gt;" in page
    for control in ("\u202e", "\u202c", "\u2066", "\u2069", "\u200f"):
        assert control not in page
    assert "\\u202etxt.exe" in page  # shown, as bridge.visible writes it
    assert SOURCE_KEY not in page
    assert len(page.encode()) < PAGE_LIMIT_BYTES


async def test_a_proxys_hostile_error_page_is_shown_as_text_and_without_the_key(
    tmp_path: Path, sync_api: FakeSync
) -> None:
    for _ in range(200):  # every poll of the test answers the proxy's page
        sync_api.fail_next(502, hostile_page(), {"Content-Type": "text/html; charset=utf-8"})
    async with bridge_with_source(tmp_path, sync_api) as bridge:

        async def failing() -> bool:
            return bool(prod(await sources_answer(bridge))["consecutive_failures"] >= 1)

        await eventually(failing)
        answer = await sources_answer(bridge)
        overview = await dashboard(bridge)
        rules = await dashboard(bridge, "/admin/rules")  # the banner is on every page
    found = prod(answer)
    assert found["state"] == "failing"
    assert found["last_failure"]["reason"] == "server_error"
    message = found["last_failure"]["message"]
    assert message.startswith("Sync API answered 502 to ")
    assert SCRIPT in message and BIDI in message  # the API gives the text as kept
    assert len(message) <= status.MESSAGE_CHARS + 40
    assert SOURCE_KEY not in answer.text and "***" in message
    assert_rendered_as_text(overview)
    assert_rendered_as_text(rules)
    assert 'data-state="failing"' in overview and 'id="sources-banner"' in rules


async def test_a_100_kb_message_is_kept_bounded_and_redacted_before_the_cut(
    tmp_path: Path, sync_api: FakeSync
) -> None:
    """Cut first, then redacted, the start of the key would stay in view; and 100 KB in one
    card froze Chromium's layout (present.SHOWN_CHARS)."""
    sync_api.stall()  # the poller holds the lease, its first poll never ends: nothing overwrites
    async with bridge_with_source(tmp_path, sync_api) as bridge:
        await eventually(lambda: sync_api.stalled >= 1)
        owner = status.snapshot()["prod"].owner
        error = cut_secret_error()
        result = CycleResult(held=True, error=error, reason="server_error")
        status.cycled("prod", result, 3, owner=owner)
        kept = status.snapshot()["prod"].last_failure_message
        answer = await sources_answer(bridge)
        page = await dashboard(bridge)
        sync_api.release()
        await asyncio.sleep(0)
    assert kept is not None and len(kept) <= status.MESSAGE_CHARS + 40
    assert kept.endswith(" characters)")
    assert SOURCE_KEY[:8] not in kept  # hidden whole before the cut, not half of it after
    found = prod(answer)
    assert found["state"] == "failing" and found["consecutive_failures"] == 3
    assert found["last_failure"]["message"] == kept
    assert_rendered_as_text(page)
    assert "characters)</p>" in page
