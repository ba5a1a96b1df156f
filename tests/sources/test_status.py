"""What an operator sees of a source: the bridge_source_* metrics on /metrics (a real scrape of
a running bridge), and log lines that say what failed without the key that failed."""

from __future__ import annotations

import logging

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import metrics
from bridge.app import create_app
from bridge.config import parse_config
from bridge.delivery.clock import SystemClock
from bridge.delivery.opening import open_store
from bridge.settings import Settings
from bridge.sources import status
from tests.fakes.sync import FakeSync, error_body
from tests.sources.polling import ENV, MakePoller, publish, rules

pytestmark = pytest.mark.timeout(60)

SECURE_KEY = "secure-key-7f3a9c"


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


@pytest.fixture(autouse=True)
def fresh_metrics() -> metrics.Metrics:
    return metrics.reset()


async def test_metrics_show_the_last_success_and_the_last_failure_with_its_reason(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    """Before: nothing outside the log said a source was polling, failing, or why."""
    poller = await make_poller()
    await poller.cycle()
    publish(sync_api, "a")
    await poller.cycle()
    text = metrics.current().exposition().decode()
    assert (sample(text, "bridge_source_last_success_timestamp_seconds", source="prod") or 0) > 0
    assert sample(text, "bridge_source_consecutive_failures", source="prod") == 0
    assert sample(text, "bridge_source_deltas_total", source="prod", outcome="accepted") == 1
    assert sample(text, "bridge_source_lease_held", source="prod") == 1

    sync_api.secure_key = SECURE_KEY  # the environment now wants a key the source lacks
    await poller.cycle()
    await poller.cycle()
    sync_api.secure_key = None
    sync_api.fail_next(400, error_body("Invalid continuation token", 100))
    await poller.cycle()
    text = metrics.current().exposition().decode()
    errors = "bridge_source_errors_total"
    assert sample(text, errors, source="prod", reason="unauthorized") == 2
    assert sample(text, errors, source="prod", reason="token_rejected") == 1
    assert sample(text, "bridge_source_consecutive_failures", source="prod") == 3
    assert (sample(text, "bridge_source_last_failure_timestamp_seconds", source="prod") or 0) > 0

    await poller.cycle()  # a new synchronisation: success again
    text = metrics.current().exposition().decode()
    assert sample(text, "bridge_source_consecutive_failures", source="prod") == 0


async def test_the_running_bridge_serves_the_source_metrics_and_drops_the_lease_on_stop(
    sync_api: FakeSync, db_url: str
) -> None:
    config = parse_config(rules(sync_api.base_url()), env={})
    store = open_store(db_url, SystemClock())
    await store.open()
    try:
        app = create_app(Settings(), config=config, store=store)
        async with app.router.lifespan_context(app):
            # A second poll (1 s later) means the first one has ended and been recorded.
            await sync_api.wait_until(lambda: sync_api.syncs >= 2)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://b") as http:
                scraped = (await http.get("/metrics")).text
        assert sample(scraped, "bridge_source_lease_held", source="prod") == 1
        assert (
            sample(scraped, "bridge_source_last_success_timestamp_seconds", source="prod") or 0
        ) > 0
        stopped = metrics.current().exposition().decode()
        assert sample(stopped, "bridge_source_lease_held", source="prod") == 0
    finally:
        await store.close()


async def test_a_refused_key_is_logged_with_which_key_to_check_and_never_the_key(
    make_poller: MakePoller, sync_api: FakeSync, caplog: pytest.LogCaptureFixture
) -> None:
    sync_api.secure_key = "the-right-one"
    text = rules(sync_api.base_url()).replace(
        "{preview_api_key: preview-key}",
        f"{{preview_api_key: preview-key, secure_access_key: {SECURE_KEY}}}",
    )
    poller = await make_poller(config=parse_config(text, env={}))
    with caplog.at_level(logging.DEBUG):
        result = await poller.cycle()
    assert result.error is not None
    assert "secure_access_key" in caplog.text and "401" in caplog.text
    assert SECURE_KEY not in caplog.text and SECURE_KEY not in result.error
    assert ENV in sync_api.requests[-1].path  # it was sent, to the API only


@pytest.mark.parametrize(
    "api_url", ["http://sync.invalid/v2", "http://127.0.0.1:9/v2"], ids=["dns", "refused"]
)
async def test_an_unreachable_api_is_a_failed_poll_that_says_why(
    make_poller: MakePoller, caplog: pytest.LogCaptureFixture, api_url: str
) -> None:
    text = rules(api_url).replace(
        "{preview_api_key: preview-key}",
        f"{{preview_api_key: preview-key, secure_access_key: {SECURE_KEY}}}",
    )
    poller = await make_poller(config=parse_config(text, env={}))
    with caplog.at_level(logging.DEBUG):
        result = await poller.cycle()
        again = await poller.cycle()
    expected = "does not resolve (DNS: " if ".invalid" in api_url else "refused the connection"
    assert result.error is not None and expected in result.error, result.error
    assert again.error is not None and again.held  # asked again, next time, as the same holder
    assert poller.failures == 2
    assert SECURE_KEY not in caplog.text


async def test_the_snapshot_reads_as_the_metrics_do_with_the_last_failure_in_words(
    make_poller: MakePoller, sync_api: FakeSync
) -> None:
    """What the admin shows (status.snapshot) is written by the same calls as /metrics."""
    text = rules(sync_api.base_url()).replace(
        "{preview_api_key: preview-key}",
        f"{{preview_api_key: preview-key, secure_access_key: {SECURE_KEY}}}",
    )
    poller = await make_poller(config=parse_config(text, env={}))
    assert status.snapshot() == {}  # nothing polled yet: nothing to show
    await poller.cycle()
    publish(sync_api, "a")
    await poller.cycle()
    sync_api.secure_key = "the-right-one"
    await poller.cycle()
    await poller.cycle()
    seen = status.snapshot()["prod"]
    scraped = metrics.current().exposition().decode()
    assert seen.lease_held and seen.owner == poller.owner
    assert seen.consecutive_failures == 2
    assert sample(scraped, "bridge_source_consecutive_failures", source="prod") == 2
    assert seen.last_success_at == sample(
        scraped, "bridge_source_last_success_timestamp_seconds", source="prod"
    )
    assert seen.last_failure_at == sample(
        scraped, "bridge_source_last_failure_timestamp_seconds", source="prod"
    )
    assert seen.errors == {"unauthorized": 2} and (seen.accepted, seen.skipped) == (1, 0)
    assert seen.last_failure_reason == "unauthorized"
    assert seen.last_failure_message is not None
    assert "secure_access_key" in seen.last_failure_message
    assert SECURE_KEY not in seen.last_failure_message

    sync_api.secure_key = None
    await poller.cycle()
    seen = status.snapshot()["prod"]
    assert seen.consecutive_failures == 0 and seen.last_failure_reason == "unauthorized"


def test_a_failure_message_is_redacted_then_cut_to_a_bounded_length() -> None:
    long = "Sync API answered 502 to sync: " + "<b>" * 40_000
    kept = status.message(long)
    assert len(kept) <= status.MESSAGE_CHARS + 30
    assert kept.endswith(f"… ({len(long):,} characters)")
    assert status.message("  short  ") == "short"
