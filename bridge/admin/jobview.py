"""What the job page adds to a job's row: what the next attempt renders, the coalesced call it
belongs to, and the request each attempt sent.

- Rendered inputs: the action's options with the rule's `with:` as the current config has it
  (bridge.delivery.render.current_inputs: what a retry would use), rendered for the job's
  events, with secrets hidden by the one policy of bridge.redaction, as `bridge explain` shows.
- The call: jobs delivered together share a `delivery_id` (debounce/max_wait); every job and
  event of the call is listed, so an operator sees what one build hook or one batch carried.
- The request sent: read from an attempt's `request` (a mapping or object with `method`,
  `url`, `headers`, `body`) when the store records one (W5a: migration 0004); absent, the page
  says that this attempt's request was not recorded.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from bridge.admin import present
from bridge.admin.context import AdminContext
from bridge.admin.params import whole_number
from bridge.delivery.render import current_inputs
from bridge.rules.templates import TemplateError, batch_context, render_options

CALL_SHOWN_JOBS = 50
# A job retried for days has thousands of attempts, each with its response and request: all
# of them on one page was megabytes of HTML and seconds of rendering. The page lists the
# newest ATTEMPTS_SHOWN and links to older ones; the API's job still has every attempt.
ATTEMPTS_SHOWN = 20


@dataclass(frozen=True, slots=True)
class AttemptPage:
    attempts: list[Any]  # newest first
    total: int
    offset: int  # how many newer attempts come before this page
    older: int | None  # the `attempts` offset of the next older page, if there is one
    newer: int | None  # the `attempts` offset of the next newer page, if not the first


def attempt_page(attempts: Any, raw_offset: str | None) -> AttemptPage:
    """One page of a job's attempts, newest first, from the `?attempts=` offset (an offset no
    page has, or not a number, is the first page: a hand-edited URL still shows the job)."""
    newest_first = list(attempts)[::-1]
    total = len(newest_first)
    offset = whole_number(raw_offset or "") or 0
    if offset >= total:
        offset = 0
    end = offset + ATTEMPTS_SHOWN
    return AttemptPage(
        attempts=newest_first[offset:end],
        total=total,
        offset=offset,
        older=end if end < total else None,
        newer=max(offset - ATTEMPTS_SHOWN, 0) if offset > 0 else None,
    )


@dataclass(frozen=True, slots=True)
class Rendered:
    inputs: dict[str, Any] | None
    error: str | None
    note: str


def rendered_inputs(ctx: AdminContext, job: Any) -> Rendered:
    action = ctx.configured_actions().get(job.row.action)
    if action is None:
        return Rendered(None, None, "The action is no longer in the configuration.")
    config = ctx.config
    claimed = SimpleNamespace(
        event=job.events[0] if job.events else SimpleNamespace(object_type=None),
        rule=job.row.rule,
        action=job.row.action,
        inputs=job.inputs,
    )
    try:
        inputs = current_inputs(config, claimed) if config is not None else job.inputs  # type: ignore[arg-type]
    except (AttributeError, TypeError):  # a config object without do-items' inputs
        inputs = job.inputs
    merged = dict(action.options) | dict(inputs)
    secrets = frozenset(getattr(action.action_class, "secret_options", frozenset()))
    note = "The action's options with the rule's current with:, rendered for this job's events."
    try:
        rendered = render_options(merged, batch_context(list(job.events)))
    except TemplateError as exc:
        return Rendered(present.redact_options(merged, secrets), str(exc), note)
    except Exception as exc:  # stored inputs of any shape must still show a page
        reason = f"cannot render: {type(exc).__name__}"
        return Rendered(present.redact_options(merged, secrets), reason, note)
    return Rendered(present.redact_options(rendered, secrets), None, note)


@dataclass(frozen=True, slots=True)
class Call:
    size: int  # every job the call carried
    jobs: list[Any]  # the first CALL_SHOWN_JOBS, oldest first, and the job itself


async def call_of(ctx: AdminContext, job: Any) -> Call:
    """The call `job` was delivered in, by its delivery id (the jobs' batch_id, indexed).

    Read by that id, not by scanning the action's newest rows: a 10,000-job batch was counted
    as the 1,000 rows scanned, and an older job of it was not among the jobs it listed."""
    delivery_id = getattr(job.row, "delivery_id", None)
    if not delivery_id:
        return Call(0, [])
    size, mates = await ctx.store.batch_jobs(delivery_id, limit=CALL_SHOWN_JOBS)
    if size > 0 and all(m.job_id != job.row.job_id for m in mates):
        mates.append(job.row)
    return Call(size, mates)


async def call_events(ctx: AdminContext, mates: list[Any]) -> list[tuple[Any, list[str]]]:
    """Each job of the call with its events' summaries."""
    shown: list[tuple[Any, list[str]]] = []
    for mate in mates:
        detail = await ctx.store.job(mate.job_id)
        events = list(detail.events) if detail is not None else []
        shown.append((mate, [present.event_summary(e) for e in events]))
    return shown


def sent_request(attempt: Any) -> dict[str, Any] | None:
    """The request an attempt sent, as the page shows it (redacted again on the way out)."""
    sent = getattr(attempt, "request", None)
    if sent is None:
        return None

    def read(key: str) -> Any:
        return sent.get(key) if isinstance(sent, Mapping) else getattr(sent, key, None)

    headers = read("headers") or {}
    shown: dict[str, Any] = {
        "method": read("method") or "",
        "url": read("url") or "",
        "headers": present.redact_options(dict(headers)) if isinstance(headers, Mapping) else {},
        "body": read("body"),
    }
    return shown
