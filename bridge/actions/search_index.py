"""What the search-index actions (`algolia`, `azure_search`) share: the options that pick and
shape records, the fresh fetch of each event's item, the `expand: used_in` fan-out, and the
words an outcome uses for what was skipped. Each engine keeps its own naming rules and writes.
"""

from __future__ import annotations

import difflib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, Field

from bridge.actions.base import ActionOptions, Call, Item, PermanentFailure, Resources
from bridge.actions.records import (
    ASSET_DETAILS,
    ASSET_FIELDS,
    MISSING,
    RecordOptions,
    default_record,
    fill,
    lookup,
    mapped_record,
)
from bridge.actions.used_in import Expand, expand_call
from bridge.events import Event
from bridge.templates import TemplateError, batch_context, render_marking_printed, template_sources

DELETE_ACTIONS = ("unpublished", "deleted")

OptionsT = TypeVar("OptionsT", bound="SearchIndexOptions")
# The shared options `plan_call` reads per event (`batch_size` is read once per call).
PER_EVENT_OPTIONS = frozenset(
    ("record", "depth", "delete_on", "expand", "content_depth", "content_skip_types")
)


def _asset_details(value: Any) -> Any:
    """`asset_details`: false (the default), true (every detail), one name, or a list of names."""
    if value is None or value is False:
        return []
    if value is True:
        return list(ASSET_DETAILS)
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list):
        return value  # the list type refuses it with its own message
    for name in names:
        if not isinstance(name, str):
            raise ValueError(
                f"asset_details lists names ({', '.join(ASSET_DETAILS)}), not {name!r}"
            )
        if name in ASSET_FIELDS:
            raise ValueError(
                f"{name!r} is always in <element>_assets; asset_details adds "
                f"{', '.join(ASSET_DETAILS)}"
            )
        if name not in ASSET_DETAILS:
            close = difflib.get_close_matches(name, ASSET_DETAILS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"{name!r} is not an asset detail{hint}; choose from {', '.join(ASSET_DETAILS)}, "
                "or true for all of them"
            )
    # In ASSET_DETAILS order, each once: the document's shape does not depend on how it is typed.
    return [name for name in ASSET_DETAILS if name in names]


AssetDetails = Annotated[list[str], BeforeValidator(_asset_details)]


class SearchIndexOptions(ActionOptions):
    record: dict[str, Any] | None = None
    depth: int = Field(default=1, ge=0, le=10)
    batch_size: int = Field(default=1000, ge=1, le=1000)
    delete_on: list[str] = Field(default_factory=lambda: list(DELETE_ACTIONS))
    expand: Expand = None
    content_depth: int = Field(default=3, ge=0, le=10)
    content_skip_types: list[str] = Field(default_factory=list)
    asset_details: AssetDetails = Field(default_factory=list)


async def plan_call(
    call: Call[OptionsT],
    resources: Resources,
    plan_one: Callable[[Event, OptionsT], Awaitable[None]],
    skipped: list[str],
) -> str:
    """Plans every event of the call and of its `expand` fan-out; returns the fan-out's note."""
    expanded = await expand_call(call, resources.kontent)
    for position, item in enumerate(expanded.all_items):
        if position in expanded.expanded and item.event.object_type != "content_item":
            skipped.append(f"{item.event.summary()}: reindexed the items using it")
            continue
        await plan_one(item.event, _marked(call, item))
    skipped += expanded.notes
    return f"; {expanded.summary()}" if expanded.lookups else ""


# Options the action fills with `{path}` placeholders after Jinja rendered them.
FILLED_OPTIONS = ("record", "object_id", "key")


def _marked(call: Call[OptionsT], item: Item[OptionsT]) -> OptionsT:
    """The item's options with its templated `{path}` options rendered again, every `{` a
    template printed marked (templates.PRINTED_BRACE) so that filling leaves it as text: an
    item named `{elements.internal_notes}` put that element into `title: "{{ event.name }}"`."""
    options = item.options
    changes = {}
    for name in FILLED_OPTIONS:
        written = call.templates.get(name)
        if name not in type(options).model_fields or not any(template_sources(written)):
            continue
        try:
            changes[name] = render_marking_printed(written, batch_context([item.event]), name)
        except TemplateError as exc:  # it rendered once; the same again, bar the time budget
            raise PermanentFailure(f"cannot render options: {exc}") from None
    return options.model_copy(update=changes) if changes else options


