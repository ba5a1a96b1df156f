"""Strict parsing of what a client puts in an admin URL: ids, whole numbers, names.

`int()` is too lenient for URLs: it takes `٣` (an Arabic-Indic three), ` 7 `, `1_000` and
`+5`, `str.isdigit()` says yes to `²` which `int()` then refuses, and a 20-digit id overflows
the stores' 64-bit integer columns. One parser, ASCII digits only and a bounded length, serves
every route that takes an id or a number, so a job id either names a row or is a 404.

A job id is the one place where more than digits is taken: logs, alerts and the dashboard name
a call by its delivery id `kb-42` (its first job's id), so `job_id` reads `42` and `kb-42`
alike, the prefix in any case, for the admin routes and the CLI (which first trims the blanks
a pasted value brings; in a URL path ` 1` stays no job).
"""

from __future__ import annotations

from bridge.delivery.policy import DELIVERY_ID_PREFIX

MAX_ID = 2**63 - 1  # SQLite INTEGER and PostgreSQL BIGINT
MAX_ID_DIGITS = len(str(MAX_ID))  # 19
MAX_NAME_CHARS = 1000
SHOWN_CHARS = 80


def whole_number(raw: str, *, maximum: int = MAX_ID) -> int | None:
    """`raw` as a whole number when it is 1 to 19 ASCII digits and at most `maximum`."""
    if not 0 < len(raw) <= MAX_ID_DIGITS or not raw.isascii() or not raw.isdigit():
        return None
    value = int(raw)
    return value if value <= maximum else None


def job_id(raw: str) -> int | None:
    """A job id as users type it: `42`, or the delivery id `kb-42` / `KB-42` that logs and the
    dashboard show (`None`: no job can have this id; a route answers 404, the CLI a usage
    error)."""
    text = raw
    if text[: len(DELIVERY_ID_PREFIX)].lower() == DELIVERY_ID_PREFIX:
        text = text[len(DELIVERY_ID_PREFIX) :]
    value = whole_number(text)
    return value if value is not None and value > 0 else None


def plain_name(raw: str) -> bool:
    """Whether `raw` can be an action or rule name: bounded, no control characters.

    Names are compared against the config and the store; a NUL or an over-long value is sent
    to neither (PostgreSQL refuses NUL in text)."""
    return 0 < len(raw) <= MAX_NAME_CHARS and not any(
        ord(c) < 32 or ord(c) == 127 or 0xD800 <= ord(c) <= 0xDFFF for c in raw
    )


def shown(raw: str) -> str:
    """`raw` quoted for an error message, cut so a megabyte of path is not echoed back."""
    if len(raw) > SHOWN_CHARS:
        return repr(raw[:SHOWN_CHARS] + "…")
    return repr(raw)
