"""Sync API sources in the admin: GET /admin/api/sources and the dashboard's Sources cards and
banner, against a running bridge polling the local Sync API (tests/fakes/sync.py).

What an operator whose key expired needs without reading logs: which source fails, since how
many polls, why (the reason and its words, never the key), whether this process is the one
polling, and that it recovers."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import jsonschema_rs  # schemathesis's validator: the same check as tests/admin/test_fuzz.py
import pytest

from bridge.admin import sourceview
from bridge.admin.openapi_bodies import BODIES
from bridge.delivery.clock import SystemClock
from bridge.delivery.model import SourceLease
from bridge.delivery.opening import open_store
from bridge.sources import status
from tests.admin.harness import Bridge, eventually, running_bridge
from tests.admin.sourcing import (
    ENV,
    RIGHT_KEY,
    SOURCE_KEY,
    TOKEN,
    bridge_with_source,
    sources_yaml,
)
from tests.fakes.sync import FakeSync, item_system

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("fresh_metrics")]


@pytest.fixture
async def bridge(tmp_path: Path, sync_api: FakeSync) -> AsyncIterator[Bridge]:
    async with bridge_with_source(tmp_path, sync_api) as running:
        yield running


def api_client(bridge: Bridge) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=bridge.url, headers={"Authorization": f"Bearer {TOKEN}"})


@asynccontextmanager
async def signed_in(bridge: Bridge) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=bridge.url) as client:
        answer = await client.post("/admin/login", data={"token": TOKEN, "next": "/admin"})
        assert answer.status_code == 303
        yield client


async def source(http: httpx.AsyncClient, name: str = "prod") -> dict[str, Any]:
    """The source's entry of GET /admin/api/sources, whose body matches its OpenAPI schema."""
    answer = await http.get("/admin/api/sources")
    assert answer.status_code == 200, answer.text
    jsonschema_rs.validator_for(BODIES["sources"]).validate(answer.json())
    found: dict[str, Any] = next(s for s in answer.json()["sources"] if s["name"] == name)
    return found


def card_of(page: str, name: str) -> str:
    start = page.index(f'data-source="{name}"')
    return page[start : page.index("</article>", start)]


async def test_an_expired_key_shows_as_a_failing_source_with_its_cause_and_never_the_key(
    bridge: Bridge, sync_api: FakeSync
) -> None:
    """Before: /metrics had the numbers; the admin API and the dashboard had no trace of sources."""
    async with api_client(bridge) as http:
        await eventually(lambda: sync_api.syncs >= 2)  # a second poll: the first was recorded
        working = await source(http)
        assert working["state"] == "working"
        assert working["environment_id"] == ENV and working["slot"] == "published"
        assert working["lease"]["held_here"] is True and working["lease"]["owner"]
        assert working["last_success_at"] and working["last_success_at"].endswith("Z")
        assert working["last_failure"] is None and working["consecutive_failures"] == 0

        sync_api.change(ENV, item_system("item-1"))

        async def accepted() -> bool:
            return bool((await source(http))["deltas"]["accepted"] == 1)

        await eventually(accepted)

        sync_api.secure_key = RIGHT_KEY  # the source's key no longer opens the environment

        async def failing_twice() -> bool:
            return bool((await source(http))["consecutive_failures"] >= 2)

        await eventually(failing_twice)
        answer = await http.get("/admin/api/sources")
        failing = next(s for s in answer.json()["sources"] if s["name"] == "prod")
        assert failing["state"] == "failing"
        assert failing["last_failure"]["reason"] == "unauthorized"
        assert "secure_access_key" in failing["last_failure"]["message"]
        assert "401" in failing["last_failure"]["message"]
        assert failing["last_failure_at"] == failing["last_failure"]["at"]
        assert failing["errors"]["unauthorized"] >= 2
        assert failing["deltas"] == {"accepted": 1, "skipped": 0}
        assert answer.json()["process"]["pid"] > 0
        assert SOURCE_KEY not in answer.text and RIGHT_KEY not in answer.text

        async with signed_in(bridge) as browser:
            page = (await browser.get("/admin")).text
            elsewhere = (await browser.get("/admin/rules")).text
        card = card_of(page, "prod")
        assert 'data-state="failing"' in card and ">Failing</span>" in card
        assert "unauthorized" in card and "secure_access_key" in card
        assert re.search(r'class="failures">[2-9]\d*</span> failed polls in a row', card)
        assert 'id="sources-banner"' in page and 'id="sources-banner"' in elsewhere
        assert "The Sync API source prod is failing" in elsewhere
        assert "each replica shows its own" in page
        assert SOURCE_KEY not in page and SOURCE_KEY not in elsewhere

        sync_api.secure_key = None  # the key is fixed: the next poll succeeds

        async def recovered() -> bool:
            return bool((await source(http))["state"] == "working")

        await eventually(recovered)
        back = await source(http)
        assert back["consecutive_failures"] == 0
        assert back["last_failure"]["reason"] == "unauthorized"  # kept, for the record
        async with signed_in(bridge) as browser:
            page = (await browser.get("/admin")).text
        assert 'id="sources-banner"' not in page
        assert 'data-state="working"' in card_of(page, "prod")
        assert "Last failure" in card_of(page, "prod")


