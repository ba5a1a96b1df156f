"""Three `bridge serve` replicas on one PostgreSQL database, one SIGKILLed mid-burst.

3,000 signed notifications go round-robin to the replicas from concurrent senders (failing over
to the next replica when one does not answer, as a load balancer would). The sink records every
call of the three http actions with its Idempotency-Key (the delivery id, `kb-<first job id>`).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from bridge.delivery.workers import FIFO_PREFETCH
from tests.replicas.harness import (
    SendResult,
    Sink,
    SinkCall,
    is_article,
    send_all,
    start_replicas,
    write_config,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(170)]

NOTIFICATIONS = 3000
KILL_AFTER = 1200  # notifications answered before one replica is killed
SENDERS = 16
PARALLEL = 8
LEASE_S = 2 * 2.0 + 5.0  # 2 x the actions' 2 s timeout + 5 s (bridge.delivery.workers)
DELIVERY_TIMEOUT_S = 75.0


def job_id(call: SinkCall) -> int:
    return int(call.key.removeprefix("kb-"))


def split_repeated_run(sequence: list[int]) -> tuple[list[int], list[int]]:
    """`sequence` without its one repeated run (the ids called again after the kill), and
    that run. Fails unless the calls went forward, stepped back once to an id called before
    and repeated every call from there in the same order, then went forward again."""
    back = [k for k in range(1, len(sequence)) if sequence[k] <= sequence[k - 1]]
    if not back:
        return sequence, []
    assert len(back) == 1, f"the order stepped back {len(back)} times, at {back}"
    (k,) = back
    start = sequence.index(sequence[k])
    assert start < k, f"the order stepped back to {sequence[k]}, which was not called before"
    run = sequence[start:k]
    assert sequence[k : k + len(run)] == run, "the repeated calls are not the same run"
    return sequence[:k] + sequence[k + len(run) :], run


def duplicated(calls: list[SinkCall]) -> dict[str, list[SinkCall]]:
    by_key: dict[str, list[SinkCall]] = defaultdict(list)
    for call in calls:
        by_key[call.key].append(call)
    return {key: found for key, found in by_key.items() if len(found) > 1}


async def test_replicas_deliver_everything_in_order_once_per_window_despite_a_kill(
    tmp_path: Path, fresh_postgres: Callable[..., str]
) -> None:
    db_url = fresh_postgres(template=None)  # the replicas migrate it, all starting at once
    sink = Sink(delay_s=0.01)
    await sink.start()
    config = write_config(
        tmp_path, sink.url, debounce="1s", max_wait="3s", timeout="2s", parallel=PARALLEL
    )
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        replicas = await start_replicas(3, db_url, config, tmp_path, session)
        try:
            result = SendResult()
            burst = asyncio.create_task(
                send_all(
                    session,
                    [r.webhook for r in replicas],
                    range(1, NOTIFICATIONS + 1),
                    concurrency=SENDERS,
                    result=result,
                )
            )
            await result.wait_ok(KILL_AFTER, burst)
            replicas[1].kill()
            killed_at = time.monotonic()
            await burst

            accepted = result.ok()
            articles = {n for n in accepted if is_article(n)}
            missing = {
                path: await sink.wait_for(path, wanted, DELIVERY_TIMEOUT_S)
                for path, wanted in (
                    ("/parallel", accepted),
                    ("/debounced", accepted),
                    ("/ordered", articles),
                )
            }
        finally:
            await asyncio.gather(*(r.stop() for r in replicas))
            await sink.stop()

    print(
        f"accepted {len(accepted)}, failovers {result.failovers}, "
        f"debounced calls {len({c.key for c in sink.on('/debounced')})}, repeats "
        + ", ".join(
            f"{p} {len(duplicated(sink.on(p)))}" for p in ("/ordered", "/debounced", "/parallel")
        )
        + f", delivered {max(c.at for c in sink.calls) - killed_at:.1f}s after the kill"
    )
    assert replicas[1].process.returncode == -9
    assert result.failovers > 0, "the kill happened after the burst"
    assert len(accepted) == NOTIFICATIONS, {s for s in result.status.values()}
    assert missing == {"/parallel": set(), "/debounced": set(), "/ordered": set()}

    # Redelivered to another replica after no answer: recognised, one job per notification.
    conn = await asyncpg.connect(db_url)
    try:
        jobs = dict(await conn.fetch("SELECT action, count(*) FROM jobs GROUP BY action"))
        ordered_ids = [
            r[0]
            for r in await conn.fetch("SELECT id FROM jobs WHERE action = 'ordered' ORDER BY id")
        ]
    finally:
        await conn.close()
    assert jobs["ordered"] == len(articles) and jobs["parallel"] == NOTIFICATIONS

    # fifo: the sink saw the ordered action's jobs in creation (id) order. A fifo sequence
    # records its successes in groups, so the killed replica's last calls may be unrecorded:
    # once its lease ran out they are called again, in order, with the same delivery ids. The
    # sequence is the ids with that one run repeated, at most one claim's worth of calls.
    sequence = [job_id(call) for call in sink.on("/ordered")]
    first_pass, repeated = split_repeated_run(sequence)
    assert first_pass == ordered_ids
    assert len(repeated) <= FIFO_PREFETCH, repeated

    # Debounce: every notification in exactly one window, whichever replica received it.
    windows = {call.key: set(call.ns) for call in sink.on("/debounced")}
    assert sum(len(ns) for ns in windows.values()) == NOTIFICATIONS
    assert set().union(*windows.values()) == accepted
    assert 2 <= len(windows) <= 60, f"{len(windows)} debounced calls"

    # Duplicates: only calls the killed replica made and did not record, repeated under
    # the same delivery ids, with the same events; a fifo action's unrecorded successes (see
    # above) or one call in flight each.
    limits = (("/ordered", FIFO_PREFETCH), ("/debounced", 1), ("/parallel", PARALLEL))
    for path, in_flight in limits:
        repeats = duplicated(sink.on(path))
        assert len(repeats) <= in_flight, (path, sorted(repeats))
        for key, calls in repeats.items():
            # Sent before the kill (it may reach the sink a moment after), repeated only once
            # the dead replica's lease ran out, not by a live replica that still held it.
            assert calls[0].at < killed_at + 1.0, (path, key)
            assert calls[1].at > calls[0].at + LEASE_S - 4.0, (path, key)
            assert len({call.ns for call in calls}) == 1, (path, key)
            assert len(calls) == 2, (path, key)
