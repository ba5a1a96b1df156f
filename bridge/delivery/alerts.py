"""Alerts: tell the actions listed under `alerts:` when an action is in trouble, and when it is not.

Three kinds, each at most once per failure episode (an episode runs from an action's first
failure to a success after which none of its jobs is still failing: episodes.py; the store
keeps which kinds were sent, so restarts and several workers never repeat
one): `failing` when an attempt fails and the action has been failing for
`alert_failing_for_s` (1 hour), `dead` when a job gives up, `recovered` when a delivery succeeds
after a `failing` or `dead` alert. An alert is an ordinary job for each alert action, carrying
a synthetic event (object_type `bridge_alert`, action = the kind, name = the troubled action)
and the message as the `text`, `message` and `subject` inputs the action's options accept. The
alert actions' own failures never raise alerts, so alerts cannot loop.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from bridge.delivery.followups import literal
from bridge.delivery.model import AlertKind, Batch, Episode, Outcome
from bridge.delivery.store import Store
from bridge.events import Event
from bridge.plan import PlannedJob

log = logging.getLogger("bridge.delivery.alerts")

ALERT_RULE = "alerts"
# The synthetic event's object_type, which no Kontent.ai object has (render.current_inputs).
ALERT_OBJECT_TYPE = "bridge_alert"
MESSAGE_OPTIONS = ("text", "message", "subject")


class AlertConfig(Protocol):
    """The part of the configuration alerts read (bridge.config.Config satisfies it)."""

    @property
    def alerts(self) -> tuple[str, ...]: ...

    @property
    def alert_failing_for_s(self) -> float: ...

    @property
    def actions(self) -> Mapping[str, Any]: ...


def alert_kind(config: AlertConfig, outcome: Outcome, episode: Episode) -> AlertKind | None:
    """Which alert this attempt calls for, if any (the store still enforces once per episode)."""
    if outcome.state == "succeeded":  # recovered once no job of the action is failing
        return "recovered" if episode.alerted and episode.failing_since is None else None
    if outcome.state == "dead":
        return "dead"
    failing_since = episode.failing_since
    if failing_since is not None and outcome.finished_at - failing_since >= (
        config.alert_failing_for_s
    ):
        return "failing"
    return None


def message(kind: AlertKind, batch: Batch, outcome: Outcome, episode: Episode) -> str:
    action = batch.action
    if kind == "recovered":
        return f"kontent-bridge: action '{action}' recovered: deliveries succeed again."
    reason = outcome.error or "unknown error"
    if kind == "dead":
        return (
            f"kontent-bridge: a delivery of action '{action}' gave up (job {batch.jobs[0].id}, "
            f"{len(batch.jobs)} event(s)): {reason}. It is kept: `bridge retry "
            f"{batch.jobs[0].id}` or `bridge reset {action}` once the target is fixed."
        )
    since = datetime.fromtimestamp(episode.failing_since or outcome.finished_at, UTC)
    return (
        f"kontent-bridge: action '{action}' has been failing since "
        f"{since:%Y-%m-%d %H:%M} UTC: {reason}. Deliveries are retried on schedule."
    )


def alert_jobs(
    config: AlertConfig, kind: AlertKind, batch: Batch, outcome: Outcome, episode: Episode
) -> list[PlannedJob]:
    text = message(kind, batch, outcome, episode)
    subject = f"kontent-bridge: {batch.action} {kind}"
    event = Event(
        object_type=ALERT_OBJECT_TYPE,
        action=kind,
        name=batch.action,
        codename=batch.action,
        raw={"alert": kind, "action": batch.action, "message": text},
    )
    jobs = []
    for target in config.alerts:
        action_config = config.actions.get(target)
        if action_config is None:
            continue
        fields = getattr(action_config.action_class.Options, "model_fields", {})
        # Inputs are templates when the worker renders them, and the message quotes a failure
        # reason (a target's answer, an item's name): escaped, as follow-ups are, so that a
        # `{{ 7*7 }}` in it prints as written and a `{% endif %}` does not kill the alert.
        values = {"text": literal(text), "message": literal(text), "subject": literal(subject)}
        inputs = {name: values[name] for name in MESSAGE_OPTIONS if name in fields}
        key = f"alert:{batch.action}:{kind}:{outcome.finished_at}"
        jobs.append(PlannedJob(target, ALERT_RULE, key, event, inputs))
    return jobs


async def after_attempt(
    store: Store, config: AlertConfig, batch: Batch, outcome: Outcome, episode: Episode
) -> AlertKind | None:
    """Raise the alert this attempt calls for; returns its kind when one was enqueued."""
    if batch.action in config.alerts or not episode.recorded:
        return None  # alert actions never alert; a late result after a takeover says nothing
    kind = alert_kind(config, outcome, episode)
    if kind is None or (not config.alerts and kind != "recovered"):
        return None  # a recovery still closes the episode, so the next one alerts afresh
    if await store.raise_alert(
        batch.action, kind, alert_jobs(config, kind, batch, outcome, episode)
    ):
        log.warning("alert %s for action %r sent to %s", kind, batch.action, _names(config.alerts))
        return kind
    return None


def _names(names: Sequence[str]) -> str:
    return ", ".join(repr(name) for name in names)
