"""The Activity page: deliveries, failed attempts and queue depth per action over time (derived
from the log when the store has no series query), and the rejected webhook requests."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bridge.admin import activity
from bridge.delivery.model import AttemptRow
from bridge.receiver import rejections
from tests.admin.conftest import TOKEN
from tests.admin.fakes import NOW, FakeStore, row
from tests.admin.harness import notification, running_bridge, signed


@pytest.fixture
def clean_rejections() -> Iterator[None]:
    rejections.clear()
    yield
    rejections.clear()


def chart_of(page: str, name: str) -> str:
    start = page.index(f'data-chart="{name}"')
    return page[start : page.index("</article>", start)]


async def test_the_chart_counts_each_delivery_failure_and_waiting_job_in_its_bucket(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    # 1h window, 5 min buckets ending at the bucket after NOW.
    store.rows = [
        row(1, "rebuild-site", "succeeded", created_at=NOW - 1500, last_attempt_at=NOW - 1490),
        row(
            2,
            "rebuild-site",
            "retrying",
            created_at=NOW - 1400,
            last_attempt_at=NOW - 60,
            failures=3,
        ),
        row(3, "rebuild-site", "pending", created_at=NOW - 30, last_attempt_at=None),
        row(4, "content-team", "succeeded", created_at=NOW - 100, last_attempt_at=NOW - 90),
    ]
    store.attempts[2] = tuple(
        AttemptRow(n, at, at + 1, "retry", 502, "bad", "HTTP 502", "d")
        for n, at in enumerate((NOW - 1390, NOW - 1000, NOW - 60), start=1)
    )
    page = await signed_in.get("/admin/activity?window=1h")
    assert page.status_code == 200
    chart = chart_of(page.text, "rebuild-site")
    assert (
        '<span class="delivered-total">1 delivered</span> · <span class="failed-total">3 failed '
        'attempts</span> · <span class="queued-total">2 waiting now</span>' in chart
    )
    assert 'aria-label="rebuild-site: 1 delivered, 3 failed attempts; at most 2 waiting"' in chart
    tips = re.findall(r"<title>(\d\d:\d\d: [^<]*)</title>", chart)
    assert len(tips) == 12  # 1 h of 5 min buckets
    assert tips[-1].endswith(": 0 delivered, 1 failed attempt, 2 waiting")
    # Buckets start at NOW - 3500: job 1 is delivered in the 7th, job 2 fails first in the 8th
    # (and waits from the 7th's end, when it was created), again in the 9th and in the last.
    counts = [tip.split(": ", 1)[1] for tip in tips]
    assert counts[6] == "1 delivered, 0 failed attempts, 1 waiting"
    assert counts[7] == counts[8] == "0 delivered, 1 failed attempt, 1 waiting"
    assert counts[:6] == ["0 delivered, 0 failed attempts, 0 waiting"] * 6
    assert "5 min" in page.text
    content = chart_of(page.text, "content-team")
    assert '<span class="delivered-total">1 delivered</span>' in content


async def test_a_bad_window_is_400(signed_in: httpx.AsyncClient) -> None:
    page = await signed_in.get("/admin/activity?window=2w")
    assert page.status_code == 400
    assert "window must be one of 1h, 6h, 24h, 3d, got &#39;2w&#39;" in page.text


def test_windows_have_whole_buckets() -> None:
    assert all(span % bucket == 0 for span, bucket in activity.WINDOWS.values())


async def test_rejected_requests_are_counted_per_webhook_with_their_reasons(
    tmp_path: Path, clean_rejections: None
) -> None:
    async with (
        running_bridge(tmp_path, admin_token=TOKEN, retry="1h") as bridge,
        httpx.AsyncClient(base_url=bridge.url) as http,
    ):
        body = notification(1)
        unsigned = await http.post(
            "/webhooks/kontent", content=body, headers={"Content-Type": "application/json"}
        )
        wrong = await http.post(
            "/webhooks/kontent", content=body, headers=signed(body, "another-secret")
        )
        broken = b'{"notifications": [}'
        malformed = await http.post("/webhooks/kontent", content=broken, headers=signed(broken))
        huge = b" " * (5 * 1024 * 1024 + 1)
        too_large = await http.post("/webhooks/kontent", content=huge, headers=signed(huge))
        assert [r.status_code for r in (unsigned, wrong, malformed, too_large)] == [
            401,
            401,
            400,
            413,
        ]
        login = await http.post("/admin/login", data={"token": TOKEN})
        assert login.status_code == 303
        page = (await http.get("/admin/activity")).text
    table = page[page.index('<table class="rejected">') :]
    cells = re.findall(r'<td data-label="(\d+)" class="num">(\d+)</td>', table)
    assert cells == [("401", "2"), ("400", "1"), ("413", "1")]
    reasons = re.findall(r'<span class="pill pill-failed">(\d+)</span> ([^<]*) <span', table)
    assert [status for status, _ in reasons] == ["413", "400", "401", "401"]
    assert reasons[2][1] == "the signature verified with none of the webhook&#39;s secrets"
    assert reasons[3][1] == "no X-Kontent-ai-Signature (or X-KC-Signature) header"
    assert reasons[1][1].startswith("body is not valid JSON")
    assert malformed.json()["error"] in reasons[1][1].replace("&#39;", "'")
    assert too_large.json()["error"] == reasons[0][1].replace("&#39;", "'")
