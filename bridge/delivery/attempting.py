"""One attempt of a batch: render its call, send it under the action's timeout, and turn what
happened into an Outcome (retry.py decides when, or whether, it runs again).

The workers (workers.py) decide which batch runs when; this module is the call itself, the same
for every action type. What a failure says is redacted and bounded here, before the store, the
admin API, the log line and an alert repeat it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from bridge import netproblems, redaction
from bridge.actions import endpoints
from bridge.actions import sent as sent_requests
from bridge.actions.base import Action, PermanentFailure, Retry
from bridge.delivery import records, retry
from bridge.delivery.clock import Clock
from bridge.delivery.model import Batch, Outcome
from bridge.delivery.render import RenderError, build_call, current_inputs

log = logging.getLogger("bridge.delivery.workers")


async def attempt(
    batch: Batch, action: Action[Any], action_config: Any, config: Any, clock: Clock
) -> Outcome:
    """Call `action` once for `batch` under `action_config` (its entry in `config`, the config
    as it is now: a retry renders the rule's `with:` and the action's options as they are)."""
    settings = action_config.delivery
    started = clock.now()
    sent = sent_requests.Recorder()  # what the call sends (httputil.request, SDK sessions)

    def failure(error: str, *, response: str | None = None, **details: Any) -> Outcome:
        # Redacted before the store sees them: the DB, the API and alerts never hold a secret.
        # Bounded as a response is: a reason may quote a target's answer (Algolia's message
        # field, megabytes of it), which the log line, the alert and every view repeat.
        outcome = retry.failed(
            batch,
            settings,
            started_at=started,
            finished_at=clock.now(),
            error=records.excerpt(error) or "",
            response=redaction.redact(response) if response else response,
            **details,
        )
        return _with_request(outcome, sent)

    try:
        # The rule's `with:` as the config says now: a fixed template rescues its jobs.
        inputs = current_inputs(config, batch.jobs[0])
        model = action_config.action_class.Options
        call = build_call(batch, action_config.options, model, inputs)
    except RenderError as exc:
        return failure(str(exc), permanent=True)
    seen: netproblems.Progress | None = None
    try:
        endpoints.check_call(call, action_config.action_class)  # before anything connects
        async with asyncio.timeout(settings.timeout_s):
            with sent_requests.recording(sent), netproblems.progress(settings.timeout_s) as seen:
                result = await action.send(call)
    except PermanentFailure as exc:
        return failure(exc.reason, status=exc.status, response=exc.response, permanent=True)
    except Retry as exc:
        return failure(
            exc.reason, status=exc.status, response=exc.response, retry_after_s=exc.delay_s
        )
    except TimeoutError:  # where it stalled: connecting, no answer, an answer that never ended
        stalled = seen.stalled() if seen is not None else ""
        return failure(
            f"timed out after {settings.timeout_s:g}s" + (f": {stalled}" if stalled else ""),
            status=seen.status if seen is not None else None,
        )
    except UnicodeEncodeError as exc:  # the same text fails the same way on every retry
        return failure(f"cannot encode what would be sent: {exc}", permanent=True)
    except Exception as exc:  # an action may fail in any way; the job is retried
        return failure(f"{type(exc).__name__}: {exc}")
    outcome = retry.succeeded(
        batch,
        started_at=started,
        finished_at=clock.now(),
        status=result.status,
        response=redaction.redact(result.response),
    )
    return _with_request(outcome, sent)


def _with_request(outcome: Outcome, sent: sent_requests.Recorder) -> Outcome:
    """The outcome with the request the call sent, when one was recorded (actions/sent.py)."""
    return dataclasses.replace(outcome, request=sent.as_json()) if sent.count else outcome


def log_outcome(batch: Batch, outcome: Outcome) -> None:
    """The attempt's one line: delivered (info), failed and retried (warning), dead (error)."""
    extra: dict[str, Any] = {"delivery_id": batch.delivery_id, "action": batch.action}
    if outcome.state != "succeeded":  # what came back, for a log read without the dashboard
        if outcome.status is not None:
            extra["status"] = outcome.status
        if outcome.response:
            extra["response"] = outcome.response[:200]
    if outcome.state == "succeeded":
        log.info("delivered %s (%d event(s))", batch.delivery_id, len(batch.jobs), extra=extra)
    elif outcome.state == "retrying":
        log.warning(
            "delivery %s failed (attempt %d): %s; next attempt in %.0fs",
            batch.delivery_id,
            batch.attempt,
            outcome.error,
            (outcome.due_at or outcome.finished_at) - outcome.finished_at,
            extra=extra,
        )
    else:
        log.error("delivery %s is dead: %s", batch.delivery_id, outcome.error, extra=extra)
