"""Templates in an action's own options and in a rule's `with:`, checked at load for the action
they feed: what bridge.templates finds in each (syntax, unknown names, Event fields, filters and
tests) is an error; `event` where a debounced action renders the option once over several
events is a warning (it holds the last event, which may be what was meant).

Every template is checked once, where it is written: an action's options when the action is
read, a `with:` value at its use.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge.actions.base import Action
from bridge.config.document import Document
from bridge.config.durations import format_duration
from bridge.config.errors import Path, option_prefix
from bridge.config.model import DeliverySettings
from bridge.templates import check_template, template_sources

# Names that hold only the last event of a call, with what to write instead.
_LAST_EVENT_ONLY = {
    "event": "events[-1] for the last one, or a for loop",
    "notification": "events[-1].raw for the last one's notification, or a for loop",
}


def check_templates(
    doc: Document,
    name: str,
    action_class: type[Action],  # type: ignore[type-arg]
    settings: DeliverySettings,
    options: Mapping[str, Any],
    path: Path,
) -> set[str]:
    """Reports every problem of every templated string in `options` (under `path`), which feed
    action `name`; returns the top-level keys that hold templates."""
    templated: set[str] = set()
    batched = _batched_by(settings)
    per_event: frozenset[str] = getattr(action_class, "per_event_options", frozenset())
    for key, value in options.items():
        for sub, source in template_sources(value):
            templated.add(key)
            found = check_template(source)
            where, prefix = (*path, key, *sub), option_prefix(name, key)
            for problem in found.problems:
                doc.error(where, f"{prefix}: {problem}")
            if batched and key not in per_event:
                # A warning, not an error: `event` is defined (the last event), so a config
                # written that way works as it did; refusing it would stop a running bridge
                # from starting again after an upgrade.
                for used, instead in _LAST_EVENT_ONLY.items():
                    if used in found.reads:
                        doc.warn(
                            where,
                            f"{prefix}: template uses {used!r}, but the action is debounced "
                            f"({batched}) and its calls carry several events, of which "
                            f"{used!r} holds only the last: use 'events' ({instead})",
                        )
    return templated


def _batched_by(settings: DeliverySettings) -> str:
    """`debounce: 60s, max_wait: 10m` when calls may carry several events, else empty."""
    parts = [
        f"{option}: {format_duration(seconds)}"
        for option, seconds in (
            ("debounce", settings.debounce_s),
            ("max_wait", settings.max_wait_s),
        )
        if seconds is not None
    ]
    return ", ".join(parts)
