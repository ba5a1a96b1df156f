"""Migration 0004: each attempt keeps the request it sent, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import json

from bridge.actions import sent
from bridge.delivery.clock import ManualClock
from bridge.delivery.model import ClaimPolicy, Outcome
from bridge.delivery.store import Store
from tests.stores.values import accept


async def test_an_attempt_keeps_its_request_and_one_without_reads_none(
    store: Store, clock: ManualClock
) -> None:
    await accept(store, [1, 2], ["a"])
    recorder = sent.Recorder()
    with sent.recording(recorder):
        sent.note(
            "post",
            "https://user:pw@hooks.example/build?ref=main&api_key=k-123",
            {"Authorization": "Bearer t-456", "Content-Type": "application/json"},
            {"json": {"events": [{"id": "item-1"}], "password": "p-789"}},
        )
    request = recorder.as_json()
    claim = await store.claim("a", ClaimPolicy(ordering="none", concurrency=2), worker_id="w")
    first, second = claim.batches
    now = clock.now()
    await store.record(first, Outcome("succeeded", now, now, status=200, request=request))
    await store.record(second, Outcome("succeeded", now, now, status=200))

    one = await store.job(first.job_ids[0])
    two = await store.job(second.job_ids[0])
    assert one is not None and two is not None
    assert one.attempts[0].request == {
        "method": "POST",
        "url": "https://***@hooks.example/build?ref=main&api_key=***",
        "headers": {"Authorization": "***", "Content-Type": "application/json"},
        "body": json.dumps({"events": [{"id": "item-1"}], "password": "***"}),
        "requests_sent": 1,
    }
    assert two.attempts[0].request is None


def test_a_long_body_is_cut_and_nothing_is_kept_outside_a_recording() -> None:
    sent.note("POST", "https://x.example/", {}, {"data": "never kept"})  # no recording: no-op
    recorder = sent.Recorder()
    with sent.recording(recorder):
        sent.note("POST", "https://x.example/", {}, {"data": "y" * 5000})
        sent.note("PUT", "https://x.example/2", {}, {"data": b"second"})
    kept = json.loads(recorder.as_json() or "{}")
    assert (kept["method"], kept["body"], kept["requests_sent"]) == ("PUT", "second", 2)
    with sent.recording() as only:
        sent.note("POST", "https://x.example/", {}, {"data": "y" * 5000})
    body = json.loads(only.as_json() or "{}")["body"]
    assert body == "y" * sent.BODY_CHARS + "… (1000 more characters)"


def test_a_url_without_credential_parameters_is_kept_as_written() -> None:
    assert sent.redact_url("https://x.example/a?q=a%20b&page=2") == (
        "https://x.example/a?q=a%20b&page=2"
    )
    assert sent.redact_url("https://x.example/a?q=a%20b&token=t-1") == (
        "https://x.example/a?q=a%20b&token=***"
    )
