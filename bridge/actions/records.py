"""Content item → search record: element values, content blocks, and `{path}` field templates.

A pure function of (item, modular_content, options), kept apart from any one search engine so
that every search action maps items the same way; engine rules (Algolia's `objectID`, Azure's
key alphabet) are parameters. What a record holds beyond each element's plain value, and why:

- taxonomy and multiple-choice elements: codenames (stable facet values) and, beside them in
  `<element>_names`, the names people search for;
- asset elements: URLs, and in `<element>_assets` each asset's name, description, URL and media
  type; with `asset_details`, also its size, width, height and renditions (opt-in: a typed index
  refuses a document holding fields it does not declare);
- dates (`date_time` elements, `last_modified`): also as Unix seconds in `<name>_timestamp`,
  because search engines sort and filter on numbers;
- rich text: words as written (inline tags such as `<b>` add no separator, block tags do), and
  each inline image's alt text where the image is (screen readers read it, image search indexes
  it): the `<img>`'s `alt`, or the asset's description from the element's `images` map;
- linked items and rich-text components, from the response's `modular_content`: one block each
  in `content` with its codename, kind, text and `parents` (the chain of codenames from the
  direct parent up to the record's item), and every codename in `content_codenames`, so that the
  records using an item can be found with one facet filter and refreshed. A block's text is
  what the page shows of the item (`item_text`);
- an element of a type Kontent.ai may add later: its value as text (a string as it is, anything
  else as its JSON text), so that its field has one type, the one a typed index can declare
  without knowing the type, whatever values come.

Placeholders are `{name}` or `{dotted.path}` (single braces): the delivery engine renders Jinja
`{{ ... }}` before the action runs, and it cannot know the fetched content; single-brace
placeholders pass through Jinja untouched and are filled here, against the fresh item.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

from bridge.templates import PRINTED_BRACE

SYSTEM_FIELDS = (
    "id",
    "name",
    "codename",
    "language",
    "type",
    "collection",
    "last_modified",
    "workflow",
    "workflow_step",
)
# Fields the record derives for itself. Like the system fields they win a clash with an element
# of the same codename, always: a rich text element named `content` used to show its words in
# records without blocks and vanish (replaced by the block list) in records with them, so one
# field changed type between records, which a typed index (Azure AI Search) refuses.
DERIVED_FIELDS = ("last_modified_timestamp", "content", "content_codenames")
# A `{` a template printed (PRINTED_BRACE: event data, an item's name) starts no placeholder.
PLACEHOLDER = re.compile(rf"(?<!{re.escape(PRINTED_BRACE[:-1])})\{{([A-Za-z_][\w.-]*)\}}")
MISSING = object()
ASSET_FIELDS = ("name", "description", "url", "type")
# What `asset_details` may add to `<element>_assets`, as the Delivery API names them; renditions
# become a list (`RENDITION_FIELDS`, one entry per preset) instead of the API's object keyed by
# preset codename, so that a typed index can declare them.
ASSET_DETAILS = ("size", "width", "height", "renditions")
RENDITION_FIELDS = ("preset", "url", "width", "height", "query", "rendition_id", "preset_id")
# Elements whose start or end separates words; every other tag (b, i, a, span, sub, ...) is inline.
_BLOCK_TAG_NAMES = (
    "address article aside blockquote br dd div dl dt figcaption figure footer h1 h2 h3 h4 h5 h6 "
    "header hr li main nav object ol p pre section table tbody td tfoot th thead tr ul"
)
BLOCK_TAGS = frozenset(_BLOCK_TAG_NAMES.split())
# The element types of the Delivery API; any other is written as text (`unknown_value`).
KNOWN_KINDS = frozenset(
    ("text", "rich_text", "number", "multiple_choice", "taxonomy", "asset", "modular_content",
     "subpages", "date_time", "url_slug", "custom")
)  # fmt: skip


# How deep blocks nest at most, components and linked items together: Kontent.ai nests
# components up to six levels and linked items as deep as `content_depth` (at most 10) asks;
# a response whose chain goes deeper is malformed, and must not exhaust the recursion.
MAX_BLOCK_NESTING = 64


@dataclass(frozen=True, slots=True)
class RecordOptions:
    """How records are shaped; the defaults suit Algolia and most search engines.

    `key` rewrites every key the mapping derives (for engines with a stricter key alphabet);
    `block_depth` bounds how many levels of linked items nest into `content` (components do
    not count: they are the rich text's own content, always in the response, nested up to six
    levels); linked items of `skip_types` (pages that have records of their own, say) become
    no block; `asset_details` are the `ASSET_DETAILS` that `<element>_assets` holds beside
    `ASSET_FIELDS`.
    """

    block_depth: int = 3
    skip_types: frozenset[str] = frozenset()
    key: Callable[[str], str] = field(default=lambda name: name)
    asset_details: tuple[str, ...] = ()


DEFAULT_OPTIONS = RecordOptions()


class _Text(HTMLParser):
    """Collects text; block elements end a word, inline ones do not; an image gives its alt."""

    def __init__(self, images: Mapping[str, Any]) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.images = images

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append(" ")
        elif tag == "img":
            self.parts.append(f" {self._alt(dict(attrs))} ")

    def _alt(self, attrs: Mapping[str, str | None]) -> str:
        """The `alt` the page shows; when empty, the asset's description from `images`."""
        alt = attrs.get("alt") or ""
        if alt.strip():
            return alt
        image = self.images.get(attrs.get("data-image-id") or attrs.get("data-asset-id") or "")
        description = image.get("description") if isinstance(image, Mapping) else None
        return description if isinstance(description, str) else ""

    def handle_endtag(self, tag: str) -> None:
        if tag in BLOCK_TAGS:
            self.parts.append(" ")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_tags(html: str, images: Any = None) -> str:
    """Rich text as plain words: tags dropped, whitespace collapsed, words kept whole, each
    `<img>` as its alt text (or, when that is empty, its description in `images`, the rich
    text element's map of image id to `{image_id, description, url, ...}`)."""
    parser = _Text(images if isinstance(images, Mapping) else {})
    parser.feed(html)
    parser.close()
    return " ".join("".join(parser.parts).split())


