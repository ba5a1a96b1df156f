"""Turning store rows and config objects into JSON-ready dicts, with secrets redacted.

The store's value types are dataclasses (or pydantic models); this module reads them by field
so that a field the store adds later shows up in the API without a change here. Times are epoch
seconds in the store and ISO 8601 UTC strings in the API.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from bridge import redaction, visible
from bridge.admin import safejson

HEALTH_LABELS: Mapping[str, str] = {
    "ready": "Ready",
    "working": "Working",
    "failing": "Failing",
    "dead": "Dead",
}


def moment(ts: object) -> datetime | None:
    """A stored time as a UTC datetime; None for what no datetime can hold (NaN, 1e300, text).

    Rows written by hand or by older versions may hold any of those, and one such value must
    not take down every page that shows it."""
    if isinstance(ts, bool) or not isinstance(ts, int | float):
        return None
    try:
        return datetime.fromtimestamp(ts, UTC)
    except (OverflowError, ValueError, OSError):
        return None


def iso(ts: object) -> str | None:
    at = moment(ts)
    if at is None:
        return None
    return at.isoformat(timespec="seconds").replace("+00:00", "Z")


def absolute(ts: object) -> str:
    at = moment(ts)
    return "" if at is None else at.strftime("%Y-%m-%d %H:%M:%S UTC")


def _seconds(ts: object) -> float | None:
    return float(ts) if moment(ts) is not None else None  # type: ignore[arg-type]


def relative(ts: object, now: float) -> str:
    """'just now', '5 min ago', '3 h ago', '2 d ago' (or 'in 4 min' for the future)."""
    if ts is None:
        return "never"
    at, current = _seconds(ts), _seconds(now)
    if at is None or current is None:
        return "unknown"
    delta = current - at
    ahead = delta < 0
    delta = abs(delta)
    if delta < 10:
        return "just now"
    for limit, unit, size in ((60, "s", 1), (3600, "min", 60), (86400, "h", 3600)):
        if delta < limit:
            amount = f"{int(delta // size)} {unit}"
            return f"in {amount}" if ahead else f"{amount} ago"
    amount = f"{int(delta // 86400)} d"
    return f"in {amount}" if ahead else f"{amount} ago"


def duration(start: object, end: object) -> str:
    """`1.25 s` between two stored times; empty when either is not a usable time."""
    first, last = _seconds(start), _seconds(end)
    return "" if first is None or last is None else f"{last - first:.2f} s"


def names(value: object) -> list[str]:
    """A stored list of names (a notification's matched rules) as strs, whatever was stored."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return []
    return [safejson.text(v if isinstance(v, str) else str(v)) for v in value]


def event_summary(event: Any) -> str:
    """An event's one-line summary; a stored event whose fields are odd still gets a line."""
    try:
        return str(event.summary())
    except Exception:  # stored data of any shape must still render
        return "(an event whose fields cannot be summarised)"


def plain(value: Any, depth: int = 0) -> Any:
    """A dataclass, pydantic model, Event or container as JSON-ready data; `*_at` as ISO.

    Depth-limited and leaf-safe (bridge.admin.safejson): whatever the store holds renders."""
    if depth >= safejson.MAX_DEPTH:
        return safejson.CUT
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        # Field by field, not `Event.to_json()`: its `asdict` deep-copies the raw notification
        # recursively and overflows on a deeply nested one (and gives the same data).
        fields = dataclasses.fields(value)
        return {f.name: _field(f.name, getattr(value, f.name), depth + 1) for f in fields}
    if hasattr(value, "model_dump"):
        return plain(value.model_dump(), depth)
    if isinstance(value, Mapping):
        return {_key(k): _field(str(k), v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(v, depth + 1) for v in value]
    if isinstance(value, bytes):
        return safejson.text(redaction.redact(value.decode("utf-8", "replace")))
    if isinstance(value, str):
        # on output too: no configured secret value leaves
        return safejson.text(redaction.redact(value))
    if isinstance(value, int | float | bool) or value is None:
        return safejson.scalar(value)
    return safejson.text(redaction.redact(str(value)))


def _key(key: Any) -> str:
    """A mapping key as the API shows it: a stored payload's key may hold a secret value too."""
    return safejson.text(redaction.redact(safejson.key(key)))


def _field(name: str, value: Any, depth: int = 0) -> Any:
    if (
        (name.endswith("_at") or name == "failing_since")
        and isinstance(value, int | float)
        and not isinstance(value, bool)
    ):
        return iso(value)
    if name == "raw" and isinstance(value, Mapping | list):
        # A stored payload (a notification's, an event's) is the sender's data: its
        # credential-named keys are hidden as the dashboard and explain hide them. The store's
        # own fields (`notification_key`) are not redacted by name.
        cut = safejson.clean(value, depth)  # cut to MAX_DEPTH first: redact_value recurses
        return plain(redaction.redact_value(cut), depth)
    return plain(value, depth)


# The most characters of one value a dashboard page prints. Chromium wraps an unbroken run of
# a proportional font in time that grows with the square of its length (a 40,000-character
# token took 25 s to re-wrap at phone width; a job whose fields held 100 KB each froze its page
# for two minutes), and nobody reads that much in a page: the admin API returns every value whole.
SHOWN_CHARS = 4_000


def shown(value: Any) -> Any:
    """The dashboard's Jinja `finalize`: every printed string with secret values hidden, its
    bidi controls shown as escapes (bridge.visible) and cut to SHOWN_CHARS with a note of what
    was left out; HTML a macro already built is left alone (its own printed values went
    through here)."""
    if isinstance(value, str) and not isinstance(value, Markup):
        return clipped(visible.bidi_visible(redaction.redact(value)))
    return value


# The most characters of one JSON block a page prints (a notification's payload, a recorded
# request body): a Kontent.ai notification is about 1,500 characters indented, and a page of 50
# payloads of 5 MB each was 250 MB of HTML.
SHOWN_JSON_CHARS = 32_000


def shown_json(value: Any, indent: int | None = None) -> Markup:
    """The dashboard's `tojson`: stored data as HTML-safe JSON under the policy `shown` applies
    to printed strings. Its Markup skips `finalize`, so a payload's dialog printed the admin
    token, URL credentials and credential-named keys, and every string and the block whole.
    Here the redaction policy applies (by name and by value), each string and key is cut to
    SHOWN_CHARS and the block to SHOWN_JSON_CHARS, each cut saying what the API has."""
    cleaned = safejson.clean(value)  # cut to MAX_DEPTH first: the walks below recurse
    data = _clipped_leaves(redaction.redact_value(cleaned))
    text = str(safejson.tojson(data, indent=indent))
    if len(text) > SHOWN_JSON_CHARS:
        # The JSON escapes every <, >, & and ': a cut anywhere is still plain text.
        text = clipped_to(text, SHOWN_JSON_CHARS)
    return Markup(text)


def _clipped_leaves(value: Any) -> Any:
    if isinstance(value, Mapping):
        # Keys too: redact_value hides values by their key, and a key may be the secret itself.
        return {clipped(redaction.redact(str(k))): _clipped_leaves(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clipped_leaves(v) for v in value]
    return clipped(value) if isinstance(value, str) else value


def typed(value: object) -> Markup:
    """A form field's value given back as it was typed or is named (`value="{{ q | typed }}"`:
    search fields, hidden fields, options and checkboxes): secrets hidden as everywhere,
    HTML-escaped, but neither bidi-escaped nor cut (None is empty). A field's text cannot
    reorder the page around it, and a value that came back changed is a different value once
    the form is sent again: a search for U+202E became a search for the six characters
    `\u202e`, a name with one no longer matched its action, a cut `next` URL led elsewhere.
    Links the pages build (`urlencode`, `qs`) go through here too: a name of 1,000 accented
    letters is 9,000 characters URL-encoded, and a cut link leads elsewhere."""
    text = "" if value is None else str(value)
    return Markup.escape(redaction.redact(text))


def clipped(text: str) -> str:
    """`text`, or its first SHOWN_CHARS characters and how many more the API has. Redaction
    comes first, so a cut never leaves the start of a secret in view."""
    return clipped_to(text, SHOWN_CHARS)


def clipped_to(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    rest = len(text) - limit
    return f"{text[:limit]} … [{rest:,} more characters: the admin API has the whole value]"


def redact_options(options: Mapping[str, Any], secret_names: Iterable[str] = ()) -> dict[str, Any]:
    """Options or inputs with bridge.redaction's one policy applied (as explain and the logs):
    `secret_names` and credential-named keys at any depth hidden, secret values in strings too."""
    # Cut to safejson's depth first: stored inputs may nest deeper than the recursion limit.
    # URLs' user info and credential query values are the policy's too (bridge.secret_urls).
    shown: dict[str, Any] = plain(redaction.redact_value(safejson.clean(options), secret_names))
    return shown


def action_options(action_config: Any) -> dict[str, Any]:
    names = frozenset(getattr(action_config.action_class, "secret_options", frozenset()))
    return redact_options(action_config.options, names)


def rule_actions(rule: Any) -> list[str]:
    """The action names a rule's `do:` runs, whatever shape the config model gives steps."""
    names: list[str] = []
    for step in getattr(rule, "do", ()) or ():
        if isinstance(step, str):
            names.append(step)
        elif isinstance(step, Mapping):
            names.append(str(step.get("action", "")))
        else:
            names.append(str(getattr(step, "action", step)))
    return names


def job_json(detail: Any, secret_names: Iterable[str] = ()) -> dict[str, Any]:
    """A JobDetail flattened: the log row's fields, then events, inputs and every attempt.

    `secret_names` are the action's declared secret options (hidden in `inputs` as explain
    hides them)."""
    data: dict[str, Any] = plain(detail.row)
    data.update(
        notification_key=detail.notification_key,
        request_id=detail.request_id,
        inputs=redact_options(detail.inputs, secret_names),
        events=[plain(e) for e in detail.events],
        attempt_log=[plain(a) for a in detail.attempts],
        latest_response={
            "status": detail.row.last_status,
            "response": plain(detail.row.last_response),
            "error": plain(getattr(detail.row, "last_error", None)),
            "at": iso(detail.row.last_attempt_at),
        },
    )
    return data


def page(items: Sequence[Any], limit: int, offset: int) -> dict[str, Any]:
    return {"items": [plain(i) for i in items], "limit": limit, "offset": offset}