async def test_a_source_another_replica_holds_is_not_polled_here_and_says_so(
    tmp_path: Path, sync_api: FakeSync
) -> None:
    # Another replica's lease, taken in the shared store before this bridge starts.
    store = open_store(f"sqlite:///{tmp_path}/bridge.db", SystemClock())
    await store.open()
    try:
        held = await store.claim_source("prod", owner="other-replica", lease_s=3600)
        assert held is not None
    finally:
        await store.close()
    async with bridge_with_source(tmp_path, sync_api) as bridge, api_client(bridge) as http:

        async def tried() -> bool:
            return bool((await source(http))["note"].startswith("Another replica"))

        await eventually(tried)
        found = await source(http)
        async with signed_in(bridge) as browser:
            page = (await browser.get("/admin")).text
    assert found["state"] == "idle"
    assert found["lease"]["held_here"] is False and found["lease"]["owner"] == "other-replica"
    assert found["note"] == "Another replica holds its lease and polls it: other-replica."
    assert found["last_success_at"] is None and found["last_failure"] is None
    assert sync_api.syncs == 0 and sync_api.inits == 0  # it never polled
    card = card_of(page, "prod")
    assert 'data-state="idle"' in card and "Not polling here" in card
    assert "Another replica holds its lease and polls it: other-replica." in card
    assert 'id="sources-banner"' not in page


async def test_without_sources_the_api_lists_none_and_the_page_has_no_sources_section(
    tmp_path: Path,
) -> None:
    async with running_bridge(tmp_path, admin_token=TOKEN) as bridge:
        async with api_client(bridge) as http:
            answer = await http.get("/admin/api/sources")
            spec = (await http.get("/admin/api/openapi.json")).json()
        async with signed_in(bridge) as browser:
            page = (await browser.get("/admin")).text
    assert answer.status_code == 200 and answer.json()["sources"] == []
    assert "/sources" in spec["paths"]
    assert 'id="sources"' not in page and "Sync API" not in page


async def test_the_sources_api_needs_the_admin_token(bridge: Bridge) -> None:
    async with httpx.AsyncClient(base_url=bridge.url) as http:
        answer = await http.get("/admin/api/sources")
    assert answer.status_code == 401


async def test_a_first_poll_in_flight_is_starting_and_a_disabled_source_polls_nowhere(
    tmp_path: Path, sync_api: FakeSync
) -> None:
    sync_api.stall()  # the first sync request is held: the first poll has not ended
    extra = sources_yaml(sync_api.base_url()) + (
        f'  - {{name: paused, environment_id: "{ENV}", enabled: false, '
        f'api_url: "{sync_api.base_url()}"}}\n'
    )
    async with running_bridge(tmp_path, admin_token=TOKEN, extra_config=extra) as bridge:
        await eventually(lambda: sync_api.stalled >= 1)
        async with api_client(bridge) as http:
            starting, paused = await source(http), await source(http, "paused")
        async with signed_in(bridge) as browser:
            page = (await browser.get("/admin")).text
        sync_api.release()
    assert starting["state"] == "starting" and starting["lease"]["held_here"] is True
    assert starting["last_success_at"] is None and starting["last_failure"] is None
    assert paused["state"] == "idle" and paused["enabled"] is False
    assert paused["note"].startswith("Disabled in the config")
    assert ">Starting</span>" in card_of(page, "prod")
    assert "its first poll has not ended yet" in card_of(page, "prod")
    paused_card = card_of(page, "paused")
    assert "Not polling here" in paused_card and ">disabled</span>" in paused_card
    assert 'id="sources-banner"' not in page


def test_without_the_stores_leases_a_replica_does_not_claim_that_nobody_polls() -> None:
    source = SimpleNamespace(enabled=True)
    seen = status.SourceStatus("prod", lease_held=False, owner="host-b:9:abcdef")
    other = SourceLease("host-a:7:1f2e3d", 1e12)
    assert sourceview.state_of(source, seen, other) == (
        "idle",
        "Another replica holds its lease and polls it: host-a:7:1f2e3d.",
    )
    assert sourceview.state_of(source, seen)[1] == (
        "No replica holds its lease right now: one takes it within seconds."
    )
    assert sourceview.state_of(source, seen, leases_known=False)[1] == (
        "Another replica holds its lease, or none does (the store cannot say)."
    )
