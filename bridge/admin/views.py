"""What the dashboard shows an operator first: displayed health, the cause of a failure, notices.

Kept apart from present.py (the JSON shapes of the API): these are the dashboard's own readings
of the same rows, worded for a person looking at a card at 2 a.m.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, unquote, urlencode

from starlette.requests import Request
from starlette.responses import Response

FLASH_COOKIE = "bridge_flash"
FLASH_MAX_CHARS = 600
FLASH_TTL_S = 60
RETRYABLE_STATES = ("retrying", "dead")
ANSWER_CHARS = 160  # of a response, under the cause in a delivery row; the dialog has it whole


def displayed_health(action: Mapping[str, Any]) -> str:
    """The health a card shows: dead jobs outstanding are never green "Working" (nor "Ready").

    The store's health follows Kontent.ai's (dead until a later success), so an action whose
    latest job succeeded reads "working" while older jobs lie dead; an operator must see them.
    A failing action stays "failing" (its count of dead jobs is shown beside it)."""
    health = str(action.get("health") or "ready")
    if health in ("ready", "working") and int(action.get("dead") or 0) > 0:
        return "dead"
    return health


def needs_reset(action: Mapping[str, Any]) -> bool:
    """Reset only where there is something to reset: a failing action or dead jobs."""
    return displayed_health(action) in ("failing", "dead")


def cause(row: Any) -> str | None:
    """The latest error of a job in words: the action's reason first (a Slack `ok: false` that
    came back as HTTP 200 shows Slack's error), then the status when it says more."""
    error = _text(getattr(row, "last_error", None))
    status = getattr(row, "last_status", None)
    state = getattr(row, "state", None)
    if state == "succeeded":
        return None
    if error:
        if isinstance(status, int) and f"{status}" not in error:
            return f"{error} (HTTP {status})"
        return error
    if isinstance(status, int) and not 200 <= status < 300:
        return f"HTTP {status}"
    return None


def answered(row: Any) -> str | None:
    """What the target said back to a failed job, on one line of at most ANSWER_CHARS: shown
    under the cause in a delivery row (`crm answered 500` then `{"error": "database is down"}`),
    so that the reason is seen without opening the response. None when the cause quotes it."""
    if getattr(row, "state", None) == "succeeded":
        return None
    body = _text(getattr(row, "last_response", None))
    if body is None or body in (cause(row) or ""):
        return None
    return body if len(body) <= ANSWER_CHARS else body[: ANSWER_CHARS - 1] + "…"


def _text(value: object) -> str | None:
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text or None


def set_flash(response: Response, message: str, kind: str = "ok") -> Response:
    """A notice for the next page (303 then GET): short-lived, HttpOnly, this admin only."""
    value = quote(f"{kind}:{message[:FLASH_MAX_CHARS]}", safe="")
    response.set_cookie(
        FLASH_COOKIE,
        value,
        max_age=FLASH_TTL_S,
        path="/admin",
        httponly=True,
        samesite="strict",
    )
    return response


def flash_of(request: Request) -> tuple[str, str] | None:
    """(kind, message) of the notice a button left, if any (shown once, then cleared)."""
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    text = unquote(raw)[: FLASH_MAX_CHARS + 10]
    kind, _, message = text.partition(":")
    if kind not in ("ok", "warn", "error") or not message:
        return None
    return kind, message


def query_string(query: Mapping[str, str], **changes: object) -> str:
    """`?a=1&b=2`: the page's query with `changes` applied (None or "" removes a key)."""
    merged = {k: v for k, v in query.items()}
    for key, value in changes.items():
        if value is None or value == "":
            merged.pop(key, None)
        else:
            merged[key] = str(value)
    return "?" + urlencode(merged) if merged else "?"
