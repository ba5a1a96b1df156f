"""From a claimed batch to the `Call` an action receives: options rendered and validated.

merged = the action's options | the rule's `with:` inputs (unrendered). Each item is rendered
with `batch_context([its event])`, the call's options with the whole batch, and both are
validated with the action's `Options` model. Any failure here cannot be fixed by retrying the
same job, so it is a permanent failure with the reason in the delivery log.

The `with:` inputs are the rule's as the config says NOW (`current_inputs`), not as they were
when the job was planned: fixing a template and reloading rescues the jobs it killed, on
`bridge retry`, `reset` or the dashboard's Retry. What was stored serves when the rule (or its
item for the action) is gone. A rendered string that cannot be encoded as UTF-8 (a lone
surrogate from JSON's `\\ud800`) is refused here too: no target can ever take it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from pydantic import ValidationError

from bridge.actions.base import ActionOptions, Call, Item
from bridge.delivery.alerts import ALERT_OBJECT_TYPE
from bridge.delivery.model import Batch, ClaimedJob
from bridge.events import Event
from bridge.templates import TemplateError, batch_context, render_options


class RuleConfig(Protocol):
    """The part of bridge.config.Config this module reads: rules with their `do:` items."""

    @property
    def rules(self) -> Sequence[Any]: ...


class RenderError(Exception):
    """The batch's options do not render or validate; the message is the log's reason."""


def current_inputs(config: RuleConfig, job: ClaimedJob) -> Mapping[str, Any]:
    """The `with:` of the do-item that planned `job`, as `config` has it now; else the stored.

    Jobs store their rule's and action's names, not the item's position (no schema change, and
    positions shift when items are inserted). A rule naming the action once (the usual case) is
    unambiguous. A rule naming it several times cannot tell which changed item a job came from:
    the item whose current `with:` equals the stored one, else what was stored. Alerts (and
    rules or items removed since) keep what was stored (docs/delivery.md).
    """
    if job.event.object_type == ALERT_OBJECT_TYPE:  # an alert's inputs are never a rule's
        return job.inputs
    items = _items_for(config, job.rule, job.action)
    if not items:
        return job.inputs
    if len(items) == 1:
        return items[0]
    stored = dict(job.inputs)
    for inputs in items:
        if dict(inputs) == stored:
            return inputs
    return job.inputs


def _items_for(config: RuleConfig, rule: str, action: str) -> list[Mapping[str, Any]]:
    """The `with:` of each of `rule`'s do-items for `action`, in order (cached per config)."""
    return _index(config).get((rule, action), [])


_cached: tuple[RuleConfig, dict[tuple[str, str], list[Mapping[str, Any]]]] | None = None


def _index(config: RuleConfig) -> dict[tuple[str, str], list[Mapping[str, Any]]]:
    """(rule, action) -> inputs, built once per loaded config (a reload installs a new one)."""
    global _cached
    if _cached is not None and _cached[0] is config:
        return _cached[1]
    index: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for rule in config.rules:
        for item in rule.do:
            index.setdefault((rule.name, item.action), []).append(item.inputs)
    _cached = (config, index)
    return index


def build_call(
    batch: Batch,
    options: Mapping[str, Any],
    model: type[ActionOptions],
    inputs: Mapping[str, Any] | None = None,
) -> Call[Any]:
    """`options` are the action's own (unrendered); jobs of one batch share their inputs,
    `inputs` (current_inputs) or, when not given, the first job's stored ones."""
    merged = dict(options) | dict(batch.jobs[0].inputs if inputs is None else inputs)
    events = [job.event for job in batch.jobs]
    call_options = _render(events, merged, model)
    if len(events) == 1:  # the one item sees what the call sees: rendered once, not twice
        items: tuple[Item[Any], ...] = (Item(events[0], call_options),)
    else:
        items = tuple(Item(event, _render([event], merged, model)) for event in events)
    return Call(
        delivery_id=batch.delivery_id,
        action=batch.action,
        options=call_options,
        items=items,
        attempt=batch.attempt,
        request_id=batch.jobs[0].request_id,
        templates=merged,
    )


def _render(
    events: list[Event], merged: Mapping[str, Any], model: type[ActionOptions]
) -> ActionOptions:
    try:
        rendered = render_options(merged, batch_context(events))
    except TemplateError as exc:
        raise RenderError(f"cannot render options: {exc}") from None
    unencodable = _unencodable(rendered, ())
    if unencodable is not None:
        raise RenderError(unencodable)
    try:
        return model.model_validate(rendered)
    except ValidationError as exc:
        problems = "; ".join(
            f"option {'.'.join(str(p) for p in error['loc']) or '(root)'!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise RenderError(f"options invalid after rendering: {problems}") from None


def _unencodable(value: Any, path: tuple[str | int, ...]) -> str | None:
    """Where a rendered string cannot be encoded as UTF-8 (a lone surrogate), if anywhere."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = ".".join(str(p) for p in path) or "(root)"
            char = value[exc.start]
            return (
                f"option {where!r} cannot be encoded as UTF-8 after rendering: {char!r} at "
                f"position {exc.start} (a lone surrogate, e.g. from JSON's \\u{ord(char):04x})"
            )
        return None
    if isinstance(value, Mapping):
        items: Any = value.items()
    elif isinstance(value, list | tuple):
        items = enumerate(value)
    else:
        return None
    for key, inner in items:
        found = _unencodable(inner, (*path, key))
        if found is not None:
            return found
    return None
