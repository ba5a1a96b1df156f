"""The `webhooks`, `kontent`, `defaults` and `actions` sections."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, cast

from bridge.actions.base import Action
from bridge.config import checks
from bridge.config.document import Document
from bridge.config.errors import Path, did_you_mean
from bridge.config.model import (
    DEFAULT_DELIVERY_URL,
    DEFAULT_MANAGEMENT_URL,
    DEFAULT_PREVIEW_URL,
    ActionConfig,
    DeliverySettings,
    EnvironmentConfig,
    KontentConfig,
    Ordering,
    WebhookConfig,
)
from bridge.config.options import check_action_options

ActionTypes = Mapping[str, type[Action]]  # type: ignore[type-arg]

COMMON_OPTIONS = ("debounce", "max_wait", "retry", "timeout", "ordering", "enabled", "concurrency")
RESERVED_PATHS = ("/healthz", "/readyz", "/metrics", "/admin")
# Calls in flight per action: past this the process runs out of sockets long before, and a
# larger number overflowed the claim's 64-bit SQL LIMIT (every claim failed).
MAX_CONCURRENCY = 10_000
# kontent.max_response_bytes: one Delivery API answer held in memory.
MAX_READ_BYTES = 1024 * 1024 * 1024


def webhooks(doc: Document, value: Any, path: Path) -> tuple[WebhookConfig, ...]:
    items = checks.sequence(doc, value, path) or []
    result: list[WebhookConfig] = []
    for index, item in enumerate(items):
        webhook = _webhook(doc, item, (*path, index))
        if webhook is not None:
            result.append(webhook)
    checks.unique(doc, [(w.name, (*path, i, "name")) for i, w in enumerate(result)], "webhook")
    checks.unique(doc, [(w.path, (*path, i, "path")) for i, w in enumerate(result)], "path")
    return tuple(result)


def _webhook(doc: Document, value: Any, path: Path) -> WebhookConfig | None:
    spec = checks.mapping(
        doc, value, path, allowed=("name", "path", "secrets", "verify"), required=("name", "path")
    )
    if spec is None:
        return None
    name = checks.string(doc, spec.get("name"), (*path, "name"), nonempty=True)
    url_path = checks.string(doc, spec.get("path"), (*path, "path"))
    if url_path is not None and not url_path.startswith("/"):
        doc.error((*path, "path"), f"must start with '/', got {url_path!r}")
    reserved = [p for p in RESERVED_PATHS if url_path == p or (url_path or "").startswith(p + "/")]
    if reserved:
        doc.error((*path, "path"), f"{url_path!r} is reserved for the bridge's own {reserved[0]}")
    verify = checks.boolean(doc, spec.get("verify", True), (*path, "verify"))
    secrets: list[str] = []
    for index, secret in enumerate(
        checks.sequence(doc, spec.get("secrets", []), (*path, "secrets")) or []
    ):
        text = checks.string(doc, secret, (*path, "secrets", index))
        if text == "":
            doc.error((*path, "secrets", index), "secret is empty (is its variable set?)")
        elif text is not None:
            secrets.append(text)
    if verify is False:
        doc.warn((*path, "verify"), f"webhook {name!r} accepts unsigned requests (verify: false)")
    elif not secrets and "secrets" not in spec:
        doc.error((*path, "secrets"), "required unless 'verify: false' (for local testing only)")
    if name is None or url_path is None or verify is None:
        return None
    return WebhookConfig(name, url_path, tuple(secrets), verify)


def kontent(doc: Document, value: Any, path: Path) -> KontentConfig:
    spec = checks.mapping(
        doc,
        value,
        path,
        allowed=(
            "delivery_url",
            "preview_url",
            "management_url",
            "max_response_bytes",
            "environments",
        ),
    )
    if spec is None:
        return KontentConfig()
    environments: dict[str, EnvironmentConfig] = {}
    env_path = (*path, "environments")
    for env_id, env in (checks.mapping(doc, spec.get("environments", {}), env_path) or {}).items():
        keys = ("preview_api_key", "secure_access_key", "management_api_key")
        env_spec = checks.mapping(
            doc, env if env is not None else {}, (*env_path, env_id), allowed=keys
        )
        if env_spec is None:
            continue
        found = {
            key: checks.string(doc, env_spec[key], (*env_path, env_id, key)) or None
            for key in keys
            if key in env_spec and env_spec[key] is not None
        }
        environments[env_id] = EnvironmentConfig(**found)
    urls = {
        key: checks.base_url(doc, spec[key], (*path, key)) or default
        for key, default in (
            ("delivery_url", DEFAULT_DELIVERY_URL),
            ("preview_url", DEFAULT_PREVIEW_URL),
            ("management_url", DEFAULT_MANAGEMENT_URL),
        )
        if key in spec
    }
    values: dict[str, Any] = {k: v.rstrip("/") for k, v in urls.items()}
    if "max_response_bytes" in spec:
        limit = checks.positive_int(
            doc, spec["max_response_bytes"], (*path, "max_response_bytes"), maximum=MAX_READ_BYTES
        )
        if limit is not None:
            values["max_response_bytes"] = limit
    return KontentConfig(environments=environments, **values)


def delivery_settings(
    doc: Document, spec: Mapping[str, Any], path: Path, base: DeliverySettings
) -> DeliverySettings:
    """`base` with the common options found in `spec` applied (unknown keys are not ours)."""
    values: dict[str, Any] = {}
    if "retry" in spec:
        values |= _retry(doc, spec["retry"], (*path, "retry"))
    for key, (field_name, read) in _READERS.items():
        if key not in spec:
            continue
        if key in ("debounce", "max_wait") and spec[key] in (None, 0, "0", "0s", False):
            values[field_name] = None  # explicitly off, overriding a type's default
            continue
        value = read(doc, spec[key], (*path, key))
        if value is not None:
            values[field_name] = value
    settings = dataclasses.replace(base, **values)
    wait, debounce = settings.max_wait_s, settings.debounce_s
    if wait is not None and debounce is not None and wait < debounce:
        doc.error((*path, "max_wait"), "must be at least as long as debounce")
    return settings


def _retry(doc: Document, value: Any, path: Path) -> dict[str, Any]:
    """The DeliverySettings fields a valid `retry:` mapping sets; invalid parts keep the base."""
    allowed = ("schedule", "give_up_after", "max_retry_after")
    retry = checks.mapping(doc, value, path, allowed=allowed) or {}
    values: dict[str, Any] = {}
    if "schedule" in retry:
        delays = checks.sequence(doc, retry["schedule"], (*path, "schedule"))
        parsed = [
            checks.duration(doc, d, (*path, "schedule", i)) for i, d in enumerate(delays or [])
        ]
        if delays == []:
            doc.error((*path, "schedule"), "needs at least one delay")
        elif delays is not None and None not in parsed:
            values["retry_schedule_s"] = tuple(cast(list[float], parsed))
    if "give_up_after" in retry:
        give_up = checks.duration(doc, retry["give_up_after"], (*path, "give_up_after"))
        if give_up is not None:
            values["give_up_after_s"] = give_up
    if "max_retry_after" in retry:
        longest = checks.duration(doc, retry["max_retry_after"], (*path, "max_retry_after"))
        if longest is not None:
            values["max_retry_after_s"] = longest
    return values


def _ordering(doc: Document, value: Any, path: Path) -> Ordering | None:
    if value in ("fifo", "none"):
        return cast(Ordering, value)
    doc.error(path, f"expected 'fifo' or 'none', got {value!r}")
    return None


Reader = Callable[[Document, Any, Path], Any]
# Common option -> (DeliverySettings field, reader); the retry mapping is read separately.
_READERS: dict[str, tuple[str, Reader]] = {
    "timeout": ("timeout_s", checks.duration),
    "debounce": ("debounce_s", checks.duration),
    "max_wait": ("max_wait_s", checks.duration),
    "ordering": ("ordering", _ordering),
    "enabled": ("enabled", checks.boolean),
    "concurrency": ("concurrency", partial(checks.positive_int, maximum=MAX_CONCURRENCY)),
}


def defaults(doc: Document, value: Any, path: Path) -> DeliverySettings:
    spec = checks.mapping(doc, value, path, allowed=COMMON_OPTIONS)
    return delivery_settings(doc, spec or {}, path, DeliverySettings())


def actions(
    doc: Document, value: Any, path: Path, base: DeliverySettings, types: ActionTypes
) -> dict[str, ActionConfig]:
    specs = checks.mapping(doc, value, path) or {}
    result: dict[str, ActionConfig] = {}
    for name, spec in specs.items():
        action = _action(doc, name, spec, (*path, name), base, types)
        if action is not None:
            result[name] = action
    return result


def _action(
    doc: Document, name: str, value: Any, path: Path, base: DeliverySettings, types: ActionTypes
) -> ActionConfig | None:
    spec = checks.mapping(doc, value, path, required=("type",))
    if spec is None or "type" not in spec:
        return None
    type_name = checks.string(doc, spec["type"], (*path, "type"))
    if type_name is None:
        return None
    action_class = types.get(type_name)
    if action_class is None:
        hint = did_you_mean(type_name, types)
        known = ", ".join(sorted(types)) or "none installed"
        doc.error((*path, "type"), f"unknown action type {type_name!r}{hint} (known: {known})")
        return None
    class_defaults = {k: v for k, v in action_class.defaults.items() if k in COMMON_OPTIONS}
    settings = delivery_settings(doc, class_defaults | spec, path, base)
    options = {k: v for k, v in spec.items() if k != "type" and k not in COMMON_OPTIONS}
    templated = check_action_options(doc, name, action_class, settings, options, path)
    return ActionConfig(name, type_name, action_class, options, settings, templated)
