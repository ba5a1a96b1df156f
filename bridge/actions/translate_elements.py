"""Which texts of a language variant `translate` sends to DeepL, and where each answer goes.

The Management API names a variant's elements by id, never by codename or kind, so the item's
content type says which are `text` and `rich_text`. A `snippet` element of the type stands for
the snippet's elements, which the variant lists with their own ids (codenames
`<snippet>__<element>`): the snippet says what they are. A rich-text element carries its
components, `{id, type: {id}, elements: [{element: {id}, value, components?}]}`: each
component's content type (and its snippets) says which of its elements are text, and a rich
text inside a component carries components of its own. Every type and snippet is fetched once
per attempt (`Schema`).

The upserted elements are the source's, with the translated strings put back where they came
from (`Texts.slots`): ids, types and every other value of a component stay as they were.
Kontent.ai nests components at most six levels deep; a component deeper than
`MAX_COMPONENT_DEPTH` (which the API does not make) is written back unchanged.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bridge.kontent.variants import ManagementClient, TypeElement

TRANSLATABLE = frozenset({"text", "rich_text"})
MAX_COMPONENT_DEPTH = 6  # Kontent.ai: "components can be nested up to six levels deep"

_TAG = re.compile(r"<[^>]*>")
Path = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class Slot:
    """One text to translate: where it sits in `Texts.elements`, and whether it is HTML."""

    path: Path
    text: str
    html: bool


@dataclass(frozen=True, slots=True)
class Texts:
    elements: list[dict[str, Any]]  # the upsert's entries (by codename), source values
    slots: list[Slot]
    too_deep: int  # components past MAX_COMPONENT_DEPTH, written back unchanged

    def texts(self, *, html: bool) -> list[str]:
        return [slot.text for slot in self.slots if slot.html is html]

    def translated(self, plain: list[str], rich: list[str]) -> list[dict[str, Any]]:
        """The entries with `plain` and `rich` (in the order of `texts()`) put in place."""
        elements = copy.deepcopy(self.elements)
        answers = {False: iter(plain), True: iter(rich)}
        for slot in self.slots:
            *parents, last = slot.path
            node: Any = elements
            for step in parents:
                node = node[step]
            node[last] = next(answers[slot.html])
        return elements


class Schema:
    """Element id -> TypeElement of each content type and snippet one attempt meets."""

    def __init__(self, client: ManagementClient) -> None:
        self.client = client
        self._types: dict[str, dict[str, TypeElement]] = {}
        self._snippets: dict[str, list[TypeElement]] = {}
        self.snippet_of: dict[str, str] = {}  # element id -> its snippet element's codename

    async def item_type(self, codename: str) -> dict[str, TypeElement]:
        key = f"codename/{codename}"
        if key not in self._types:
            self._types[key] = await self._expand(await self.client.type_elements(codename))
        return self._types[key]

    async def component_type(self, ref: Any) -> dict[str, TypeElement] | None:
        """A component's type, from its `type` reference (an id, or a codename); None without."""
        if not isinstance(ref, dict):
            return None
        if ref.get("id"):
            type_id = str(ref["id"])
            if type_id not in self._types:
                elements = await self.client.type_elements_by_id(type_id)
                self._types[type_id] = await self._expand(elements)
            return self._types[type_id]
        return await self.item_type(str(ref["codename"])) if ref.get("codename") else None

    async def _expand(self, elements: list[TypeElement]) -> dict[str, TypeElement]:
        by_id: dict[str, TypeElement] = {}
        for element in elements:
            by_id[element.id] = element
            if element.kind != "snippet" or not element.snippet_id:
                continue
            if element.snippet_id not in self._snippets:
                found = await self.client.snippet_elements(element.snippet_id)
                self._snippets[element.snippet_id] = found
            for inner in self._snippets[element.snippet_id]:
                by_id[inner.id] = inner
                self.snippet_of[inner.id] = element.codename
        return by_id


async def collect(
    variant: dict[str, Any],
    known: dict[str, TypeElement],
    schema: Schema,
    wanted: Callable[[TypeElement], bool],
    marker: str | None,
) -> Texts:
    """The texts of `variant`'s wanted elements and of every component inside them."""
    walk = _Walk(schema, marker)
    for value in variant.get("elements") or []:
        element = element_of(value, known)
        if element is None or element.kind not in TRANSLATABLE or not wanted(element):
            continue
        if not isinstance(value.get("value"), str):
            continue
        entry: dict[str, Any] = {"element": {"codename": element.codename}, "value": value["value"]}
        if element.kind == "rich_text":
            entry["components"] = copy.deepcopy(list(value.get("components") or []))
        walk.elements.append(entry)
        await walk.element(entry, (len(walk.elements) - 1,), element.kind, depth=1)
    return Texts(walk.elements, walk.slots, walk.too_deep)


class _Walk:
    def __init__(self, schema: Schema, marker: str | None) -> None:
        self.schema = schema
        self.marker = marker
        self.elements: list[dict[str, Any]] = []
        self.slots: list[Slot] = []
        self.too_deep = 0

    async def element(self, value: dict[str, Any], path: Path, kind: str, depth: int) -> None:
        """`value` (at `path`): its text, then the components of a rich text (at `depth`)."""
        text = value.get("value")
        if not isinstance(text, str):
            return
        html = kind == "rich_text"
        if has_text(text, html=html):
            self.slots.append(Slot((*path, "value"), text, html))
        components = value.get("components")
        if html and isinstance(components, list):
            await self.components(components, (*path, "components"), depth)

    async def components(self, components: list[Any], path: Path, depth: int) -> None:
        for index, component in enumerate(components):
            if not isinstance(component, dict):
                continue
            if depth > MAX_COMPONENT_DEPTH:
                self.too_deep += 1
                continue
            known = await self.schema.component_type(component.get("type"))
            values = component.get("elements")
            if known is None or not isinstance(values, list):
                continue
            for at, value in enumerate(values):
                element = element_of(value, known)
                if element is None or element.kind not in TRANSLATABLE:
                    continue
                if element.codename == self.marker:  # a marker is never translated
                    continue
                where = (*path, index, "elements", at)
                await self.element(value, where, element.kind, depth + 1)


def element_of(value: Any, known: dict[str, TypeElement]) -> TypeElement | None:
    """The type element a variant's (or component's) value belongs to, by id or codename."""
    ref = value.get("element") if isinstance(value, dict) else None
    if not isinstance(ref, dict):
        return None
    found = known.get(str(ref.get("id")))
    if found is None and ref.get("codename"):
        found = next((e for e in known.values() if e.codename == ref["codename"]), None)
    return found


def has_text(text: str, *, html: bool) -> bool:
    """Whether DeepL has anything to translate: a rich text of tags only (`<p><br></p>`, a
    lone component `<object>`) is empty too."""
    if html:
        text = _TAG.sub("", text).replace("&nbsp;", " ")
    return bool(text.strip())
