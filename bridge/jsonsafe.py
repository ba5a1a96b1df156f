"""Decoding untrusted JSON into values that can always be re-encoded as strict JSON and stored.

Python's `json.loads` accepts what later breaks the bridge far from the request: `NaN` and
`Infinity` (stored JSON that strict readers refuse), integers past the interpreter's digit limit
(a ValueError instead of a decode error), `\\ud800` escapes that become lone surrogates (a
UnicodeEncodeError at the store's insert), `\\u0000` (PostgreSQL text cannot hold it) and nesting
deep enough for a RecursionError. Each is refused here with a reason a sender can act on, so a
webhook answers 400 instead of 500 (which Kontent.ai would retry for three days).

The common case pays almost nothing: the walk over the decoded value runs only when the body
could hold one of these (an escape that decodes to a surrogate or NUL, or more opening brackets
than the depth limit).
"""

from __future__ import annotations

import codecs
import json
import math
import re
import sys
from typing import Any

import orjson

MAX_DEPTH = 64  # Kontent.ai payloads nest about 6 levels deep
MAX_INT_DIGITS = 4300  # CPython's default int/str conversion limit: every kept int re-encodes

# JSON escapes that decode to a UTF-16 surrogate or to NUL (a false positive only costs a walk).
_RISKY_ESCAPE = re.compile(r"\\u(?:[dD][89a-fA-F][0-9a-fA-F]{2}|0000)")
_RISKY_ESCAPE_BYTES = re.compile(_RISKY_ESCAPE.pattern.encode())
# 19 digits in a row may be an integer past 64 bits, which orjson would read as a float (a false
# positive, a digit run inside a string, only costs the slower decoder). Found by turning every
# digit into 0 and searching for nineteen of them: a regex over a 500-byte body took 5 us,
# this takes 1.
_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_NINETEEN_DIGITS = b"0" * 19


def has_long_digit_run(data: bytes) -> bool:
    """Whether `data` holds 19 digits in a row (an integer orjson might not read exactly)."""
    return _NINETEEN_DIGITS in data.translate(_DIGITS_AS_ZERO)


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class UnsafeJSON(ValueError):
    """The body is not JSON the bridge will keep; the message is the reason, for a 400."""


class _Refused(Exception):
    """Raised inside the decoder's hooks, which do not know where in the text they are."""


def _int(text: str) -> int:
    if len(text) > 640:  # the lowest limit the interpreter can be set to: short ints skip this
        digits = len(text) - (text[0] == "-")
        limit = _int_digit_limit()
        if digits > limit:
            raise _Refused(f"an integer has {digits} digits, more than the limit of {limit}")
    return int(text)


def _int_digit_limit() -> int:
    configured = sys.get_int_max_str_digits()  # 0 means unlimited
    return min(MAX_INT_DIGITS, configured) if configured else MAX_INT_DIGITS


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {text[:40]} is too large for a 64-bit float")
    return value


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not allowed (strict JSON has no NaN or Infinity)")


_decoder = json.JSONDecoder(parse_int=_int, parse_float=_float, parse_constant=_constant)


def loads(body: bytes) -> Any:
    """The decoded value of a UTF-8 JSON body, or UnsafeJSON naming what is wrong and where.

    orjson decodes first (a few times faster than the standard decoder, and it already refuses
    NaN, infinite numbers, lone surrogates and invalid UTF-8). It reads an integer past 64 bits
    as a float, so a body holding a long run of digits goes to the standard decoder, as does
    every body orjson refuses: the standard decoder's reason (with line and column) is the one
    a sender reads.

    A UTF-8 byte order mark before the value is skipped (RFC 8259 8.1 lets a parser ignore
    it; .NET's serialisers write one and .NET's reader strips it). The signature is still
    checked over the bytes as sent: this only decodes.
    """
    body = body.removeprefix(codecs.BOM_UTF8)
    if not has_long_digit_run(body):
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            _check_decoded(value, body, risky_text=_RISKY_ESCAPE_BYTES.search(body) is not None)
            return value
    return _strict_loads(body)


