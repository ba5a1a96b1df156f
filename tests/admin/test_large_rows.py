"""Rows too large to show whole, in a real SQLite store: the job page of a job retried
thousands of times pages its attempts; a job of a large batch names the whole call; a value of
100,000 characters is cut to what a browser can lay out, and the API keeps it whole."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from bridge import redaction
from bridge.admin.auth import COOKIE_NAME, Guard
from bridge.admin.jobview import ATTEMPTS_SHOWN
from bridge.admin.present import SHOWN_CHARS, shown
from tests.admin.hostile import (
    SHOWN_TEXT,
    TOKEN,
    hostile_app,
    seed_batch,
    seed_long_job,
    seed_shown_text,
    seeded_store,
)

pytestmark = pytest.mark.timeout(60)

LONG_JOB = 5000
ATTEMPTS = 2000
BATCH_FIRST = 10_000
BATCH = 1_500  # more than the 1,000 newest rows the call was once looked for in
SHOWN_FIRST = 1000
LONG_VALUE_JOB = SHOWN_FIRST + next(n for n, text in enumerate(SHOWN_TEXT) if len(text) > 50_000)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with seeded_store(tmp_path) as (store, _ids):
        seed_long_job(tmp_path / "bridge.db", LONG_JOB, ATTEMPTS)
        seed_batch(tmp_path / "bridge.db", BATCH_FIRST, BATCH, "kb-batch")
        seed_shown_text(tmp_path / "bridge.db", SHOWN_FIRST)
        transport = httpx.ASGITransport(app=hostile_app(store))
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://bridge.test",
            headers={"Authorization": f"Bearer {TOKEN}"},
            cookies={COOKIE_NAME: Guard(TOKEN).new_session()},
        ) as http:
            yield http


def attempt_numbers(page: str) -> list[int]:
    shown = page[page.index('<ol class="attempts"') : page.index("</ol>")]
    return [int(part.split("</strong>")[0]) for part in shown.split("<strong>Attempt ")[1:]]


async def test_the_job_page_shows_the_newest_attempts_and_links_to_older_ones(
    client: httpx.AsyncClient,
) -> None:
    first = await client.get(f"/admin/jobs/{LONG_JOB}")
    assert first.status_code == 200
    # all 2,000 attempts with their responses were 5 MB of HTML
    assert len(first.text) < 200_000
    assert attempt_numbers(first.text) == list(range(ATTEMPTS, ATTEMPTS - ATTEMPTS_SHOWN, -1))
    assert f"of {ATTEMPTS}, newest first" in first.text
    assert f'href="?attempts={ATTEMPTS_SHOWN}">Older attempts' in first.text
    assert "Newer attempts" not in first.text

    second = (await client.get(f"/admin/jobs/{LONG_JOB}?attempts={ATTEMPTS_SHOWN}")).text
    top = ATTEMPTS - ATTEMPTS_SHOWN
    assert attempt_numbers(second) == list(range(top, top - ATTEMPTS_SHOWN, -1))
    assert 'href="?attempts=0">← Newer attempts' in second

    last = (await client.get(f"/admin/jobs/{LONG_JOB}?attempts={ATTEMPTS - 5}")).text
    assert attempt_numbers(last) == [5, 4, 3, 2, 1]
    assert "Older attempts" not in last


@pytest.mark.parametrize("odd", ["x", "-1", "99999999", "1e3", "٣"])
async def test_an_attempts_offset_no_page_has_shows_the_first_page(
    client: httpx.AsyncClient, odd: str
) -> None:
    page = await client.get(f"/admin/jobs/{LONG_JOB}", params={"attempts": odd})
    assert page.status_code == 200
    assert attempt_numbers(page.text)[0] == ATTEMPTS


async def test_the_api_still_has_every_attempt(client: httpx.AsyncClient) -> None:
    job = (await client.get(f"/admin/api/jobs/{LONG_JOB}")).json()
    assert len(job["attempt_log"]) == ATTEMPTS


@pytest.mark.parametrize("job_id", [BATCH_FIRST, BATCH_FIRST + 700, BATCH_FIRST + BATCH - 1])
async def test_a_job_of_a_large_batch_counts_the_whole_call_and_lists_itself(
    client: httpx.AsyncClient, job_id: int
) -> None:
    page = (await client.get(f"/admin/jobs/{job_id}")).text
    assert '<h2 id="call-title">Delivered in one call with 1,499 other jobs</h2>' in page
    assert (
        f'<tr class="this-job">\n      <td data-label="Job"><a href="/admin/jobs/{job_id}">' in page
    )
    assert "of the 1,500 are listed" in page

    job = (await client.get(f"/admin/api/jobs/{job_id}")).json()
    assert job["call_size"] == BATCH
    listed = [mate["job_id"] for mate in job["call"]]
    assert listed[:50] == list(range(BATCH_FIRST, BATCH_FIRST + 50))
    assert job_id in listed and len(listed) <= 51


async def test_a_job_delivered_alone_has_no_call(client: httpx.AsyncClient) -> None:
    job = (await client.get(f"/admin/api/jobs/{LONG_JOB}")).json()
    assert job["call"] == [] and job["call_size"] == 0
    assert 'id="call-title"' not in (await client.get(f"/admin/jobs/{LONG_JOB}")).text


async def test_a_value_of_100_000_characters_is_cut_on_the_page_and_whole_in_the_api(
    client: httpx.AsyncClient,
) -> None:
    # Its summary, request id, error, response and recorded request each hold 100,000 "A"s:
    # 1.2 MB of HTML that Chromium took two minutes to re-wrap at phone width.
    page = await client.get(f"/admin/jobs/{LONG_VALUE_JOB}")
    assert page.status_code == 200
    assert len(page.text) < 200_000
    assert "A" * SHOWN_CHARS in page.text and "A" * (SHOWN_CHARS + 1) not in page.text
    assert "[96,000 more characters: the admin API has the whole value]" in page.text

    job = (await client.get(f"/admin/api/jobs/{LONG_VALUE_JOB}")).json()
    assert job["last_error"] == job["attempt_log"][0]["response"] == "A" * 100_000


def test_a_cut_value_is_redacted_before_it_is_cut() -> None:
    secret = "s3cr3t-token-value"
    redaction.redactor.set_secrets([secret])
    try:
        # the secret straddles the cut: cutting first would print its first half
        text = "x" * (SHOWN_CHARS - 5) + secret + "y" * 100
        printed = shown(text)
        assert "s3cr3" not in printed
        assert printed.startswith("x" * (SHOWN_CHARS - 5) + redaction.REDACTED)
        assert shown("short") == "short"
    finally:
        redaction.redactor.set_secrets([])
