"""Which Event fields a template names, so that `{{ event.nam }}` is a load error, not a job
that dies at delivery (and dies again on every retry until the config is fixed)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator

from jinja2 import nodes

from bridge.events import MATCHABLE_FIELDS

# What `event` offers a template: its matchable fields, all its actions, the raw notification.
EVENT_ATTRIBUTES = frozenset((*MATCHABLE_FIELDS, "actions", "raw"))


def unknown_event_fields(tree: nodes.Template) -> Iterator[str]:
    """Each `event.X` / `event["X"]` / `events[i].X` whose X is not an Event attribute, with a
    did-you-mean hint, in the order written. Loop variables (`{% for e in events %}`) are not
    followed: what they hold cannot be known without running the template."""
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        name = _event_attribute(node)
        if name is not None and name not in EVENT_ATTRIBUTES:
            close = difflib.get_close_matches(name, sorted(EVENT_ATTRIBUTES), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            yield f"template refers to event.{name}, which is not an Event field{hint}"


def _event_attribute(node: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(node, nodes.Getattr):
        attribute: object = node.attr
    elif isinstance(node.arg, nodes.Const):
        attribute = node.arg.value
    else:
        return None
    if not isinstance(attribute, str) or not _is_an_event(node.node):
        return None
    return attribute


def _is_an_event(node: nodes.Node) -> bool:
    """`event`, or one element of `events` (`events[0]`, `events[-1]`, `(events|last)` is not)."""
    if isinstance(node, nodes.Name):
        return node.name == "event"
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name):
        return node.node.name == "events" and isinstance(node.arg, nodes.Const | nodes.Neg)
    return False
