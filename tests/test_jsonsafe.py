"""The safe decoder: what it refuses, why, and that whatever it keeps re-encodes as strict JSON."""

from __future__ import annotations

import json
import math

import pytest

from bridge.jsonsafe import MAX_DEPTH, UnsafeJSON, has_long_digit_run, loads


def nested(levels: int) -> bytes:
    return b"[" * levels + b"]" * levels


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (nested(MAX_DEPTH + 1), f"it nests deeper than {MAX_DEPTH} levels"),
        (nested(100_000), f"it nests deeper than {MAX_DEPTH} levels"),  # RecursionError today
        (b'{"a": ' + b"7" * 5000 + b"}", "an integer has 5000 digits, more than the limit of 4300"),
        (b'{"a": -' + b"7" * 4301 + b"}", "an integer has 4301 digits"),
        (b'{"a": NaN}', "NaN is not allowed (strict JSON has no NaN or Infinity)"),
        (b'{"a": [Infinity]}', "Infinity is not allowed"),
        (b'{"a": -Infinity}', "-Infinity is not allowed"),
        (b'{"a": 1e400}', "the number 1e400 is too large for a 64-bit float"),
        (b'{"a": {"b": "x\\ud800y"}}', "'a.b': the string contains a lone surrogate (U+D800)"),
        (b'{"a": ["ok", "\\udfff"]}', "'a[1]': the string contains a lone surrogate (U+DFFF)"),
        (b'{"a": {"\\udc00": 1}}', """'a["\\udc00"]': the key contains a lone surrogate"""),
        (b'{"a b": "\\u0000"}', """'$["a b"]': the string contains U+0000 (NUL)"""),
        (b'"\\ud83d"', "'$': the string contains a lone surrogate (U+D83D)"),
        (b"\xff{}", "body is not valid UTF-8 (byte 0)"),
        (b"{", "body is not valid JSON: Expecting property name enclosed in double quotes"),
    ],
)
def test_refused_with_a_reason(body: bytes, reason: str) -> None:
    with pytest.raises(UnsafeJSON) as raised:
        loads(body)
    assert reason in str(raised.value)
    assert str(raised.value).isascii()  # the reason itself is always safe to send and log


@pytest.mark.parametrize(
    "body",
    [
        nested(MAX_DEPTH),
        b'{"a": ' + b"7" * 4300 + b"}",
        b'{"emoji": "\\ud83d\\ude00", "raw": "\xf0\x9f\x98\x80", "e": "\\u00e9"}',
        b'{"big": 1e308, "small": -1e-320, "t": true, "n": null}',
        b'"\\\\ud800"',  # an escaped backslash, then plain text: no surrogate
    ],
)
def test_kept_values_re_encode_as_strict_json(body: bytes) -> None:
    value = loads(body)
    text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    text.encode("utf-8")  # no lone surrogate survives
    assert json.loads(text) == value


def test_floats_stay_finite() -> None:
    assert math.isfinite(loads(b"[1.7976931348623157e308]")[0])


@pytest.mark.parametrize(
    "body",
    [
        b'{"id": 18446744073709551616, "n": -9223372036854775809}',  # past 64 bits
        b"[123456789012345678901234567890, 0.1, 1e-7, 1E+16, -0.0, 5e-324]",
        b'{"a": {"b": [1, 2, {"c": "d\\n\\t\\"\\\\/\\u00e9\\ud83d\\ude00"}]}, "a": 3}',
        b' \r\n\t{ "spaced" : [ true , false , null ] } \n',
        b'{"s": "\\u0041\\u00DF\\u6771", "k\\u00e9y": ""}',
    ],
)
def test_both_decoders_read_the_same_values(body: bytes) -> None:
    """orjson's fast path and the standard decoder agree on every value, types included (an
    integer past 64 bits stays an exact int, not orjson's float)."""
    expected = json.loads(body)
    got = loads(body)
    assert got == expected
    assert repr(got) == repr(expected)


@pytest.mark.parametrize(
    "body",
    [b"{", b'{"a": 1,}', b"[1 2]", b'{"a": "\x01"}', b"\xef\xbb\xbf\xef\xbb\xbf{}", b'{"a": tru}'],
)
def test_malformed_bodies_get_the_standard_decoders_reason(body: bytes) -> None:
    with pytest.raises(UnsafeJSON) as raised:
        loads(body)
    assert "line 1 column" in str(raised.value) or "UTF-8" in str(raised.value)


@pytest.mark.parametrize(
    ("body", "found"),
    [
        (b"[" + b"9" * 18 + b"]", False),
        (b"[" + b"1" * 19 + b"]", True),
        (b'{"a": -1234567890123456789}', True),
        (b'{"a": "12345678901234567890"}', True),  # inside a string: a harmless false positive
        (b'{"a": 123456789.0123456789}', False),
    ],
)
def test_long_digit_runs_are_found(body: bytes, found: bool) -> None:
    assert has_long_digit_run(body) is found


@pytest.mark.parametrize("body", [b'{"a": 1}', b'{"a": ' + b"9" * 30 + b"}"])
def test_one_leading_utf8_byte_order_mark_is_skipped_by_both_decoders(body: bytes) -> None:
    assert loads(b"\xef\xbb\xbf" + body) == loads(body)
    with pytest.raises(UnsafeJSON, match="not valid JSON"):  # only one, and only at the start
        loads(b"\xef\xbb\xbf\xef\xbb\xbf" + body)
    with pytest.raises(UnsafeJSON, match="not valid JSON"):
        loads(b" \xef\xbb\xbf" + body)
