"""The delivery log as `bridge deliveries` prints it: three lines per job, readable in 80 columns.

A one-row-per-job table needs about 200 columns before the error and event columns are wide
enough to read; below that rich shrinks them to a few characters, which hides the cause just
where an operator looks first. So each job gets a short first line (id, state, tries, times,
action) and two lines of its own for the latest error with what came back and for the rule and
event, each cut with an ellipsis only at the console's width. The id column is as wide as the
longest id; where that leaves the action fewer than ACTION_MIN_WIDTH columns (a 19-digit id at
80 columns leaves it 9), the action moves to a line of its own under the state, whole.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import UTC, datetime

from rich.console import Console
from rich.text import Text

from bridge import redaction
from bridge.delivery.model import DeliveryRow
from bridge.visible import terminal_safe

EXCERPT_CHARS = 200  # a response is cut here even where the console is wider (or unbounded)
TIME_FORMAT = "%m-%d %H:%M:%S"  # UTC; `--json` gives the full ISO 8601 instant
STATE_STYLES = {
    "succeeded": "green",
    "retrying": "red",
    "dead": "bold red",
    "running": "cyan",
    "parked": "yellow",
}
HEADERS = ("JOB", "STATE", "TRIES", "LAST (UTC)", "NEXT (UTC)", "ACTION")
STATE_WIDTH = len("succeeded")
TIME_WIDTH = len("12-31 23:59:59")
ACTION_MIN_WIDTH = 20  # fewer left on the first line: "action <name>" gets a line of its own


def print_deliveries(
    console: Console, rows: Sequence[DeliveryRow], *, parked_actions: Collection[str], now: float
) -> None:
    """Print `rows` (newest first). Unfinished jobs of a disabled action show as parked."""
    id_width = max(len(HEADERS[0]), *(len(str(row.job_id)) for row in rows))
    indent = " " * (id_width + 2)
    action_width = console.width - len(_first_line((*HEADERS[:-1], ""), id_width))
    inline_action = action_width >= ACTION_MIN_WIDTH
    headers = HEADERS if inline_action else HEADERS[:-1]
    console.print(_first_line(headers, id_width), style="bold", no_wrap=True, overflow="ellipsis")
    for row in rows:
        parked = row.action in parked_actions and row.state in ("pending", "retrying")
        state = "parked" if parked else row.state
        action = terminal_safe(row.action)
        fields = (
            str(row.job_id),
            state,
            str(row.attempts),
            _time(row.last_attempt_at),
            "when enabled" if parked else _next(row, now),
        )
        first = Text(_first_line((*fields, action) if inline_action else fields, id_width))
        start = id_width + 2
        first.stylize(STATE_STYLES.get(state, ""), start, start + len(state))
        console.print(first, no_wrap=True, overflow="ellipsis")
        details = [] if inline_action else [f"action {action}"]
        details += [_response(row), f"rule {terminal_safe(row.rule)}: {one_line(row.summary)}"]
        for detail in details:
            console.print(Text(indent + detail), no_wrap=True, overflow="ellipsis")


def _first_line(fields: Sequence[str], id_width: int) -> str:
    """The id, state, tries and times in their columns, then the action when it is given."""
    job, state, tries, last, next_, *action = fields
    columns = (
        job.rjust(id_width),
        state.ljust(STATE_WIDTH),
        tries.rjust(len("TRIES")),
        last.ljust(TIME_WIDTH),
        next_.ljust(TIME_WIDTH),
    )
    return "  ".join((*columns, *action)) if action else "  ".join(columns).rstrip()


def _next(row: DeliveryRow, now: float) -> str:
    if row.state not in ("pending", "retrying") or row.next_attempt_at is None:
        return "-"
    return "now" if row.next_attempt_at <= now else _time(row.next_attempt_at)


def _response(row: DeliveryRow) -> str:
    """The cause first: a failed job's error, then the body that came back with it (`hook
    answered 500` alone hides the target's own words), else the latest response; the status
    before it. An error that only repeats the status, or already quotes the body, is not shown
    twice."""
    status = "" if row.last_status is None else str(row.last_status)
    error = one_line(row.last_error) if row.state != "succeeded" else ""
    body = one_line(row.last_response)
    if error in ("", f"HTTP {status}") or not body:
        text = body if body else error
    elif body.removesuffix("…") in error:
        text = error
    else:
        text = _cut(f"{error}: {body}")
    if not status:
        return text or "no response yet"
    return f"{status} {text}".rstrip()


def _time(at: float | None) -> str:
    if at is None:
        return "-"
    try:
        return datetime.fromtimestamp(at, UTC).strftime(TIME_FORMAT)
    except (OverflowError, ValueError, OSError):
        return "?"


def one_line(text: str | None) -> str:
    """Stored text as one terminal line: redacted, escaped, cut at EXCERPT_CHARS (also for
    `bridge replay --dry-run`'s event summaries)."""
    return _cut(terminal_safe(" ".join(redaction.redact(text or "").split())))


def _cut(flat: str) -> str:
    return flat if len(flat) <= EXCERPT_CHARS else flat[: EXCERPT_CHARS - 1] + "…"
