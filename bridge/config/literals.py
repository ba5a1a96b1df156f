"""What a regex or glob says for sure about the text it matches, for the rule index.

`^item_12$` matches only 'item_12' (and 'item_12\\n': in Python `$` also matches before a
trailing newline), `^(news|blog)$` one of two texts, `^Breaking` only text that starts with
'Breaking'; the glob `blog_*` only text that starts with 'blog_'. Only literal text written the
way `re.escape` writes it is read; anything else, and any flag (IGNORECASE, MULTILINE, VERBOSE,
inline `(?i)` alike), says nothing, and the rule is evaluated for every event. The index only
chooses candidates: the full condition is checked on them, so these need only be supersets.
"""

from __future__ import annotations

import re

_SPECIAL = frozenset(".^$*+?{}[]\\|()")
_QUANTIFIERS = frozenset("*+?{")
_GLOB_SPECIAL = frozenset("*?[")


def regex_texts(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """Every text an anchored literal pattern matches (`^a$`, `^(a|b)$`, `^(?:a|b)$`)."""
    source = pattern.pattern
    if pattern.flags & ~re.UNICODE or not (source.startswith("^") and source.endswith("$")):
        return None
    body = source[1:-1]
    characters, end = _characters(body)
    texts = ["".join(characters)] if end == len(body) else _alternatives(body)
    if texts is None:
        return None
    return frozenset(texts) | frozenset(text + "\n" for text in texts)


def regex_prefix(pattern: re.Pattern[str]) -> str | None:
    """The literal text a match must start with (`^Breaking`, `^Break.*`), if any."""
    source = pattern.pattern
    # Any `|` (even escaped or in a class) may be an alternation that undoes the anchor.
    if pattern.flags & ~re.UNICODE or not source.startswith("^") or "|" in source:
        return None
    rest = source[1:]
    characters, end = _characters(rest)
    if end < len(rest) and rest[end] in _QUANTIFIERS:
        characters = characters[:-1]  # `^ab*`: the b is optional
    return "".join(characters) or None


def glob_prefix(pattern: str) -> str:
    """The literal text before the first wildcard: `blog_` for `blog_*`."""
    for position, char in enumerate(pattern):
        if char in _GLOB_SPECIAL:
            return pattern[:position]
    return pattern


def glob_is_literal(pattern: str) -> bool:
    return not _GLOB_SPECIAL.intersection(pattern)


def _characters(text: str) -> tuple[list[str], int]:
    """The literal characters at the start of `text`, and where they end."""
    characters: list[str] = []
    position = 0
    while position < len(text):
        char = text[position]
        if char == "\\":
            # `\.` is a dot; `\d`, `\b`, `\1`, `\Z` are classes, anchors and references.
            if position + 1 == len(text) or text[position + 1].isalnum():
                break
            characters.append(text[position + 1])
            position += 2
        elif char in _SPECIAL:
            break
        else:
            characters.append(char)
            position += 1
    return characters, position


def _alternatives(body: str) -> list[str] | None:
    """`(a|b)` or `(?:a|b)` holding only literal alternatives."""
    if body.startswith("(?:"):
        rest = body[3:]
    elif body.startswith("(") and not body.startswith("(?"):
        rest = body[1:]
    else:
        return None
    texts = []
    while True:
        characters, end = _characters(rest)
        texts.append("".join(characters))
        if end == len(rest):
            return None  # the group is never closed
        if rest[end] == ")":
            return texts if end == len(rest) - 1 else None
        if rest[end] != "|":
            return None
        rest = rest[end + 1 :]
