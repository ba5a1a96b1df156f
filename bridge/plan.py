"""What the rules engine hands to the delivery store: one planned job per (rule, action, event).

A neutral module so that rules and delivery both depend on it and never on each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from bridge.events import Event

NO_INPUTS: Mapping[str, Any] = MappingProxyType({})


class PlannedJob(NamedTuple):
    """A call an action owes because a rule matched an event.

    Immutable like a frozen dataclass, but a NamedTuple: a notification at 10,000 rules plans
    about 40 of these, and a frozen dataclass's __init__ (one object.__setattr__ per field) was
    the largest part of planning (bench/rules.py).

    `inputs` is the rule's `with:` mapping, still unrendered: templates are rendered at delivery
    time, when the worker knows the whole coalesced batch (`events`), from the rule's `with:` as
    the config says then (bridge.delivery.render.current_inputs), so a fixed template reaches
    jobs planned before the fix; these stored inputs serve when the rule or its item is gone.
    """

    action: str
    rule: str
    notification_key: str
    event: Event
    inputs: Mapping[str, Any] = NO_INPUTS
