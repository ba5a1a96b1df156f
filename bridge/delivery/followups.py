"""Follow-up jobs: an action telling other actions what it did (`translate`'s `report_to`).

A follow-up is an ordinary job for each named action, carrying the event that caused the
original job and the message as the `text`, `message` and `subject` inputs the target's options
accept (as alerts do). Inputs are templates when the worker renders them; the message is text
the action composed (an item's name among it), so every `{` in it is escaped to render as
itself, and content never becomes a template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from bridge.delivery.store import Store
from bridge.events import Event
from bridge.plan import PlannedJob

MESSAGE_OPTIONS = ("text", "message", "subject")


class FollowUpConfig(Protocol):
    @property
    def actions(self) -> Mapping[str, Any]: ...


def literal(text: str) -> str:
    """`text` as a template that renders to exactly `text` (no `{` left to start a tag)."""
    return text.replace("{", "{{ '{' }}")


class FollowUpQueue:
    """Enqueues follow-up jobs in the running bridge's store (`Resources.follow_ups`)."""

    def __init__(
        self, store: Callable[[], Store | None], config: Callable[[], FollowUpConfig]
    ) -> None:
        self._store = store
        self._config = config

    def known(self, name: str) -> bool:
        return name in self._config().actions

    async def enqueue(
        self, targets: Sequence[str], *, text: str, event: Event, rule: str, key: str
    ) -> int:
        store = self._store()
        if store is None:
            raise RuntimeError("no store to enqueue follow-up jobs in")
        jobs = []
        actions = self._config().actions
        for target in targets:
            action_config = actions.get(target)
            if action_config is None:
                continue
            fields = getattr(action_config.action_class.Options, "model_fields", {})
            inputs = {name: literal(text) for name in MESSAGE_OPTIONS if name in fields}
            jobs.append(PlannedJob(target, rule, key, event, inputs))
        return await store.enqueue_follow_ups(jobs) if jobs else 0
