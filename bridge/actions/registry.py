"""Action types come from the `bridge.actions` entry-point group, built-ins included."""

from __future__ import annotations

import logging
from functools import cache
from importlib.metadata import entry_points

from bridge.actions.base import Action

log = logging.getLogger(__name__)

GROUP = "bridge.actions"


@cache
def action_types() -> dict[str, type[Action]]:  # type: ignore[type-arg]
    """Every loadable action type by name; a broken plugin is a warning naming its package."""
    types: dict[str, type[Action]] = {}  # type: ignore[type-arg]
    for entry in entry_points(group=GROUP):
        try:
            loaded = entry.load()
        except Exception as exc:  # a plugin may fail in any way; the host must not
            package = entry.dist.name if entry.dist else entry.value
            log.warning(
                "action plugin %r from package %r failed to load: %s", entry.name, package, exc
            )
            continue
        if not (isinstance(loaded, type) and issubclass(loaded, Action)):
            log.warning(
                "action plugin %r (%s) is not an Action subclass; ignored", entry.name, entry.value
            )
            continue
        types[entry.name] = loaded
    return types