def rich_text_words(element: Mapping[str, Any]) -> str:
    return strip_tags(_html(element.get("value")), element.get("images"))


def _moment(value: Any) -> datetime | None:
    """An ISO 8601 date (UTC when the text names no zone), or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def timestamp(value: Any) -> int | None:
    """An ISO 8601 date as Unix seconds (UTC when the text names no zone), or None."""
    moment = _moment(value)
    return None if moment is None else int(moment.timestamp())


def date_text(value: Any) -> str:
    """A date element's day as words, `2014-11-07`: the day of the API's UTC value, as the
    record's `<element>` and `<element>_timestamp` have it ("" when none)."""
    moment = _moment(value)
    try:
        return "" if moment is None else moment.astimezone(UTC).date().isoformat()
    except OverflowError:  # 0001-01-01T00:00:00+01:00: before the first UTC day
        return ""


def number_text(value: Any) -> str:
    """A number element's value as a page writes it: `99`, `4.5`, `10` for 10.0 ("" when none)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    if isinstance(value, int):
        return str(value) if abs(value) < 10**4000 else ""  # Python's int-to-text limit
    if not math.isfinite(value):
        return ""
    return str(int(value)) if value.is_integer() and abs(value) < 1e16 else repr(value)


def unknown_value(value: Any) -> str | None:
    """An element of an unknown type: a string as it is, null as null, anything else as its
    compact JSON text (null when it has none: NaN)."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except (ValueError, TypeError, RecursionError):
        return None


def _json_data(text: str) -> bool:
    """A JSON object or array (what a colour picker, map or product picker stores): data, not
    the words of a page."""
    if not text.lstrip().startswith(("{", "[")):
        return False
    try:
        return isinstance(json.loads(text), dict | list)
    except (ValueError, RecursionError):
        return False


def element_value(element: Mapping[str, Any]) -> Any:
    """One element's value in the shape a search index wants."""
    kind = element.get("type")
    value = element.get("value")
    if kind == "rich_text":
        return rich_text_words(element)
    if kind in ("multiple_choice", "taxonomy"):
        return [choice.get("codename") for choice in _dicts(value)]
    if kind == "asset":
        return [asset.get("url") for asset in _dicts(value)]
    if kind in ("modular_content", "subpages"):
        return _codenames(value)
    if kind not in KNOWN_KINDS:
        return unknown_value(value)
    return value  # text, url_slug, custom (strings), number, date_time (ISO string or null)


