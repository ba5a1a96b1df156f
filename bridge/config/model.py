"""The validated configuration: frozen values that the receiver, rules and delivery read."""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bridge.actions.base import Action
from bridge.config.conditions import When, WhereTest
from bridge.config.errors import ConfigIssue
from bridge.kontent.client import DELIVERY_URL, MAX_RESPONSE_BYTES, PREVIEW_URL
from bridge.kontent.management import MANAGEMENT_URL

DEFAULT_DELIVERY_URL = DELIVERY_URL
DEFAULT_PREVIEW_URL = PREVIEW_URL
DEFAULT_MANAGEMENT_URL = MANAGEMENT_URL
DEFAULT_MAX_RESPONSE_BYTES = MAX_RESPONSE_BYTES
# Kontent.ai's own schedule (seed 000): 1, 2, 4, 8, 16, 32, 60 minutes, then hourly, for 3 days.
DEFAULT_RETRY_SCHEDULE_S = (60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0)
DEFAULT_GIVE_UP_AFTER_S = 3 * 86400.0
# The longest wait a target's Retry-After may ask for (bridge.delivery.retry).
DEFAULT_MAX_RETRY_AFTER_S = 3600.0
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_ALERT_FAILING_FOR_S = 3600.0

Ordering = Literal["fifo", "none"]


@dataclass(frozen=True, slots=True)
class WebhookConfig:
    name: str
    path: str
    secrets: tuple[str, ...]
    verify: bool = True


@dataclass(frozen=True, slots=True)
class EnvironmentConfig:
    preview_api_key: str | None = None
    secure_access_key: str | None = None
    # Resolves the ids of legacy workflow notifications to codenames (bridge.kontent.management).
    management_api_key: str | None = None


@dataclass(frozen=True, slots=True)
class KontentConfig:
    delivery_url: str = DEFAULT_DELIVERY_URL
    preview_url: str = DEFAULT_PREVIEW_URL
    environments: Mapping[str, EnvironmentConfig] = field(default_factory=dict)
    management_url: str = DEFAULT_MANAGEMENT_URL
    # The most of one Delivery API answer the bridge holds; larger answers fail the job.
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    """How one action's jobs are delivered. The last retry delay repeats until give-up."""

    retry_schedule_s: tuple[float, ...] = DEFAULT_RETRY_SCHEDULE_S
    give_up_after_s: float = DEFAULT_GIVE_UP_AFTER_S
    max_retry_after_s: float = DEFAULT_MAX_RETRY_AFTER_S
    timeout_s: float = DEFAULT_TIMEOUT_S
    debounce_s: float | None = None
    max_wait_s: float | None = None
    ordering: Ordering = "fifo"
    enabled: bool = True
    concurrency: int = 1

    def retry_delay_s(self, attempt: int) -> float:
        """Delay after failed attempt number `attempt` (1-based); hourly once the schedule ends."""
        index = min(max(attempt, 1), len(self.retry_schedule_s)) - 1
        return self.retry_schedule_s[index]


@dataclass(frozen=True, slots=True)
class ActionConfig:
    """A named action: its type, its own options (unrendered templates kept as text)."""

    name: str
    type: str
    action_class: builtins.type[Action]  # type: ignore[type-arg]
    options: Mapping[str, Any]
    delivery: DeliverySettings
    # Top-level option keys whose values hold templates (not type-checked at load).
    templated: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class DoItem:
    action: str
    inputs: Mapping[str, Any] = field(default_factory=dict)  # the `with:` mapping, unrendered


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    when: When
    where: tuple[WhereTest, ...]
    do: tuple[DoItem, ...]
    stop: bool = False
    position: int = 0  # index in `rules:`; evaluation order
    line: int = 0


@dataclass(frozen=True, slots=True)
class Config:
    source: Path
    webhooks: tuple[WebhookConfig, ...]
    kontent: KontentConfig
    defaults: DeliverySettings
    actions: Mapping[str, ActionConfig]
    rules: tuple[Rule, ...]
    alerts: tuple[str, ...] = ()
    warnings: tuple[ConfigIssue, ...] = ()
    alert_failing_for_s: float = DEFAULT_ALERT_FAILING_FOR_S
    sources: tuple[SourceConfig, ...] = ()  # polled Sync API sources (bridge/sources)

    def webhook(self, name: str) -> WebhookConfig | None:
        return next((w for w in self.webhooks if w.name == name), None)


Slot = Literal["published", "preview"]


@dataclass(frozen=True, slots=True)
class SourceConfig:
    """A Kontent.ai Sync API v2 source: polled, its deltas become events under webhook
    `sync:<name>` (bridge/sources). Keys left out here come from `kontent.environments`."""

    name: str
    environment_id: str
    slot: Slot = "published"
    interval_s: float = 60.0
    api_url: str | None = None  # None: Kontent.ai's Delivery or Preview host, per slot
    preview_api_key: str | None = None
    secure_access_key: str | None = None
    enabled: bool = True

    @property
    def webhook(self) -> str:
        """The name its notifications carry, so that rules can match `webhook: sync:<name>`."""
        return f"sync:{self.name}"
