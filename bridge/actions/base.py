"""The action contract, shared by built-in and third-party actions (entry point `bridge.actions`).

An action class declares a typed `Options` model, validated when the config loads. A worker
calls `send()` with a `Call`: the options rendered over the whole (possibly coalesced) batch,
plus each event with the options rendered for that event alone. `send()` returns a `Success`
or raises `Retry` (try again, optionally not before `delay_s`) or `PermanentFailure` (retrying
cannot help: a revoked token, a channel that does not exist). Any other exception is a retry.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from bridge.events import Event

# The failures a call raises are defined below bridge.actions (the Kontent.ai clients raise
# them too); they are part of the action contract and exported from here.
from bridge.failures import ActionError, PermanentFailure, Retry

if TYPE_CHECKING:
    import aiohttp

    from bridge.kontent.client import DeliveryClient


class ActionOptions(BaseModel):
    """Base of every action's options model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# What an endpoint option holds (bridge.actions.endpoints): a URL whose path and query a template
# may fill, or a host (name, port, base URLs) that no template may fill.
EndpointKind = Literal["url", "host"]

O = TypeVar("O", bound=ActionOptions)  # noqa: E741 - the options type of an action


@dataclass(frozen=True, slots=True)
class Item(Generic[O]):
    """One event of a call, with the options rendered for this event alone."""

    event: Event
    options: O


@dataclass(frozen=True, slots=True)
class Call(Generic[O]):
    """One delivery attempt. `delivery_id` stays the same across retries (an idempotency key)."""

    delivery_id: str
    action: str
    options: O
    items: tuple[Item[O], ...]
    attempt: int = 1
    request_id: str | None = None
    # The unrendered options (action options | rule `with:`), when the worker passes them, so an
    # action can check what templates changed (`http` keeps the URL's literal scheme and host).
    templates: Mapping[str, Any] = field(default_factory=dict)

    @property
    def events(self) -> list[Event]:
        return [item.event for item in self.items]


@dataclass(frozen=True, slots=True)
class Success:
    """What the target answered, kept in the delivery log (status and a bounded excerpt)."""

    status: int | None = None
    response: str = ""


class FollowUps(Protocol):
    """Jobs an action enqueues for other actions (bridge.delivery.followups.FollowUpQueue)."""

    def known(self, name: str) -> bool: ...

    async def enqueue(
        self, targets: Sequence[str], *, text: str, event: Event, rule: str, key: str
    ) -> int: ...


@dataclass(slots=True)
class Resources:
    """What the host lends every action: one HTTP stack, the Delivery API client, a logger."""

    http: aiohttp.ClientSession
    kontent: DeliveryClient | None = None
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("bridge.actions"))
    # Follow-up jobs (translate's report_to); None where no store runs (explain, unit tests).
    follow_ups: FollowUps | None = None
    # `kontent.management_url`: the Management API base for actions that write content.
    management_url: str | None = None


class Action(Generic[O]):
    """Base class of every action. Subclasses set `Options` and implement `send`."""

    Options: ClassVar[type[ActionOptions]] = ActionOptions
    # Common delivery options this type defaults to (build hooks: {"debounce": "60s"}).
    defaults: ClassVar[Mapping[str, Any]] = {}
    # Option names whose values are redacted in `bridge explain`, logs, the API and the dashboard;
    # their values are also hidden wherever they appear (bridge.redaction).
    secret_options: ClassVar[frozenset[str]] = frozenset()
    # Options that say where the action connects (option name as written -> kind). The config
    # check refuses templates that could choose the host, and the worker checks the rendered
    # values before `send` (bridge.actions.endpoints): content never picks where secrets go.
    endpoint_options: ClassVar[Mapping[str, EndpointKind]] = {}
    # Options whose values name other actions (translate's `report_to`): the config check
    # treats each name as a use, so a misspelt one is an error and its target is not "unused".
    action_references: ClassVar[frozenset[str]] = frozenset()
    # Options `send` reads from each `Item` (rendered for that event alone, so `event` is that
    # event), not from `call.options` (rendered once over the batch, where `event` is only the
    # last of a debounced call's events): the config check refuses `event` in the others.
    per_event_options: ClassVar[frozenset[str]] = frozenset()
    # One-line description shown by `bridge check` and the docs test.
    summary: ClassVar[str] = ""

    def __init__(self, name: str, resources: Resources) -> None:
        self.name = name
        self.resources = resources

    async def send(self, call: Call[O]) -> Success:
        raise NotImplementedError

    async def close(self) -> None:
        """Release clients the action opened itself (the shared HTTP session is the host's)."""


__all__ = [
    "Action",
    "ActionError",
    "ActionOptions",
    "Call",
    "EndpointKind",
    "FollowUps",
    "Item",
    "O",
    "PermanentFailure",
    "Resources",
    "Retry",
    "Success",
]
