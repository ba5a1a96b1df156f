"""The `sources:` section: Kontent.ai Sync API v2 sources the bridge polls (bridge/sources).

Checked after `kontent:`, because a source's keys default to its environment's entry there and
a preview source without any preview key can only fail at run time otherwise.
"""

from __future__ import annotations

import re
from typing import Any, cast

from bridge.config import checks
from bridge.config.document import Document
from bridge.config.errors import Path
from bridge.config.model import KontentConfig, Slot, SourceConfig

SOURCE_KEYS = (
    "name",
    "environment_id",
    "slot",
    "interval",
    "api_url",
    "preview_api_key",
    "secure_access_key",
    "enabled",
)
SLOTS = ("published", "preview")
# Kontent.ai documents no minimum; a floor keeps a typo (`1ms`) from hammering the API.
MIN_INTERVAL_S = 1.0
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
ENVIRONMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*\Z")


def sources(
    doc: Document, value: Any, path: Path, kontent: KontentConfig
) -> tuple[SourceConfig, ...]:
    items = checks.sequence(doc, value if value is not None else [], path) or []
    found: list[SourceConfig] = []
    names: list[tuple[str, Path]] = []
    for index, item in enumerate(items):
        source = _source(doc, item, (*path, index), kontent)
        if source is not None:
            found.append(source)
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            names.append((item["name"], (*path, index, "name")))  # even if the rest is wrong
    checks.unique(doc, names, "source")
    return tuple(found)


def _source(doc: Document, value: Any, path: Path, kontent: KontentConfig) -> SourceConfig | None:
    spec = checks.mapping(
        doc, value, path, allowed=SOURCE_KEYS, required=("name", "environment_id")
    )
    if spec is None or "name" not in spec or "environment_id" not in spec:
        return None
    name = checks.string(doc, spec["name"], (*path, "name"), nonempty=True)
    if name is not None and not NAME.match(name):
        doc.error((*path, "name"), f"use letters, digits, '-', '_' and '.', got {name!r}")
        name = None
    env_id = checks.string(doc, spec["environment_id"], (*path, "environment_id"), nonempty=True)
    if env_id is not None and not ENVIRONMENT_ID.match(env_id):
        # It is a segment of every Sync API URL (<api_url>/<id>/sync): '/', '?' or '..' in it
        # would send the source's keys to another path of the API host.
        doc.error(
            (*path, "environment_id"),
            f"expected an environment id (letters, digits and '-', as in "
            f"8d6f0e47-3a5b-4c1d-9e2f-0a1b2c3d4e5f), got {env_id!r}",
        )
        env_id = None
    slot = _slot(doc, spec.get("slot", "published"), (*path, "slot"))
    interval = checks.duration(doc, spec.get("interval", "1m"), (*path, "interval"))
    if interval is not None and interval < MIN_INTERVAL_S:
        doc.error((*path, "interval"), f"must be at least 1s, got {spec['interval']!r}")
        interval = None
    enabled = checks.boolean(doc, spec.get("enabled", True), (*path, "enabled"))
    api_url = _url(doc, spec, (*path, "api_url"))
    keys = {
        key: checks.string(doc, spec[key], (*path, key)) or None
        for key in ("preview_api_key", "secure_access_key")
        if spec.get(key) is not None
    }
    environment = kontent.environments.get(env_id or "")
    preview_key = keys.get("preview_api_key") or (environment and environment.preview_api_key)
    secure_key = keys.get("secure_access_key") or (environment and environment.secure_access_key)
    if slot == "preview" and env_id is not None and not preview_key:
        doc.error(
            (*path, "slot"),
            "the preview slot needs a preview_api_key (on the source or under "
            f"kontent.environments['{env_id}'])",
        )
        return None
    if None in (name, env_id, slot, interval, enabled):
        return None
    assert name is not None and env_id is not None and interval is not None
    return SourceConfig(
        name=name,
        environment_id=env_id,
        slot=cast(Slot, slot),
        interval_s=interval,
        api_url=api_url,
        preview_api_key=preview_key or None,
        secure_access_key=secure_key or None,
        enabled=bool(enabled),
    )


def _slot(doc: Document, value: Any, path: Path) -> str | None:
    if value in SLOTS:
        return str(value)
    doc.error(path, f"expected 'published' or 'preview', got {value!r}")
    return None


def _url(doc: Document, spec: dict[str, Any], path: Path) -> str | None:
    if spec.get("api_url") is None:
        return None
    return checks.base_url(doc, spec["api_url"], path)
