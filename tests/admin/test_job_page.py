"""The job page: the request each attempt sent (redacted), the inputs the next attempt renders,
and every job and event of a coalesced call."""

from __future__ import annotations

import html as htmllib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from types import SimpleNamespace

import httpx
import pytest

from bridge.delivery.model import JobDetail
from bridge.events import Event
from tests.admin.conftest import sign_in
from tests.admin.fakes import NOW, FakeStore, row


@pytest.fixture
async def signed_in(
    make_client: Callable[..., httpx.AsyncClient], store: FakeStore
) -> AsyncIterator[httpx.AsyncClient]:
    store.rows = [
        row(1, "content-team", "succeeded"),
        row(2, "rebuild-site", "retrying", failures=1, delivery_id="kb-7", last_status=502),
        row(3, "rebuild-site", "retrying", failures=1, delivery_id="kb-7", last_status=502),
        row(4, "rebuild-site", "retrying", failures=1, delivery_id="kb-8"),
    ]
    sent = SimpleNamespace(
        number=1,
        started_at=NOW - 60,
        finished_at=NOW - 59,
        outcome="retry",
        status=502,
        response="Bad gateway",
        error="rebuild-site answered 502",
        delivery_id="kb-7",
        request={
            "method": "POST",
            "url": "https://hooks.example/build",
            "headers": {"Authorization": "Bearer sk-live-123", "Content-Type": "application/json"},
            "body": {"events": [{"name": "Article 2"}]},
        },
    )
    unrecorded = SimpleNamespace(**{**vars(sent), "number": 2, "request": None})

    async def job(job_id: int) -> JobDetail | None:
        found = next((r for r in store.rows if r.job_id == job_id), None)
        if found is None:
            return None
        event = Event(object_type="content_item", action="published", name=f"Article {job_id}")
        inputs = {"text": "Built {{ event.name }}", "token": "xoxb-secret-input"}
        attempts = (sent, unrecorded) if job_id == 2 else ()
        return JobDetail(found, "k", "req-1", inputs, (event,), attempts)  # type: ignore[arg-type]

    store.job = job  # type: ignore[method-assign]
    async with make_client() as client:
        await sign_in(client)
        yield client


async def test_each_attempt_shows_the_request_it_sent_with_secrets_hidden(
    signed_in: httpx.AsyncClient,
) -> None:
    page = htmllib.unescape((await signed_in.get("/admin/jobs/2")).text)
    assert "Request sent: <code>POST https://hooks.example/build</code>" in page
    assert "Authorization: ***\nContent-Type: application/json\n" in page
    assert '"name": "Article 2"' in page
    assert "sk-live-123" not in page
    assert page.count("This attempt's request was not recorded.") == 1


async def test_the_inputs_are_rendered_for_the_jobs_events_without_secrets(
    signed_in: httpx.AsyncClient,
) -> None:
    page = htmllib.unescape((await signed_in.get("/admin/jobs/2")).text)
    inputs = page[page.index('<pre class="inputs">') :]
    inputs = inputs[: inputs.index("</pre>")]
    assert '"text": "Built Article 2"' in inputs
    assert '"token": "***"' in inputs
    assert '"url": "https://hooks.example/build"' in inputs  # the action's own option
    assert '"webhook_url": "***"' in inputs  # a secret option of the action
    assert "xoxb-secret-input" not in page


async def test_a_coalesced_call_lists_every_job_and_event_it_carried(
    signed_in: httpx.AsyncClient,
) -> None:
    page = (await signed_in.get("/admin/jobs/3")).text
    assert '<h2 id="call-title">Delivered in one call with 1 other job</h2>' in page
    table = page[
        page.index('<table class="call">') : page.index(
            "</table>", page.index('<table class="call">')
        )
    ]
    assert table.count("<tr") == 3  # head and two jobs
    assert '<a href="/admin/jobs/2">#2</a>' in table and '<a href="/admin/jobs/3">#3</a>' in table
    assert "Article 2" in table and "Article 3" in table
    assert '<tr class="this-job">' in table
    alone = (await signed_in.get("/admin/jobs/4")).text
    assert 'id="call-title"' not in alone


async def test_no_retry_button_on_a_succeeded_job(
    signed_in: httpx.AsyncClient, store: FakeStore
) -> None:
    done = (await signed_in.get("/admin/jobs/1")).text
    assert "/admin/jobs/1/retry" not in done
    failing = (await signed_in.get("/admin/jobs/2")).text
    assert 'action="/admin/jobs/2/retry"' in failing
    store.rows[1] = replace(store.rows[1], state="dead")
    assert 'action="/admin/jobs/2/retry"' in (await signed_in.get("/admin/jobs/2")).text
