"""What the rules engine hands to the delivery store: one planned job per (rule, action, event).

A neutral module so that rules and delivery both depend on it and never on each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bridge.events import Event


@dataclass(frozen=True, slots=True)
class PlannedJob:
    """A call an action owes because a rule matched an event.

    `inputs` is the rule's `with:` mapping, still unrendered: templates are rendered at delivery
    time, when the worker knows the whole coalesced batch (`events`), from the rule's `with:` as
    the config says then (bridge.delivery.render.current_inputs), so a fixed template reaches
    jobs planned before the fix; these stored inputs serve when the rule or its item is gone.
    """

    action: str
    rule: str
    notification_key: str
    event: Event
    inputs: Mapping[str, Any] = field(default_factory=dict)