def _strict_loads(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnsafeJSON(
            _other_encoding(body) or f"body is not valid UTF-8 (byte {exc.start})"
        ) from None
    try:
        value = _decoder.decode(text)
    except json.JSONDecodeError as exc:
        raise UnsafeJSON(
            _other_encoding(body)
            or f"body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except _Refused as exc:
        raise UnsafeJSON(f"body is not accepted JSON: {exc}") from None
    except RecursionError:
        raise UnsafeJSON(_too_deep()) from None
    _check_decoded(value, body, risky_text=_RISKY_ESCAPE.search(text) is not None)
    return value


def _other_encoding(body: bytes) -> str | None:
    """The reason for a body that is JSON in UTF-16 or UTF-32 (told by its byte order mark or
    its zero bytes, RFC 4627 section 3), which read as UTF-8 was `not valid UTF-8 (byte 0)` or
    `Expecting value at line 1 column 1`, neither naming the problem. Only on the failure path."""
    encoding = json.detect_encoding(body)
    if not encoding.startswith(("utf-16", "utf-32")):
        return None
    return f"body is {encoding.upper()}, not UTF-8: JSON is sent as UTF-8 (RFC 8259)"


def _check_decoded(value: Any, body: bytes, *, risky_text: bool) -> None:
    """Walk the value for what the decoders let through (NUL, surrogates, depth), only when the
    body could hold any of it."""
    if risky_text or body.count(b"[") + body.count(b"{") > MAX_DEPTH:
        problem = _find_problem(value, check_text=risky_text)
        if problem is not None:
            raise UnsafeJSON(problem)


def _too_deep() -> str:
    return f"body is not accepted JSON: it nests deeper than {MAX_DEPTH} levels"


def _find_problem(value: Any, *, check_text: bool) -> str | None:
    """The first value the bridge refuses, as a reason; None when there is none.

    Iterative, so that depth itself cannot overflow the stack. Paths are not built here (that
    was most of the cost on a 5 MB batch): only once a problem is known, `_locate` finds where.
    """
    stack: list[tuple[Any, int]] = [(value, 1)]  # the outermost value is level 1
    while stack:
        current, depth = stack.pop()
        if depth > MAX_DEPTH:
            return _too_deep()
        kind = type(current)
        if kind is dict:
            if check_text and any(text_problem(key) for key in current):
                return _locate(value)
            items = current.values()
        elif kind is list:
            items = current
        else:
            return _locate(value) if check_text and kind is str and text_problem(current) else None
        for item in items:
            kind = type(item)
            if kind is dict or kind is list:
                stack.append((item, depth + 1))
            elif check_text and kind is str and text_problem(item):
                return _locate(value)
    return None


def _locate(value: Any) -> str:
    """Where the text problem `_find_problem` saw is, as `'path': reason` (structural errors
    name places the same way)."""
    stack: list[tuple[Any, str]] = [(value, "$")]
    while stack:
        current, path = stack.pop()
        if isinstance(current, str):
            if (reason := text_problem(current)) is not None:
                return f"'{_display(path)}': the string {reason}"
        elif isinstance(current, dict):
            for key, item in current.items():
                item_path = path + _key_path(key)
                if (reason := text_problem(key)) is not None:
                    return f"'{_display(item_path)}': the key {reason}"
                stack.append((item, item_path))
        elif isinstance(current, list):
            stack.extend((item, f"{path}[{index}]") for index, item in enumerate(current))
    raise AssertionError("_locate called without a text problem")  # pragma: no cover


def without_lone_surrogates(text: str) -> str:
    """`text` with each lone surrogate (from a `\\ud800` escape, `unicode_escape`, `utf-7`) as
    U+FFFD, so it encodes as UTF-8; two that spell a pair become the character. One encode
    in the common case. Shared by what stores, reads and shows untrusted text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


def text_problem(text: str) -> str | None:
    """Why `text` cannot be stored (NUL) or is not Unicode text (a lone surrogate), or None; the
    receiver's check of payloads and the config's of every string (YAML's "\\ud800" escape)."""
    if "\x00" in text:
        return "contains U+0000 (NUL), which the store cannot keep"
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return (
            f"contains a lone surrogate (U+{ord(text[exc.start]):04X}), which is not Unicode text"
        )
    return None


def _key_path(key: str) -> str:
    if _IDENTIFIER.match(key):
        return f".{key}"
    # ensure_ascii: a key holding a surrogate must not make the error message unencodable.
    return f"[{json.dumps(key[:80])}]"


def _display(path: str) -> str:
    """`notifications[3].message.action`, as the structural errors name places."""
    return path.removeprefix("$.") if path.startswith("$.") else path
