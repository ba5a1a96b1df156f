"""How `bridge test` compares expected inputs with rendered ones, and shows the difference.

Exact: the same keys and values all the way down. Partial: every key given must be there with
an equal value; mappings nested in it are compared the same way, keys not given are ignored.
Lists compare item by item, same length, in either mode.

Values are compared as rendered, before secrets are hidden, so a test may pin a secret. A leaf
also matches what `bridge explain` shows of it (`***` copied from there matches the secret it
hides). What is shown of either side (a diff, `--json`) is redacted by bridge.redaction's one
policy, the expected side too: a secret written into a cases file is still a secret.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any

import yaml

from bridge.config.errors import Path

HIDDEN_DIFFERENCE = "(the values differ only where secrets are hidden as ***)"


def inputs_match(
    expected: Any,
    got: Any,
    shown: Any,
    *,
    exact: bool,
    written: Mapping[Path, str],
    path: Path = (),
) -> bool:
    """Whether `got` (as rendered; `shown` is the same value redacted) satisfies `expected`."""
    if isinstance(expected, Mapping):
        if not isinstance(got, Mapping) or (exact and set(got) != set(expected)):
            return False
        return all(
            key in got
            and inputs_match(
                value, got[key], _at(shown, key), exact=exact, written=written, path=(*path, key)
            )
            for key, value in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(got, list | tuple) or len(got) != len(expected):
            return False
        return all(
            inputs_match(e, g, _at(shown, i), exact=exact, written=written, path=(*path, i))
            for i, (e, g) in enumerate(zip(expected, got, strict=True))
        )
    if _same(expected, got) or _same(expected, shown):
        return True
    return isinstance(got, str) and not isinstance(expected, str) and written.get(path) == got


def _same(expected: Any, got: Any) -> bool:
    """Equal as JSON values: `True` is not `1`, `7` is not `"7"`."""
    if _number(expected) and _number(got):
        return bool(expected == got)
    return type(expected) is type(got) and bool(expected == got)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _at(value: Any, key: str | int) -> Any:
    try:
        return value[key]
    except (KeyError, IndexError, TypeError):
        return None


def restricted(expected: Any, got: Any) -> Any:
    """`got` cut down to the keys `expected` gives (at every depth): what a partial diff shows."""
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        return {key: restricted(expected[key], got[key]) for key in expected if key in got}
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [restricted(e, g) for e, g in zip(expected, got, strict=True)]
    return got


def aligned(expected: Any, got: Any) -> Any:
    """`got` with its keys in `expected`'s order (at every depth), the keys only it has after
    them: an action renders its options in its own order, and a diff of two orders shows keys
    that are equal as removed on one side and added on the other."""
    if isinstance(expected, Mapping) and isinstance(got, Mapping):
        keys = [key for key in expected if key in got] + [key for key in got if key not in expected]
        return {key: aligned(expected.get(key), got[key]) for key in keys}
    if isinstance(expected, list) and isinstance(got, list) and len(expected) == len(got):
        return [aligned(e, g) for e, g in zip(expected, got, strict=True)]
    return got


def diff(expected: Any, got: Any) -> list[str]:
    """A unified diff of the two values dumped as YAML, `got` in `expected`'s key order."""
    return diff_lines(dump(expected), dump(aligned(expected, got)))


def diff_lines(before: list[str], after: list[str]) -> list[str]:
    """A unified diff of two texts, whole (every line as context, no hunk headers)."""
    if before == after:
        return [HIDDEN_DIFFERENCE]
    lines = difflib.unified_diff(
        before, after, "expected", "got", n=len(before) + len(after), lineterm=""
    )
    return [line for line in lines if not line.startswith("@@")]


def dump(value: Any) -> list[str]:
    text = yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=2**31
    )
    return text.removesuffix("...\n").splitlines()