def element_fields(
    name: str, element: Mapping[str, Any], options: RecordOptions = DEFAULT_OPTIONS
) -> dict[str, Any]:
    """The element's value under its name, and the derived fields beside it."""
    fields = {options.key(name): element_value(element)}
    kind, value = element.get("type"), element.get("value")
    if kind in ("multiple_choice", "taxonomy"):
        fields[options.key(f"{name}_names")] = [choice.get("name") for choice in _dicts(value)]
    elif kind == "asset":
        fields[options.key(f"{name}_assets")] = [_asset(a, options) for a in _dicts(value)]
    elif kind == "date_time":
        fields[options.key(f"{name}_timestamp")] = timestamp(value)
    return fields


def _asset(asset: Mapping[str, Any], options: RecordOptions) -> dict[str, Any]:
    """The asset's fields; each detail asked for is always written (null, or no renditions),
    so every document of a typed index has the same fields."""
    fields = {k: asset.get(k) for k in ASSET_FIELDS if k in asset}
    for name in options.asset_details:
        fields[name] = _renditions(asset, options) if name == "renditions" else asset.get(name)
    return {options.key(k): v for k, v in fields.items()}


def _renditions(asset: Mapping[str, Any], options: RecordOptions) -> list[dict[str, Any]]:
    """The API's `{preset codename: rendition}` as a list, each with the URL that applies it
    (the asset URL with the rendition's query, as Kontent.ai's SDKs build it)."""
    renditions = asset.get("renditions")
    if not isinstance(renditions, Mapping):
        return []
    url = asset.get("url")
    found = []
    for preset, rendition in renditions.items():
        if not isinstance(rendition, Mapping):
            continue
        entry = {k: rendition.get(k) for k in RENDITION_FIELDS[2:]}
        query = rendition.get("query")
        applied = url
        if isinstance(url, str) and isinstance(query, str) and query:
            applied = f"{url}{'&' if '?' in url else '?'}{query}"
        entry = {"preset": str(preset), "url": applied} | entry
        found.append({options.key(k): v for k, v in entry.items()})
    return found


def flatten(item: Mapping[str, Any], options: RecordOptions = DEFAULT_OPTIONS) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for name, element in _elements(item).items():
        record |= element_fields(name, element, options)
    return record


