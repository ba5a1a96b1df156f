"""The deliveries page's search: each filter alone, exact 400 reasons, paging keeps the query."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from bridge.admin.dashboard import templates
from bridge.admin.search import DeliverySearch, delivery_search
from bridge.delivery.model import JobDetail
from bridge.events import Event
from tests.admin.conftest import sign_in
from tests.admin.fakes import NOW, FakeStore, row

ITEMS = {
    1: ("item-aaa", "about_us", "About us", "req-111"),
    2: ("item-bbb", "breaking_news", "Breaking news", "req-222"),
    3: ("item-ccc", "contact", "Contact", "req-333"),
}


@pytest.fixture
async def signed_in(
    make_client: Callable[..., httpx.AsyncClient], store: FakeStore
) -> AsyncIterator[httpx.AsyncClient]:
    async def job(job_id: int) -> JobDetail | None:
        found = next((r for r in store.rows if r.job_id == job_id), None)
        if found is None:
            return None
        item, codename, name, request = ITEMS[job_id]
        event = Event(
            object_type="content_item", action="published", id=item, codename=codename, name=name
        )
        return JobDetail(found, "k", request, {}, (event,), ())

    store.job = job  # type: ignore[method-assign]
    store.rows[1] = row(
        2, "rebuild-site", "retrying", rule="rebuild", failures=4, created_at=NOW - 7200
    )
    async with make_client() as client:
        await sign_in(client)
        yield client


def jobs_listed(page: str) -> list[int]:
    table = page[page.index('id="deliveries-title"') :]
    return [int(n) for n in re.findall(r'<tr class="state-\w+" data-job="(\d+)">', table)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("codename=breaking_news", [2]),
        ("item_id=item-ccc", [3]),
        ("name=about", [1]),
        ("request_id=req-333", [3]),
        ("q=req-111", [1]),
        ("q=CONTACT", [3]),
        ("rule=rebuild", [2]),
        ("state=succeeded", [3, 1]),
        ("since=1h", [3, 1]),
        ("until=2023-11-14T21:00:00", [2]),
        ("action=rebuild-site&state=succeeded", [3]),
        ("filter=active_failures&q=breaking", [2]),
        ("codename=nothing", []),
    ],
)
async def test_each_filter_finds_exactly_its_jobs(
    signed_in: httpx.AsyncClient, query: str, expected: list[int]
) -> None:
    page = await signed_in.get(f"/admin/?{query}")
    assert page.status_code == 200
    assert jobs_listed(page.text) == expected
    if not expected:
        assert '<p class="empty">No delivery matches this search.</p>' in page.text
    else:
        count = len(expected)
        assert f"{count} matching job{'' if count == 1 else 's'} shown." in page.text


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        (
            "state=broken",
            "state must be one of pending, running, retrying, succeeded, dead, got 'broken'",
        ),
        (
            "since=yesterday",
            "since must be a time such as 2026-12-02T01:30 (UTC) or a duration back "
            "from now such as 2h, got 'yesterday'",
        ),
        ("since=1h&until=2h", "since must be before until"),
        ("filter=some", "filter must be one of all, failures, active_failures, got 'some'"),
    ],
)
async def test_bad_search_values_are_400_with_the_reason(
    signed_in: httpx.AsyncClient, query: str, reason: str
) -> None:
    page = await signed_in.get(f"/admin/?{query}")
    assert page.status_code == 400
    assert reason.replace("'", "&#39;") in page.text


async def test_tabs_and_pages_keep_the_search(signed_in: httpx.AsyncClient) -> None:
    page = (await signed_in.get("/admin/?q=a&state=succeeded&limit=1")).text
    assert 'href="/admin/?q=a&amp;state=succeeded&amp;filter=failures"' in page
    assert 'href="/admin/?q=a&amp;state=succeeded&amp;offset=1">Older →</a>' in page


async def test_the_search_box_gives_back_what_was_typed(signed_in: httpx.AsyncClient) -> None:
    # Page text shows a bidi override as its escape (bridge.visible); the box showed it so
    # too, and submitting the page again searched for the six characters `\u202e`.
    typed = {"q": "a\u202eb<i>", "codename": "c\u202ed", "name": "n\u2067", "since": "2h"}
    page = (await signed_in.get("/admin/", params=typed)).text
    assert 'name="q" value="a\u202eb&lt;i&gt;"' in page
    assert 'name="codename" value="c\u202ed"' in page and 'name="name" value="n\u2067"' in page
    # The page's own URL goes back whole in its buttons' `next`: 1,000 accented letters are
    # 9,000 characters once URL-encoded, past the 4,000 a printed value is cut at.
    job = (await signed_in.get("/admin/jobs/2", params={"attempts": "é" * 1000})).text
    assert f'name="next" value="/admin/jobs/2?attempts={"%C3%A9" * 1000}"' in job
    # and so do the links pages build from names (at most 1,000 characters: 9,000 encoded)
    link = templates.from_string('<a href="/r/{{ n | urlencode }}{{ qs({"rule": n}) }}">')
    assert link.render(n="é" * 1000) == f'<a href="/r/{"%C3%A9" * 1000}?rule={"%C3%A9" * 1000}">'


def test_a_plain_page_is_not_a_search() -> None:
    plain: Any = delivery_search({"filter": "failures", "action": "x"}, NOW)
    assert plain == DeliverySearch(action="x", filter="failures")
    assert not plain.narrowed
    assert delivery_search({"until": "30m"}, NOW).until == NOW - 1800
