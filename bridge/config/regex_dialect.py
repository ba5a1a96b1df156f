"""Where the `regex` engine would read a pattern that Python's `re` accepts differently.

Rules' regexes are written in `re`'s syntax and run by the `regex` package in its VERSION0
mode, which follows `re` (bridge/config/timed_regex.py). Two of its extensions use text that
`re` reads literally, so the same pattern would silently mean something else:

- a brace that does not start a repeat count: `re` reads `a{e<=1}` or `a{s}` as the literal
  text, `regex` as a fuzzy match (`a` with up to one error, `a` with any substitutions), and
  `a{s` is an error there;
- `[:name:]` inside a set: `re` reads `[[:digit:]]` as the characters `[:digt` and then a
  literal `]`, `regex` as the POSIX class of digits.

Such a pattern is refused at load with the way to write it that both read alike (`\\{`, `\\[`).
Anything else `regex` reads differently is an error there, reported as such.
"""

from __future__ import annotations

import re

_REPEAT_COUNT = re.compile(r"\{\d*(?:,\d*)?\}")  # `{2}`, `{1,3}`, `{,3}`, `{2,}`: re's repeats
# What `regex` tries as fuzzy constraints after `{`: an error kind (deletions, errors,
# insertions, substitutions) or a cost (`1i+1d<3`, `2<e<5`).
_FUZZY_START = re.compile(r"\{(?:[deis]|\d+[<dis])")
_SPACE = re.compile(r"\s+")
_POSIX_CLASS = re.compile(r"\[:[^\]]*:\]")


def dialect_clash(pattern: str, *, verbose: bool) -> str | None:
    """Why `regex` would not read `pattern` as `re` does, or None. The pattern compiles in `re`."""
    position, end = 0, len(pattern)
    while position < end:
        char = pattern[position]
        if char == "\\":
            if pattern.startswith("N{", position + 1):  # \N{EM DASH}: a named character
                position = _after(pattern, "}", position)
            else:
                position += 2
        elif char == "[":
            position, clash = _set(pattern, position)
            if clash is not None:
                return clash
        elif pattern.startswith("(?#", position):
            position = _after(pattern, ")", position)
        elif verbose and char == "#":
            position = _after(pattern, "\n", position)
        elif char == "{" and (clash := _brace(pattern, position, verbose=verbose)):
            return clash
        else:
            position += 1
    return None


def _brace(pattern: str, position: int, *, verbose: bool) -> str | None:
    """Why a `{` that is not one of re's repeat counts means something else to `regex`."""
    if _REPEAT_COUNT.match(pattern, position):
        return None
    closing = pattern.find("}", position)
    text = pattern[position:] if closing < 0 else pattern[position : closing + 1]
    if verbose:  # `regex` skips spaces inside braces too, `re` does not
        text = _SPACE.sub("", text)
        if _REPEAT_COUNT.fullmatch(text):
            return (
                f"{pattern[position : closing + 1]!r} at position {position} is literal text "
                "for Python's re, which takes no spaces in a repeat count even in a verbose "
                "pattern, but a repeat count for the regex engine that runs rules' regexes: "
                f"write {text}, or \\{{ for a literal brace"
            )
    if _FUZZY_START.match(text):
        return (
            f"'{{' at position {position} is literal text for Python's re but starts a "
            "fuzzy-matching constraint for the regex engine that runs rules' regexes: write "
            "\\{ for a literal brace"
        )
    return None


def _set(pattern: str, start: int) -> tuple[int, str | None]:
    """Where the set opened at `start` ends, and a POSIX class in it, if any."""
    position = start + 1
    if pattern.startswith("^", position):
        position += 1
    if pattern.startswith("]", position):  # `[]a]`: a `]` first is a member
        position += 1
    while position < len(pattern):
        char = pattern[position]
        if char == "\\":
            position += 2
        elif char == "]":
            return position + 1, None
        elif char == "[" and _POSIX_CLASS.match(pattern, position):
            return position, (
                f"'[:' at position {position} is literal text in a set for Python's re but a "
                "POSIX class such as [:digit:] for the regex engine that runs rules' regexes: "
                "write \\[ for a literal bracket"
            )
        else:
            position += 1
    return position, None


def _after(pattern: str, closing: str, position: int) -> int:
    found = pattern.find(closing, position)
    return len(pattern) if found < 0 else found + 1