def build_record(
    item: Mapping[str, Any],
    modular_content: Mapping[str, Any] | None = None,
    options: RecordOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """System fields, every element's fields, and content blocks (system and derived names win
    a clash, whether or not the item has blocks; `{elements.<name>}` still reaches the element)."""
    system = _system(item)
    record = flatten(item, options)
    for name in DERIVED_FIELDS:
        record.pop(options.key(name), None)
    record.update({options.key(name): system.get(name) for name in SYSTEM_FIELDS})
    record[options.key("last_modified_timestamp")] = timestamp(system.get("last_modified"))
    blocks = content_blocks(item, modular_content or {}, options)
    if blocks:
        record[options.key("content")] = blocks
        record[options.key("content_codenames")] = [b[options.key("codename")] for b in blocks]
    return record


def content_blocks(
    item: Mapping[str, Any],
    modular_content: Mapping[str, Any],
    options: RecordOptions = DEFAULT_OPTIONS,
) -> list[dict[str, Any]]:
    """Linked items and components, each codename once, at its nearest place; depth first.

    An item reachable along several paths is placed where it has the fewest linked-item levels
    (the first such place in element order among equals): placed under an earlier sibling that
    also links it, one level deeper, its own linked items at the last level were cut off by
    `block_depth` though the page links it directly, and `parents` named the longer chain.
    """
    root = _system(item).get("codename")
    root = root if isinstance(root, str) else ""
    places = _places(root, item, modular_content, options)
    blocks: list[dict[str, Any]] = []

    def visit(node: Mapping[str, Any], parents: list[str]) -> None:
        if len(parents) > MAX_BLOCK_NESTING:  # a malformed chain: bounded recursion
            return
        for codename, kind in _children(node):
            if places.get(codename) != (parents[0], kind):
                continue
            del places[codename]  # listed twice by its parent: one block
            child = modular_content[codename]
            blocks.append(_block(child, kind, parents, options))
            visit(child, [codename, *parents])

    visit(item, [root])
    return blocks


def _places(
    root: str,
    item: Mapping[str, Any],
    modular_content: Mapping[str, Any],
    options: RecordOptions,
) -> dict[str, tuple[str, str]]:
    """Each block's codename -> (its parent's codename, its kind) at its nearest place.

    Depth first, in element order, moving a codename only when a path with fewer linked-item
    levels reaches it; its levels only decrease, so each item is walked at most
    `block_depth + 1` times, and a cycle ends.
    """
    levels = {root: 0}
    places: dict[str, tuple[str, str]] = {}

    def visit(codename: str, node: Mapping[str, Any], nesting: int) -> None:
        if nesting > MAX_BLOCK_NESTING:  # a malformed chain: bounded recursion
            return
        for child_codename, kind in _children(node):
            child = modular_content.get(child_codename)
            if not isinstance(child, Mapping):
                continue
            level = levels[codename] + (kind == "linked_item")
            if level > options.block_depth or level >= levels.get(child_codename, level + 1):
                continue
            kind_of = _system(child).get("type")
            if kind == "linked_item" and isinstance(kind_of, str) and kind_of in options.skip_types:
                continue
            levels[child_codename] = level
            places[child_codename] = (codename, kind)
            visit(child_codename, child, nesting + 1)

    visit(root, item, 1)
    return places


def default_record(
    item: Mapping[str, Any],
    object_id: str,
    modular_content: Mapping[str, Any] | None = None,
    options: RecordOptions = DEFAULT_OPTIONS,
    *,
    id_key: str = "objectID",
) -> dict[str, Any]:
    """`build_record` with the engine's identifier under `id_key`."""
    record = build_record(item, modular_content, options)
    record[id_key] = object_id
    return record


def record_namespace(
    item: Mapping[str, Any],
    modular_content: Mapping[str, Any] | None = None,
    options: RecordOptions = DEFAULT_OPTIONS,
) -> dict[str, Any]:
    """What `{path}` templates see: the default record, plus `system`, `elements`, `item`."""
    return build_record(item, modular_content, options) | {
        "system": _system(item),
        "elements": flatten(item, RecordOptions(asset_details=options.asset_details)),
        "item": item,
        "modular_content": modular_content or {},
    }


def mapped_record(
    item: Mapping[str, Any],
    object_id: str,
    mapping: Mapping[str, Any],
    modular_content: Mapping[str, Any] | None = None,
    options: RecordOptions = DEFAULT_OPTIONS,
    *,
    id_key: str = "objectID",
) -> dict[str, Any]:
    """Only the fields `mapping` names, each a `{path}` template over the item."""
    namespace = record_namespace(item, modular_content, options)
    record = {name: fill(template, namespace) for name, template in mapping.items()}
    record[id_key] = object_id
    return record


def fill(template: Any, namespace: Mapping[str, Any], *, strict: bool = False) -> Any:
    """A lone `{path}` keeps the value's type (lists, numbers); otherwise text substitution.

    Missing names become null (alone) or "" (in text), since one content type may lack an
    element another has; `strict=True` raises KeyError instead, for a null value too (for
    identifiers: `{codename}_{language}` of an event without a codename must not be `_en`,
    the one key every such event would share, nor `{id}` of one without an id "None").
    """
    if isinstance(template, list):
        return [fill(part, namespace, strict=strict) for part in template]
    if isinstance(template, dict):
        return {k: fill(v, namespace, strict=strict) for k, v in template.items()}
    if not isinstance(template, str):
        return template
    if PRINTED_BRACE in template:  # text only: what a template printed is never a placeholder
        return PLACEHOLDER.sub(_filler(namespace, strict), template).replace(PRINTED_BRACE, "{")
    alone = PLACEHOLDER.fullmatch(template)
    if alone:
        value = lookup(namespace, alone.group(1))
        if value is MISSING or (strict and value is None):
            if strict:
                raise KeyError(alone.group(1))
            return None
        return value

    return PLACEHOLDER.sub(_filler(namespace, strict), template)


def _filler(namespace: Mapping[str, Any], strict: bool) -> Callable[[re.Match[str]], str]:
    def text(match: re.Match[str]) -> str:
        value = lookup(namespace, match.group(1))
        if value is MISSING or value is None:
            if strict:
                raise KeyError(match.group(1))
            return ""
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    return text


def lookup(namespace: Mapping[str, Any], path: str) -> Any:
    current: Any = namespace
    for part in path.split("."):
        if isinstance(current, Mapping) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return MISSING
    return current


def _block(
    child: Mapping[str, Any], kind: str, parents: list[str], options: RecordOptions
) -> dict[str, Any]:
    system = _system(child)
    block = {name: system.get(name) for name in ("id", "codename", "name", "type")}
    block |= {"kind": kind, "parents": list(parents), "text": item_text(child)}
    return {options.key(k): v for k, v in block.items()}


def item_text(item: Mapping[str, Any]) -> str:
    """What a page shows of an item, in element order: text, rich text (with its images' alt
    text), numbers, dates, term names, asset names and descriptions, and the text of custom
    elements and of elements of an unknown type. Not URL slugs (an address, not words), not a
    JSON object or array (a custom element's data), not linked items (blocks of their own)."""
    words: list[str] = []
    for element in _elements(item).values():
        words += _words(element)
    return " ".join(" ".join(words).split())


def _words(element: Mapping[str, Any]) -> list[str]:
    kind, value = element.get("type"), element.get("value")
    if kind == "rich_text":
        return [rich_text_words(element)]
    if kind in ("multiple_choice", "taxonomy"):
        return [str(choice.get("name") or "") for choice in _dicts(value)]
    if kind == "asset":
        return [str(a.get(k) or "") for a in _dicts(value) for k in ("name", "description")]
    if kind == "number":
        return [number_text(value)]
    if kind == "date_time":
        return [date_text(value)]
    if kind == "text":
        return [value] if isinstance(value, str) else []
    if kind == "custom" or kind not in KNOWN_KINDS:
        return [value] if isinstance(value, str) and not _json_data(value) else []
    return []  # url_slug, modular_content, subpages


COMPONENT = re.compile(r"<object\b[^>]*>", re.I)
ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')


def _children(item: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(codename, "linked_item" | "component") in element order, as the parent holds them."""
    found: list[tuple[str, str]] = []
    for element in _elements(item).values():
        kind = element.get("type")
        if kind in ("modular_content", "subpages"):
            found += [(c, "linked_item") for c in _codenames(element.get("value"))]
        elif kind == "rich_text":
            components = _components(_html(element.get("value")))
            names = _codenames(element.get("modular_content")) or list(components)
            found += [(c, components.get(c, "linked_item")) for c in names]
    return found


def _components(html: str) -> dict[str, str]:
    """Rich text's `<object data-codename=... data-rel=component|link>` tags, by codename."""
    found: dict[str, str] = {}
    for tag in COMPONENT.findall(html):
        attributes = dict(ATTRIBUTE.findall(tag))
        codename = attributes.get("data-codename")
        if codename:
            rel = attributes.get("data-rel")
            found[codename] = "component" if rel == "component" else "linked_item"
    return found


def _elements(item: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    elements = item.get("elements")
    if not isinstance(elements, Mapping):
        return {}
    return {k: v for k, v in elements.items() if isinstance(v, Mapping)}


# A value of another JSON type than Kontent.ai's counts as empty, here as in `_dicts`: the
# record is a pure function of whatever answer came, and must not raise on any of them.
def _system(item: Mapping[str, Any]) -> Mapping[str, Any]:
    system = item.get("system")
    return system if isinstance(system, Mapping) else {}


def _html(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _codenames(value: Any) -> list[str]:
    return [c for c in value if isinstance(c, str)] if isinstance(value, list) else []


def _dicts(value: Any) -> list[Mapping[str, Any]]:
    return [v for v in value or [] if isinstance(v, Mapping)] if isinstance(value, list) else []
