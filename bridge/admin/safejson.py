"""The one way a stored value reaches an admin response: JSON and HTML that always encode.

The store keeps whatever was accepted, by this version, by an older one or by hand: NaN and
Infinity, lone surrogates, nesting hundreds of levels deep, integers too long to print, target
responses with odd bytes. `json.dumps(allow_nan=False)`, `str.encode("utf-8")` and Python's
recursion limit each raise on one of them, and a single such value turned every view that shows
it into a 500 for the whole retention. So every API answer is `clean`ed before it is encoded,
every page is encoded with `encode_text`, and templates get a `tojson` that cleans first:

- a non-finite float (NaN, Infinity, -Infinity) becomes null;
- a lone surrogate becomes U+FFFD (a surrogate pair becomes the character it spells);
- a container nested deeper than `MAX_DEPTH` becomes the string `CUT`;
- an integer too long to print in decimal becomes a string saying how long it is;
- bytes are decoded as UTF-8 with U+FFFD for what does not decode; anything else is `str()`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup
from starlette.responses import HTMLResponse, JSONResponse

from bridge import jsonsafe

MAX_DEPTH = 64
CUT = f"[cut: nested deeper than {MAX_DEPTH} levels]"
# Python refuses to print integers of more than 4,300 digits (sys.int_info); 13,000 bits is
# about 3,900 digits, so everything below prints.
MAX_INT_BITS = 13_000

_encode = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode


# `value` without lone surrogates (each becomes U+FFFD), so it encodes as UTF-8.
text = jsonsafe.without_lone_surrogates


def encode_text(value: str) -> bytes:
    """UTF-8 bytes of any str (lone surrogates as U+FFFD); one encode in the common case."""
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError:
        return text(value).encode("utf-8")


def scalar(value: Any) -> Any:
    """A JSON-safe leaf for any non-container value."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str):
        return text(value)
    if isinstance(value, int):
        bits = value.bit_length()
        return int(value) if bits <= MAX_INT_BITS else f"[integer of {bits} bits]"
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, bytes | bytearray | memoryview):
        return text(bytes(value).decode("utf-8", "replace"))
    return text(str(value))


def key(value: Any) -> str:
    """A JSON object key: always a str, without lone surrogates."""
    return text(value) if isinstance(value, str) else text(str(value))


def clean(value: Any, depth: int = 0) -> Any:
    """`value` as data that `json.dumps(allow_nan=False)` and UTF-8 always accept."""
    if isinstance(value, Mapping):
        if depth >= MAX_DEPTH:
            return CUT
        return {key(k): clean(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        if depth >= MAX_DEPTH:
            return CUT
        return [clean(v, depth + 1) for v in value]
    return scalar(value)


def dumps(value: Any) -> bytes:
    return _encode(clean(value)).encode("utf-8")


def tojson(value: Any, indent: int | None = None) -> Markup:
    """Jinja's `tojson` over cleaned data (Jinja's own writes NaN and overflows on deep data)."""
    return htmlsafe_json_dumps(clean(value), indent=indent)


class SafeJSONResponse(JSONResponse):
    """Every admin API answer: cleaned, compact, UTF-8."""

    def render(self, content: Any) -> bytes:
        return dumps(content)


class SafeHTMLResponse(HTMLResponse):
    """Every dashboard page: encoded without ever raising on a lone surrogate."""

    def render(self, content: Any) -> bytes:
        return encode_text(content) if isinstance(content, str) else bytes(super().render(content))