def by_index(writes: dict[tuple[str, str], dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Writes keyed by (index, record key), grouped per index in planning order."""
    grouped: dict[str, list[dict[str, Any]]] = {}
    for (index, _), write in writes.items():
        grouped.setdefault(index, []).append(write)
    return grouped


def indexable(event: Event) -> bool:
    return event.object_type == "content_item" and bool(event.id) and bool(event.environment_id)


async def fetch_item(
    action: str, resources: Resources, event: Event, options: SearchIndexOptions
) -> dict[str, Any] | None:
    """The event's item, fresh from the Delivery API (preview slot: the Preview API)."""
    kontent = resources.kontent
    if kontent is None:
        raise PermanentFailure(f"{action} needs the Delivery API client (kontent: section)")
    return await kontent.fetch_item(
        str(event.environment_id),
        str(event.id),
        event.language,
        preview=event.delivery_slot == "preview",
        depth=options.depth,
    )


async def fetch_current(
    action: str,
    resources: Resources,
    event: Event,
    options: SearchIndexOptions,
    kept: list[str],
) -> dict[str, Any] | None:
    """What the event's record must now hold: its item fresh from the Delivery API, or None
    when the record is to be deleted.

    An `unpublished` or `deleted` is checked against the Delivery API before it deletes: an
    old unpublish can arrive after a newer publish (a replay, `bridge retry` of a dead job,
    `ordering: none`, the Sync API's order), and deleting on its word would empty a live
    record until the next change. While the API still has the variant, the record is saved
    from it instead, and `kept` says so. Other actions listed in `delete_on` (a preview index
    that drops items moving to an archive step) delete as configured: the item is still there
    by design, so asking would only keep it. Resources without a Delivery client (a plugin's
    or a test's; `bridge serve` always has one) take a delete at its word.
    """
    deleting = event.action in options.delete_on
    if deleting and (event.action not in DELETE_ACTIONS or resources.kontent is None):
        return None
    fetched = await fetch_item(action, resources, event, options)
    if fetched is not None and deleting:
        kept.append(
            f"{event.summary()}: {event.action}, but the Delivery API still has it (a later "
            "change came first): saved, not deleted"
        )
    return fetched


def record(
    fetched: dict[str, Any],
    key: str,
    options: SearchIndexOptions,
    *,
    id_key: str = "objectID",
    field_name: Callable[[str], str] | None = None,
) -> dict[str, Any]:
    """The record for a fetched item: the `record:` mapping, or the default record."""
    item, linked = fetched["item"], fetched.get("modular_content") or {}
    shape = RecordOptions(
        block_depth=options.content_depth,
        skip_types=frozenset(options.content_skip_types),
        asset_details=tuple(options.asset_details),
    )
    if field_name is not None:
        shape = replace(shape, key=field_name)
    if options.record is not None:
        return mapped_record(item, key, options.record, linked, shape, id_key=id_key)
    return default_record(item, key, linked, shape, id_key=id_key)


def event_key(option: str, template: str, event: Event) -> str:
    """From the event's own fields, so a delete finds the record a save made.

    A name the event has no value for fails too: legacy workflow notifications name an item by
    id only, and `{codename}_{language}` would give each of them the same key, so one item's
    save would overwrite another's record and a delete would remove it.
    """
    fields = event.fields()
    try:
        return str(fill(template, fields, strict=True))
    except KeyError as exc:
        name = exc.args[0]
        if lookup(fields, name) is not MISSING:
            raise PermanentFailure(
                f"{option} {template!r}: {event.summary()} has no {name}, so it cannot name "
                "a record (legacy workflow notifications carry an item's id, not its codename: "
                "a key built from {id} names every event)"
            ) from None
        raise PermanentFailure(
            f"{option} {template!r}: unknown name {name!r} "
            "(use event fields such as id, codename, language, type, collection)"
        ) from None


def why_not_indexed(event: Event, options: SearchIndexOptions, noun: str) -> str:
    if event.object_type != "content_item":
        reason = f"not a content item ({event.object_type or 'unknown type'}): it has no {noun}"
        if event.object_type == "asset" and options.expand is None:
            reason += "; set `expand: used_in` to reindex the items using it"
        return reason
    return "not a content item: the event names no item id or environment"


def skips(skipped: list[str]) -> str:
    if not skipped:
        return ""
    return f"skipped {len(skipped)}: " + "; ".join(skipped)
