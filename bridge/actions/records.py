"""Content item → search record: flattened element values, and `{path}` field templates.

Kept apart from the `algolia` action so that any search plugin can map items the same way.
Placeholders are `{name}` or `{dotted.path}` (single braces): the delivery engine renders Jinja
`{{ ... }}` before the action runs, and it cannot know the fetched content; single-brace
placeholders pass through Jinja untouched and are filled here, against the fresh item.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from html.parser import HTMLParser
from typing import Any

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
PLACEHOLDER = re.compile(r"\{([A-Za-z_][\w.-]*)\}")
MISSING = object()


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def strip_tags(html: str) -> str:
    """Rich text as plain words: tags dropped, whitespace collapsed."""
    parser = _TextOnly()
    parser.feed(html)
    parser.close()
    return " ".join(" ".join(parser.parts).split())


def element_value(element: Mapping[str, Any]) -> Any:
    """One element's value in the shape a search index wants."""
    kind = element.get("type")
    value = element.get("value")
    if kind == "rich_text":
        return strip_tags(value or "")
    if kind in ("multiple_choice", "taxonomy"):
        return [choice.get("codename") for choice in value or [] if isinstance(choice, dict)]
    if kind == "asset":
        return [asset.get("url") for asset in value or [] if isinstance(asset, dict)]
    if kind in ("modular_content", "subpages"):
        return list(value or [])
    return value  # text, url_slug, custom (strings), number, date_time (ISO string or null)


def flatten(item: Mapping[str, Any]) -> dict[str, Any]:
    elements = item.get("elements") or {}
    return {name: element_value(el) for name, el in elements.items() if isinstance(el, dict)}


def default_record(item: Mapping[str, Any], object_id: str) -> dict[str, Any]:
    """System fields and every element's flattened value (system names win on a clash)."""
    system = item.get("system") or {}
    record = flatten(item)
    record.update({name: system.get(name) for name in SYSTEM_FIELDS})
    record["objectID"] = object_id
    return record


def mapped_record(
    item: Mapping[str, Any], object_id: str, mapping: Mapping[str, Any]
) -> dict[str, Any]:
    """Only the fields `mapping` names, each a `{path}` template over the item."""
    namespace = default_record(item, object_id) | {
        "system": item.get("system") or {},
        "elements": flatten(item),
    }
    record = {name: fill(template, namespace) for name, template in mapping.items()}
    record["objectID"] = object_id
    return record


def fill(template: Any, namespace: Mapping[str, Any], *, strict: bool = False) -> Any:
    """A lone `{path}` keeps the value's type (lists, numbers); otherwise text substitution.

    Missing names become null (alone) or "" (in text), since one content type may lack an
    element another has; `strict=True` raises KeyError instead (for identifiers).
    """
    if isinstance(template, list):
        return [fill(part, namespace, strict=strict) for part in template]
    if isinstance(template, dict):
        return {k: fill(v, namespace, strict=strict) for k, v in template.items()}
    if not isinstance(template, str):
        return template
    alone = PLACEHOLDER.fullmatch(template)
    if alone:
        value = lookup(namespace, alone.group(1))
        if value is MISSING:
            if strict:
                raise KeyError(alone.group(1))
            return None
        return value

    def text(match: re.Match[str]) -> str:
        value = lookup(namespace, match.group(1))
        if value is MISSING or value is None:
            if strict and value is MISSING:
                raise KeyError(match.group(1))
            return ""
        if isinstance(value, list):
            return ", ".join(str(v) for v in value)
        return str(value)

    return PLACEHOLDER.sub(text, template)


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
