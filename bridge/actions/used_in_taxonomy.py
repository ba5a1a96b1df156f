"""The used-in fan-out's first level for a renamed or deleted taxonomy term: the items whose
records may show it.

The Delivery API has no used-in listing for terms, yet the records of the items tagged with a
term hold its name (`<element>_names`, and the text of the blocks that show them). So the
content types are read for their taxonomy elements of the term's group and the languages for
their codenames. For a renamed term each element is filtered with `[contains]` in each
language. A deleted term is already gone from every item's value, so no filter can find the
items that had it: every item of those types is refreshed, in each language (a superset, and
the only exact one the API allows). bridge/actions/used_in.py walks up from the items found as
from any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from bridge.events import Event
from bridge.kontent.client import DeliveryClient

TERM_RENAMED = "term_changed"
TERM_DELETED = "term_deleted"
# The taxonomy events that change a record. No other does: a new term is on no item yet, a
# move (terms_moved) renames nothing, and a group's own name is in no record.
TERM_EVENTS = frozenset({TERM_RENAMED, TERM_DELETED})
# Items, types and languages are read this many to a page (`skip`/`limit`), and at most
# LISTED_AT_MOST of types or languages in all: an environment has far fewer, and an API that
# kept saying `next_page` must not keep the call asking.
LISTING_PAGE = 1000
LISTED_AT_MOST = 10_000


async def tagged_items(client: DeliveryClient, root: Event, cap: int) -> list[Mapping[str, Any]]:
    """The items whose records may show the renamed or deleted term, in every language, until
    `cap`; filtered on `system.language` too, since a language fallback is not the variant."""
    env, preview = str(root.environment_id), root.delivery_slot == "preview"
    elements: dict[str, list[str]] = {}  # content type -> its elements of the term's group
    for content_type in await _every(client, env, "types", {}, preview=preview):
        system = content_type.get("system")
        if not isinstance(system, Mapping) or not system.get("codename"):
            continue
        for codename, element in _mapping(content_type.get("elements")).items():
            if (
                isinstance(element, Mapping)
                and element.get("type") == "taxonomy"
                and element.get("taxonomy_group") == root.taxonomy_group
            ):
                elements.setdefault(str(system["codename"]), []).append(codename)
    if not elements:
        return []
    languages = [
        str(system["codename"])
        for language in await _every(client, env, "languages", {}, preview=preview)
        if isinstance(system := language.get("system"), Mapping) and system.get("codename")
    ]
    deleted = TERM_DELETED in (root.action, *root.actions)
    systems: list[Mapping[str, Any]] = []
    for type_codename, type_elements in elements.items():
        # A deleted term: every item of the type. A renamed one: those tagged, element by element.
        filters = (
            [{}]
            if deleted
            else [{f"elements.{e}[contains]": str(root.codename)} for e in type_elements]
        )
        for language in languages:
            for tagged in filters:
                params = {
                    "system.type": type_codename,
                    **tagged,
                    "language": language,
                    "system.language": language,
                    "elements": ",".join(type_elements),
                    "depth": "0",
                }
                found = await _every(client, env, "items", params, preview=preview, cap=cap)
                systems += [
                    item["system"] for item in found if isinstance(item.get("system"), dict)
                ]
                if len(systems) >= cap:
                    return systems
    return systems


async def _every(
    client: DeliveryClient,
    env: str,
    listing: Literal["items", "types", "languages"],
    params: Mapping[str, str],
    *,
    preview: bool,
    cap: int | None = None,
) -> list[dict[str, Any]]:
    """Every page of a listing, up to the first `cap` entries (LISTED_AT_MOST by default)."""
    most = LISTED_AT_MOST if cap is None else cap
    entries: list[dict[str, Any]] = []
    while True:
        page = {**params, "skip": str(len(entries)), "limit": str(LISTING_PAGE)}
        found, more = await client.listing_page(env, listing, page, preview=preview)
        entries += found
        if not more or not found or len(entries) >= most:
            return entries[:most]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}
