"""Used-in fan-out: a change to an item or an asset also reaches the items that use it.

A webhook names only the object that changed. When a linked item (an author, a shared teaser) or
an asset changes, the pages showing it are stale too: their search records hold its old text,
their CDN keys serve its old version. An action option `expand: used_in` (or `expand: {used_in:
true, depth: 2, max_items: 500, types: [...]}`) asks, at delivery time, the Delivery API's
used-in listings (`/items/{codename}/used-in`, `/assets/{codename}/used-in`, paged with
`X-Continuation`, fresh with the wait header, preview API and key for preview-slot events) for
the items using the changed object, then the items using those, up to `depth` levels; for a
renamed or deleted taxonomy term, which has no such listing, the first level is the items
tagged with it (bridge/actions/used_in_taxonomy.py: for a deleted term, every item of the types
with an element of its group). Parents
are de-duplicated over the whole call (an item already in the batch is not added again) and
bounded by `max_items` per changed object; a 429 or 5xx from the API retries the whole call
after the API's Retry-After, so no fan-out is half done.

Any action can offer it: declare `expand: Expand = None` in its options and call
`expand_call()`; the parents come back as extra `Item`s whose options are the action's templates
rendered for the parent (or the child's options when the call carries no templates).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Generic

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from bridge.actions.base import ActionOptions, Call, Item, O, PermanentFailure
from bridge.actions.used_in_taxonomy import TERM_EVENTS, tagged_items
from bridge.events import Event
from bridge.kontent.client import DeliveryClient
from bridge.templates import TemplateError, batch_context, render_options

# A parent's event: `changed` (its content changed through a child, so it is refetched, never
# deleted for the child's sake), `dependent_of` naming the changed object ("asset:beans_jpg").
PARENT_ACTION = "changed"
ENTITIES: Mapping[str, str] = {"content_item": "items", "asset": "assets"}
CONCURRENT_LOOKUPS = 8


class UsedIn(BaseModel):
    """The `expand` option: which items using the changed object to add, and how many."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    used_in: bool = True
    depth: int = Field(default=2, ge=1, le=10)
    max_items: int = Field(default=500, ge=1, le=10_000)
    types: list[str] | None = None  # only parents of these content types are added

    def describe(self) -> str:
        kinds = f", types {', '.join(self.types)}" if self.types else ""
        return (
            f"expands to items using it, depth {self.depth}, at most {self.max_items} items"
            f"{kinds}, at delivery"
        )


def _shorthand(value: Any) -> Any:
    if value == "used_in" or value is True:
        return {"used_in": True}
    if value is False:
        return None
    return value


Expand = Annotated[UsedIn | None, BeforeValidator(_shorthand)]


def describe(value: Any) -> str | None:
    """`bridge explain`'s line for an `expand` input (rendered, not yet validated)."""
    try:
        expand = UsedIn.model_validate(_shorthand(value))
    except ValidationError:
        return None
    return expand.describe() if expand.used_in else None


