"""Metrics: unit behaviour of the registry, and the exposition after a known sequence of events."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bridge import metrics
from bridge.delivery.model import ActionState
from bridge.events import Event
from tests.admin.harness import eventually, notification, running_bridge, signed

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(parsed: Samples, name: str, **labels: str) -> float:
    return parsed.get((name, tuple(sorted(labels.items()))), 0.0)


def state(name: str, health: str, pending: int, age: float | None, dead: int = 0) -> ActionState:
    return ActionState(name, health, True, pending, 0, None, None, 0, 0, dead, age)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def fresh() -> metrics.Metrics:
    return metrics.reset()


def test_each_call_counts_under_its_labels(fresh: metrics.Metrics) -> None:
    event = Event(object_type="content_item", action="published", webhook="production")
    metrics.notifications_received([event, event])
    metrics.signature_failed("production")
    metrics.duplicates("production", 3)
    metrics.duplicates("production", 0)
    metrics.attempt_finished("hook", "retrying", 0.2)
    metrics.attempt_finished("hook", "dead", 0.3)
    metrics.attempt_finished("hook", "succeeded", 0.05, jobs=4)
    metrics.config_reloaded(False, at=1_700_000_000.0)
    parsed = samples(fresh.exposition().decode())
    received = {"webhook": "production", "object_type": "content_item", "action": "published"}
    assert value(parsed, "bridge_notifications_received_total", **received) == 2
    assert value(parsed, "bridge_signature_failures_total", webhook="production") == 1
    assert value(parsed, "bridge_duplicate_notifications_total", webhook="production") == 3
    assert value(parsed, "bridge_job_attempts_total", action="hook", outcome="retrying") == 1
    assert value(parsed, "bridge_job_attempt_failures_total", action="hook") == 2
    assert value(parsed, "bridge_jobs_finished_total", action="hook", outcome="dead") == 1
    assert value(parsed, "bridge_jobs_finished_total", action="hook", outcome="succeeded") == 4
    assert value(parsed, "bridge_action_duration_seconds_count", action="hook") == 3
    assert value(parsed, "bridge_action_duration_seconds_bucket", action="hook", le="0.1") == 1
    assert value(parsed, "bridge_config_last_reload_successful") == 0
    assert value(parsed, "bridge_config_last_reload_timestamp_seconds") == 1_700_000_000.0
    assert value(parsed, "bridge_config_last_reload_success_timestamp_seconds") == 0


def test_registries_are_isolated() -> None:
    metrics.signature_failed("production")
    other = metrics.Metrics()
    assert "production" not in other.exposition().decode()


def test_payload_values_never_grow_the_number_of_series(fresh: metrics.Metrics) -> None:
    """Labels from payload values stay to Kontent.ai's documented names; the rest is `other`."""
    events = [
        Event(object_type=f"type-{n}", action=f"action-{n}", webhook="production")
        for n in range(2_000)
    ]
    events.append(Event(object_type="taxonomy", action="terms_moved", webhook="production"))
    events.append(Event(object_type=None, action=None, webhook="production"))
    metrics.notifications_received(events)
    parsed = samples(fresh.exposition().decode())
    series = [key for key in parsed if key[0] == "bridge_notifications_received_total"]
    assert len(series) == 2
    other = {"webhook": "production", "object_type": "other", "action": "other"}
    assert value(parsed, "bridge_notifications_received_total", **other) == 2_001
    moved = {"webhook": "production", "object_type": "taxonomy", "action": "terms_moved"}
    assert value(parsed, "bridge_notifications_received_total", **moved) == 1


def test_queue_gauges_follow_the_store_and_drop_vanished_actions(fresh: metrics.Metrics) -> None:
    fresh.refresh_queues([state("a", "failing", 3, 42.5, dead=1), state("b", "ready", 0, None)])
    parsed = samples(fresh.exposition().decode())
    assert value(parsed, "bridge_queue_depth", action="a") == 3
    assert value(parsed, "bridge_oldest_pending_age_seconds", action="a") == 42.5
    assert value(parsed, "bridge_dead_jobs", action="a") == 1
    assert value(parsed, "bridge_action_health", action="a", health="failing") == 1
    assert value(parsed, "bridge_action_health", action="a", health="working") == 0
    fresh.refresh_queues([state("b", "working", 1, 1.0)])
    text = fresh.exposition().decode()
    assert 'action="a"' not in text
    assert value(samples(text), "bridge_queue_depth", action="b") == 1


async def test_metrics_after_a_known_sequence_through_the_running_bridge(tmp_path: Path) -> None:
    async with running_bridge(tmp_path) as bridge, httpx.AsyncClient(base_url=bridge.url) as http:
        bridge.target.failing = True
        body = notification(1)
        assert (await http.post("/webhooks/kontent", content=body, headers=signed(body))).json()[
            "jobs"
        ] == 1
        await bridge.target.wait_for_requests(1)  # first attempt fails
        bridge.target.failing = False
        await bridge.target.wait_for_requests(2)  # the retry succeeds
        again = await http.post("/webhooks/kontent", content=body, headers=signed(body))
        assert again.json()["duplicates"] == 1
        forged = await http.post("/webhooks/kontent", content=body, headers=signed(body, "nope"))
        assert forged.status_code == 401

        async def recorded() -> bool:
            text = (await http.get("/metrics")).text
            return (
                value(
                    samples(text),
                    "bridge_jobs_finished_total",
                    action="rebuild-site",
                    outcome="succeeded",
                )
                == 1
            )

        await eventually(recorded)
        parsed = samples((await http.get("/metrics")).text)
    received = {"webhook": "production", "object_type": "content_item", "action": "published"}
    assert value(parsed, "bridge_notifications_received_total", **received) == 2
    assert value(parsed, "bridge_duplicate_notifications_total", webhook="production") == 1
    assert value(parsed, "bridge_signature_failures_total", webhook="production") == 1
    hook = {"action": "rebuild-site"}
    assert value(parsed, "bridge_job_attempts_total", outcome="retrying", **hook) == 1
    assert value(parsed, "bridge_job_attempts_total", outcome="succeeded", **hook) == 1
    assert value(parsed, "bridge_job_attempt_failures_total", **hook) == 1
    assert value(parsed, "bridge_jobs_finished_total", outcome="dead", **hook) == 0
    assert value(parsed, "bridge_action_duration_seconds_count", **hook) == 2
    assert value(parsed, "bridge_queue_depth", **hook) == 0
    assert value(parsed, "bridge_action_health", health="working", **hook) == 1
