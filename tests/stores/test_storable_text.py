"""What a target answers is recorded by every store, whatever characters it holds.

A NUL byte in an answer (or in a reason quoting one) made PostgreSQL refuse the record
(CharacterNotInRepertoireError), and a lone surrogate (charset=unicode_escape, utf-7) has no
UTF-8 at all: the outcome was never recorded, so the job stayed running until its lease
expired and ran again, a success included, at every expiry.
"""

from __future__ import annotations

import pytest

from bridge.delivery.clock import ManualClock
from bridge.delivery.model import ClaimPolicy, Outcome
from bridge.delivery.store import Store
from tests.stores.values import accept


@pytest.mark.parametrize(
    ("state", "text", "shown"),
    [
        ("succeeded", "queued\x00 ok", "queued\ufffd ok"),
        ("retrying", "a\ud800b", "a\ufffdb"),
        ("dead", "é\udfff\x00!", "é\ufffd\ufffd!"),
    ],
    ids=["nul", "surrogate", "both"],
)
async def test_an_outcome_with_nul_or_lone_surrogates_is_recorded(
    store: Store, clock: ManualClock, state: str, text: str, shown: str
) -> None:
    await accept(store, [1], ["a"])
    [batch] = (await store.claim("a", ClaimPolicy(), worker_id="w")).batches
    now = clock.now()
    error = None if state == "succeeded" else f"hook answered 500: {text}"
    due = now + 60 if state == "retrying" else None
    outcome = Outcome(state, now, now, status=500, response=text, error=error, due_at=due)  # type: ignore[arg-type]
    await store.record(batch, outcome)
    job = await store.job(batch.job_ids[0])
    assert job is not None and job.state == state
    [attempt] = job.attempts
    assert attempt.response == shown
    assert job.last_response == shown
    if error is not None:
        assert job.last_error == f"hook answered 500: {shown}"