@dataclass
class Expanded(Generic[O]):
    """The call's items followed by the parents found; `notes` go into the job's outcome."""

    items: tuple[Item[O], ...]
    parents: list[Item[O]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lookups: int = 0
    expanded: set[int] = field(default_factory=set)  # positions of items that were expanded

    @property
    def all_items(self) -> tuple[Item[O], ...]:
        return self.items + tuple(self.parents)

    def summary(self) -> str:
        if not self.lookups and not self.notes:
            return ""
        text = f"used-in: {len(self.parents)} item(s) using the changed content"
        text += f" ({self.lookups} lookup(s))"
        return "; ".join([text, *self.notes])


def expansion_of(options: ActionOptions) -> UsedIn | None:
    expand = getattr(options, "expand", None)
    return expand if isinstance(expand, UsedIn) and expand.used_in else None


async def expand_call(call: Call[O], client: DeliveryClient | None) -> Expanded[O]:
    """Every item whose options ask for it, expanded; parents appended in discovery order."""
    result: Expanded[O] = Expanded(call.items)
    seen = {_key(item.event) for item in call.items}
    for position, item in enumerate(call.items):
        expand = expansion_of(item.options)
        if expand is None:
            continue
        entity = _entity(item.event)
        if entity is None or not item.event.codename or not item.event.environment_id:
            result.notes.append(f"{item.event.summary()}: {_no_listing(item.event)}")
            continue
        if client is None:
            raise PermanentFailure("expand: used_in needs the Delivery API client (kontent:)")
        result.expanded.add(position)
        parents = await _walk(client, item.event, entity, expand, seen, result)
        for parent in parents:
            built = _item_for(call, item, parent, result.notes)
            if built is not None:
                result.parents.append(built)
    return result


def _entity(event: Event) -> str | None:
    if event.object_type == "taxonomy":
        changes_records = not TERM_EVENTS.isdisjoint((event.action, *event.actions))
        return "taxonomy" if changes_records and event.taxonomy_group else None
    return ENTITIES.get(event.object_type or "")


def _no_listing(event: Event) -> str:
    if event.object_type == "taxonomy":
        changing = " and ".join(sorted(TERM_EVENTS))
        return f"{event.action} changes no item's record (only {changing} do)"
    return f"no used-in listing for {event.object_type or 'this object'}"


async def _walk(
    client: DeliveryClient,
    root: Event,
    entity: str,
    expand: UsedIn,
    seen: set[tuple[str | None, ...]],
    result: Expanded[Any],
) -> list[Event]:
    """Breadth first, level by level, up to `expand.depth`; at most `max_items` visited."""
    found: list[Event] = []
    visited = 0
    level: list[tuple[str, str, str | None]] = [(entity, str(root.codename), root.language)]
    limit = asyncio.Semaphore(CONCURRENT_LOOKUPS)
    for _ in range(expand.depth):
        # A listing with this many answers holds more unseen items than may still be added:
        # reading further pages cannot change the outcome.
        cap = expand.max_items - visited + len(seen) + 1
        pages = await asyncio.gather(*(_listing(client, root, node, limit, cap) for node in level))
        result.lookups += len(level)
        level = []
        for systems in pages:
            for system in systems:
                parent = _parent_event(root, system)
                if _key(parent) in seen:
                    continue
                if visited >= expand.max_items:
                    result.notes.append(
                        f"{root.summary()}: used-in stopped at max_items {expand.max_items}"
                    )
                    return found
                seen.add(_key(parent))
                visited += 1
                if expand.types is None or parent.type in expand.types:
                    found.append(parent)
                level.append(("items", str(parent.codename), parent.language))
        if not level:
            break
    return found


async def _listing(
    client: DeliveryClient,
    root: Event,
    node: tuple[str, str, str | None],
    limit: asyncio.Semaphore,
    cap: int,
) -> list[Mapping[str, Any]]:
    """The pages of one used-in listing, following `X-Continuation`, until `cap` answers."""
    entity, codename, language = node
    systems: list[Mapping[str, Any]] = []
    token: str | None = None
    if entity == "taxonomy":
        async with limit:
            return await tagged_items(client, root, cap)
    async with limit:
        while True:
            items, token = await client.used_in_page(
                str(root.environment_id),
                "assets" if entity == "assets" else "items",
                codename,
                language=None if entity == "assets" else language,
                preview=root.delivery_slot == "preview",
                continuation=token,
            )
            systems += [item["system"] for item in items if isinstance(item.get("system"), dict)]
            if not token or len(systems) >= cap:
                return systems


def _parent_event(root: Event, system: Mapping[str, Any]) -> Event:
    def text(name: str) -> str | None:
        value = system.get(name)
        return str(value) if value is not None else None

    return replace(
        root,
        object_type="content_item",
        action=PARENT_ACTION,
        actions=(PARENT_ACTION,),
        dependent_of=f"{root.object_type}:{root.codename}",
        id=text("id"),
        name=text("name"),
        codename=text("codename"),
        collection=text("collection"),
        workflow=text("workflow"),
        workflow_step=text("workflow_step"),
        previous_workflow=None,
        previous_workflow_step=None,
        language=text("language") or root.language,
        type=text("type"),
        taxonomy_group=None,
        last_modified=text("last_modified"),
    )


def _key(event: Event) -> tuple[str | None, ...]:
    return (event.environment_id, event.delivery_slot, event.codename, event.language)


def _item_for(call: Call[O], child: Item[O], parent: Event, notes: list[str]) -> Item[O] | None:
    """The parent with the action's options rendered for it, as the worker renders a job's."""
    if not call.templates:
        return Item(parent, child.options)
    model = type(child.options)
    try:
        rendered = render_options(call.templates, batch_context([parent]))
        return Item(parent, model.model_validate(rendered))
    except (TemplateError, ValidationError) as exc:
        notes.append(f"{parent.summary()}: options do not render for it: {_first_line(exc)}")
        return None


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
