"""Factories for rule tests: an engine from YAML text, notifications from event fields."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from typing import Any

import pytest

from bridge.actions.base import Action, ActionOptions
from bridge.actions.log import LogAction
from bridge.config import parse_config
from bridge.events import Notification
from bridge.payloads import parse_payload
from bridge.rules import RuleEngine


class NotifyOptions(ActionOptions):
    text: str = "default text"
    channel: str = "#general"
    token: str | None = None
    api_key: str | None = None
    headers: dict[str, str] = {}
    keys: list[str] = []


class Notify(Action[NotifyOptions]):
    Options = NotifyOptions
    secret_options = frozenset({"channel"})  # unusual on purpose: redaction must honour it


TYPES: dict[str, type[Action]] = {"notify": Notify, "log": LogAction}  # type: ignore[type-arg]

EngineFactory = Callable[..., RuleEngine]
NotificationFactory = Callable[..., Notification]


@pytest.fixture
def make_engine() -> EngineFactory:
    """`make_engine(rules_yaml, actions=...)`: the rules section is all most tests need; other
    keywords go to RuleEngine."""

    def make(
        rules: str, *, actions: str | None = None, indexed: bool = True, **options: Any
    ) -> RuleEngine:
        actions = actions or "a: {type: notify}\nb: {type: notify}\nc: {type: notify}"
        text = (
            "version: 1\nactions:\n"
            + textwrap.indent(textwrap.dedent(actions), "  ")
            + "\nrules:\n"
            + textwrap.indent(textwrap.dedent(rules), "  ")
        )
        config = parse_config(text, "rules.yaml", {}, types=TYPES)
        return RuleEngine(config, indexed=indexed, **options)

    return make


def current_notification(
    *,
    object_type: str = "content_item",
    action: str = "published",
    delivery_slot: str = "published",
    raw_extra: dict[str, Any] | None = None,
    **system: Any,
) -> dict[str, Any]:
    system = {"name": "Hello", "codename": "hello", "type": "article", "language": "en"} | system
    raw = {
        "data": {"system": {k: v for k, v in system.items() if v is not None}},
        "message": {
            "environment_id": "env-1",
            "object_type": object_type,
            "action": action,
            "delivery_slot": delivery_slot,
        },
    }
    return raw | (raw_extra or {})


@pytest.fixture
def make_notification() -> NotificationFactory:
    """`make_notification(type="blog_post", collection="internal")`: one current-format event."""

    def make(**fields: Any) -> Notification:
        (notification,) = parse_payload(
            {"notifications": [current_notification(**fields)]}, "production"
        )
        return notification

    return make
