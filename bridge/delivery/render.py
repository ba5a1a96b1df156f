"""From a claimed batch to the `Call` an action receives: options rendered and validated.

merged = the action's options | the rule's `with:` inputs (unrendered). Each item is rendered
with `batch_context([its event])`, the call's options with the whole batch, and both are
validated with the action's `Options` model. Any failure here cannot be fixed by retrying the
same job, so it is a permanent failure with the reason in the delivery log.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bridge.actions.base import ActionOptions, Call, Item
from bridge.delivery.model import Batch
from bridge.events import Event
from bridge.rules.templates import TemplateError, batch_context, render_options


class RenderError(Exception):
    """The batch's options do not render or validate; the message is the log's reason."""


def build_call(batch: Batch, options: Mapping[str, Any], model: type[ActionOptions]) -> Call[Any]:
    """`options` are the action's own (unrendered); jobs of one batch share their inputs."""
    merged = dict(options) | dict(batch.jobs[0].inputs)
    events = [job.event for job in batch.jobs]
    items = tuple(Item(event, _render([event], merged, model)) for event in events)
    return Call(
        delivery_id=batch.delivery_id,
        action=batch.action,
        options=_render(events, merged, model),
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
    try:
        return model.model_validate(rendered)
    except ValidationError as exc:
        problems = "; ".join(
            f"option {'.'.join(str(p) for p in error['loc']) or '(root)'!r}: {error['msg']}"
            for error in exc.errors()
        )
        raise RenderError(f"options invalid after rendering: {problems}") from None
