"""Regular expressions whose matching can take very long on a crafted text.

Rules' `regex:` conditions run on a backtracking engine, and the text (an item's name, any field
a path reaches) is written by content editors. On Python's `re` a pattern such as `(a+)+$` or
`(\\w+\\s?)+$` took seconds on thirty characters that almost match, inside the receiver; the
`regex` engine that runs them now (bridge/config/timed_regex.py) is faster on them, not fast
(`(a+)+$`: 0.24 s on 300 characters); it gives up on a match after 50 ms, and the rule then does
not run for that event. The classic shape is found here: a group repeated without bound whose body
is itself one unbounded repeat with nothing else it must match (`(x+)+`, `(x*)*`,
`(?:x+\\s?)+`), so the engine can split the same text between the two repeats in very many
ways. Other ambiguous patterns exist (`(a|aa)+$`); this catches the ones people write by
accident, before an editor's text does. `bridge check` warns; the rule loads.
"""

from __future__ import annotations

import re
import warnings

# The parser `re` itself uses (Python 3.11 names it re._parser; sre_parse is deprecated).
from re import _constants as sre_constants  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT)
_UNBOUNDED = sre_constants.MAXREPEAT
# One character or position each: one way through.
_SINGLE = frozenset(
    {
        sre_constants.LITERAL,
        sre_constants.NOT_LITERAL,
        sre_constants.ANY,
        sre_constants.IN,
        sre_constants.AT,
        sre_constants.CATEGORY,
        sre_constants.GROUPREF,  # the group repeats nothing either: as long as the pattern
    }
)
MAX_WAYS = 1024  # past it, counted as a repeat: the exact number no longer matters


def backtracking_risk(pattern: str) -> str | None:
    """Why `pattern` can take exponential time, or None. The pattern compiles (checked before)."""
    parsed = _parsed(pattern)
    if parsed is None:
        return None
    found = _nested(parsed)
    if found is None:
        return None
    return (
        f"a group repeated as {found} holds a part that repeats without bound itself: on a text "
        "that almost matches, the regex engine tries very many ways to split it (exponentially "
        "many on Python's re; here a few hundred characters take more than the 50 ms a match "
        "may, and then the rule does not run for that event). Repeat one of the two only, "
        "e.g. (x+)+ as x+"
    )


def match_ways(pattern: str) -> int | None:
    """How many ways a match of `pattern` can go from one place in the text, when it repeats
    nothing (`^Breaking`: 1, `^(news|blog)$`: 2): a search then takes at most that many times
    the pattern's length in steps per place, and needs no clock. None when something repeats
    (or past MAX_WAYS). The pattern compiles."""
    parsed = _parsed(pattern)
    return None if parsed is None else _ways(parsed)


def _parsed(pattern: str) -> list[tuple[Any, Any]] | None:
    try:
        with warnings.catch_warnings():  # re's "Possible nested set": said once, at compile
            warnings.simplefilter("ignore", FutureWarning)
            return list(sre_parse.parse(pattern))
    except (re.error, RecursionError):
        return None


def _ways(items: list[tuple[Any, Any]]) -> int | None:
    """The ways through a sequence (a product), None past MAX_WAYS or for a repeat."""
    total = 1
    for op, av in items:
        if op in _SINGLE:
            continue
        if op == sre_constants.SUBPATTERN:
            inner = _ways(list(av[-1]))
        elif op == sre_constants.BRANCH:
            counts = [_ways(list(branch)) for branch in av[1]]
            inner = None if None in counts else sum(c for c in counts if c is not None)
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            inner = _ways(list(av[1]))
        elif op == sre_constants.ATOMIC_GROUP:
            inner = _ways(list(av))
        else:  # a repeat, a conditional group
            return None
        if inner is None or (total := total * inner) > MAX_WAYS:
            return None
    return total


def _nested(items: list[tuple[Any, Any]]) -> str | None:
    for op, av in items:
        if op in _REPEATS:
            body = _unwrapped(list(av[2]))
            if av[1] == _UNBOUNDED and _one_unbounded_repeat(body):
                return _text(op, av)
            inner = [body]
        elif op == sre_constants.SUBPATTERN:
            inner = [list(av[-1])]
        elif op == sre_constants.BRANCH:
            inner = [list(branch) for branch in av[1]]
        elif op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            inner = [list(av[1])]
        else:
            continue
        for part in inner:
            if (found := _nested(part)) is not None:
                return found
    return None


def _unwrapped(items: list[tuple[Any, Any]]) -> list[tuple[Any, Any]]:
    """A body that is one group, without the group (`((x+))+` is `(x+)+`)."""
    while len(items) == 1 and items[0][0] == sre_constants.SUBPATTERN:
        items = list(items[0][1][-1])
    return items


def _one_unbounded_repeat(body: list[tuple[Any, Any]]) -> bool:
    """An unbounded repeat, and nothing else that must match (only optional parts beside it)."""

    def unbounded(item: tuple[Any, Any]) -> bool:
        return item[0] in _REPEATS and item[1][1] == _UNBOUNDED and bool(list(item[1][2]))

    def optional(item: tuple[Any, Any]) -> bool:
        return item[0] in _REPEATS and item[1][0] == 0

    return any(unbounded(i) for i in body) and all(unbounded(i) or optional(i) for i in body)


def _text(op: Any, av: Any) -> str:
    low, high, _ = av
    suffix = {(0, _UNBOUNDED): "*", (1, _UNBOUNDED): "+"}.get((low, high), f"{{{low},}}")
    lazy = "?" if op == sre_constants.MIN_REPEAT else ""
    return f"(...){suffix}{lazy}"
