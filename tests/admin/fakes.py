"""A small in-memory stand-in for the store's admin queries, for layout work and fast API tests.

It keeps the real value types (bridge.delivery.model) so the admin reads exactly what the real
store hands out; the browser test uses the real store and app instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import SimpleNamespace
from typing import Any

from bridge.actions.base import Action, ActionOptions
from bridge.delivery.model import (
    ActionState,
    AttemptRow,
    DeliveryRow,
    JobDetail,
    NotificationRow,
    RuleStats,
)
from bridge.events import Event

NOW = 1_700_000_000.0


class SecretAction(Action[ActionOptions]):
    secret_options = frozenset({"webhook_url"})


@dataclass
class FakeStore:
    states: dict[str, ActionState] = field(default_factory=dict)
    rows: list[DeliveryRow] = field(default_factory=list)
    attempts: dict[int, tuple[AttemptRow, ...]] = field(default_factory=dict)
    notes: list[NotificationRow] = field(default_factory=list)
    stats: dict[str, RuleStats] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    clock: Any = field(default_factory=lambda: SimpleNamespace(now=lambda: NOW))

    async def action_states(self) -> list[ActionState]:
        return list(self.states.values())

    async def deliveries(
        self, *, action: str | None = None, filter: str = "all", limit: int = 50, offset: int = 0
    ) -> list[DeliveryRow]:
        self.calls.append(("deliveries", (action, filter, limit, offset)))
        rows = [r for r in self.rows if action is None or r.action == action]
        if filter == "failures":
            rows = [r for r in rows if r.failures > 0]
        elif filter == "active_failures":
            rows = [r for r in rows if r.state in ("retrying", "dead")]
        rows.sort(key=lambda r: r.created_at, reverse=True)
        return rows[offset : offset + limit]

    async def job(self, job_id: int) -> JobDetail | None:
        for row in self.rows:
            if row.job_id == job_id:
                event = Event(object_type="content_item", action="published", name="Hello")
                return JobDetail(
                    row=row,
                    notification_key="k1",
                    request_id="req-1",
                    inputs={"text": "hi", "token": "xoxb-secret-input"},
                    events=(event,),
                    attempts=self.attempts.get(job_id, ()),
                )
        return None

    async def retry_job(self, job_id: int) -> bool:
        self.calls.append(("retry_job", job_id))
        return any(r.job_id == job_id and r.state in ("retrying", "dead") for r in self.rows)

    async def reset_action(self, name: str) -> bool:
        self.calls.append(("reset_action", name))
        return name in self.states and self.states[name].health == "failing"

    async def set_enabled(self, name: str, enabled: bool) -> None:
        self.calls.append(("set_enabled", (name, enabled)))
        if name in self.states:
            self.states[name] = replace(self.states[name], enabled=enabled)

    async def notifications(self, *, limit: int = 50, offset: int = 0) -> list[NotificationRow]:
        return self.notes[offset : offset + limit]

    async def notification(self, key: str) -> NotificationRow | None:
        return next((n for n in self.notes if n.key == key), None)

    async def rule_stats(self) -> dict[str, RuleStats]:
        return dict(self.stats)

    async def batch_jobs(self, batch_id: str, *, limit: int = 50) -> tuple[int, list[DeliveryRow]]:
        mates = sorted((r for r in self.rows if r.delivery_id == batch_id), key=lambda r: r.job_id)
        return len(mates), mates[:limit]

    async def rule_matches(self, rule: str, *, limit: int = 50) -> list[DeliveryRow]:
        return [r for r in self.rows if r.rule == rule][:limit]


def state(name: str, health: str = "working", **values: Any) -> ActionState:
    base: dict[str, Any] = dict(
        name=name,
        health=health,
        enabled=True,
        pending=0,
        running=0,
        failing_since=None,
        last_attempt_at=NOW - 120,
        succeeded=3,
        failed_attempts=0,
        dead=0,
        oldest_pending_age_s=None,
    )
    base.update(values)
    return ActionState(**base)


def row(job_id: int, action: str, state: str = "succeeded", **values: Any) -> DeliveryRow:
    base: dict[str, Any] = dict(
        job_id=job_id,
        action=action,
        rule="announce",
        state=state,
        attempts=1,
        created_at=NOW - 600 + job_id,
        last_attempt_at=NOW - 300 + job_id,
        last_status=200,
        last_response='{"ok": true}',
        summary=f"content_item published: Article {job_id}",
    )
    base.update(values)
    return DeliveryRow(**base)


def fake_config(**actions: dict[str, Any]) -> Any:
    """The parts of a Config the admin reads: actions (with options) and rules."""
    delivery = SimpleNamespace(enabled=True)
    configured = {
        name: SimpleNamespace(
            name=name, type="slack", action_class=SecretAction, options=opts, delivery=delivery
        )
        for name, opts in actions.items()
    }
    rules = (
        SimpleNamespace(
            name="announce", do=(SimpleNamespace(action=next(iter(actions), "x")),), stop=False
        ),
    )
    return SimpleNamespace(actions=configured, rules=rules)
