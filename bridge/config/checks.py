"""Small typed readers over a Document: each reports a problem at its path and returns None."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from urllib.parse import urlsplit

from bridge.config.document import Document
from bridge.config.durations import parse_duration
from bridge.config.errors import Path, describe_type, did_you_mean


def mapping(
    doc: Document,
    value: Any,
    path: Path,
    *,
    allowed: Collection[str] | None = None,
    required: Collection[str] = (),
    what: str = "key",
) -> dict[str, Any] | None:
    """A mapping whose keys are all `allowed` and include every `required` one."""
    if not isinstance(value, dict):
        doc.error(path, f"expected a mapping, got {describe_type(value)}")
        return None
    if allowed is not None:
        for key in value:
            if key not in allowed:
                hint = did_you_mean(key, allowed)
                doc.error((*path, key), f"unknown {what} {key!r}{hint}", key=True)
    for key in required:
        if key not in value:
            doc.error((*path, key), "required key is missing")
    return value


def version(doc: Document, top: Any, *, required: bool = True) -> None:
    """`version: 1`, the one version this bridge reads: the integer 1, not `true` or `1.0`
    (both equal 1 in Python and were read as version 1)."""
    if "version" not in top:
        if required:
            doc.error(("version",), "required key is missing (add 'version: 1')")
    elif type(top["version"]) is not int or top["version"] != 1:
        doc.error(
            ("version",), f"unsupported version {top['version']!r} (this bridge reads version 1)"
        )


def sequence(doc: Document, value: Any, path: Path) -> list[Any] | None:
    if not isinstance(value, list):
        doc.error(path, f"expected a list, got {describe_type(value)}")
        return None
    return value


def string(doc: Document, value: Any, path: Path, *, nonempty: bool = False) -> str | None:
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        doc.error(path, f"expected a string, got {describe_type(value)}")
        return None
    text = str(doc.text_of(path, value))
    if nonempty and not text:
        doc.error(path, "must not be empty")
        return None
    return text


def base_url(doc: Document, value: Any, path: Path) -> str | None:
    """An http(s) URL with a host, without its final `/` (an API base: kontent.*_url, a
    source's api_url). The client would fail every call on anything else, so loading does."""
    text = string(doc, value, path, nonempty=True)
    if text is None:
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number or past 65535
    except ValueError as exc:
        doc.error(path, f"not a valid URL ({exc}): {text!r}")
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        doc.error(path, f"expected an http:// or https:// URL with a host, got {text!r}")
        return None
    return text.rstrip("/")


def boolean(doc: Document, value: Any, path: Path) -> bool | None:
    if not isinstance(value, bool):
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"  # `${FLAG:-true}` arrives as a string
        doc.error(path, f"expected true or false, got {describe_type(value)}")
        return None
    return value


def positive_int(doc: Document, value: Any, path: Path, *, maximum: int) -> int | None:
    """A whole number from 1 to `maximum`: every number option has a largest sensible value,
    and past it one would overflow what it is bound to (a 64-bit SQL LIMIT, a read size)."""
    number = value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        number = int(value) if len(value.strip()) <= len(str(maximum)) else maximum + 1
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        shown = "a number" if isinstance(value, int) and value.bit_length() > 64 else repr(value)
        doc.error(path, f"expected a whole number of at least 1, got {shown}")
        return None
    if number > maximum:
        doc.error(path, f"expected a whole number from 1 to {maximum}")
        return None
    return number


def duration(doc: Document, value: Any, path: Path, *, positive: bool = True) -> float | None:
    """Seconds, from `500ms`, `30s`, `10m`, `1h`, `3d` or a plain number of seconds."""
    if not isinstance(value, str | int | float) or isinstance(value, bool):
        doc.error(path, f"expected a duration like 30s, 10m or 1h, got {describe_type(value)}")
        return None
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        doc.error(path, str(exc))
        return None
    if positive and seconds <= 0:
        doc.error(path, f"must be longer than zero, got {value!r}")
        return None
    return seconds


def unique(doc: Document, names: list[tuple[str, Path]], what: str) -> None:
    """Reports every repeat of a name, pointing at the repeat and naming the first."""
    first: dict[str, Path] = {}
    for name, path in names:
        if name in first:
            line = doc.mark(first[name]).line
            doc.error(path, f"duplicate {what} {name!r} (first defined on line {line})")
        else:
            first[name] = path
