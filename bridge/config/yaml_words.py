"""YAML indentation mistakes in plain words.

PyYAML reports a misplaced line as "expected <block end>, but found '<block mapping start>'" or
"mapping values are not allowed here": true to its parser, unreadable for the person who added
two spaces too many. Those errors almost always come from indentation, so this module looks at
the text around the error and says which line is out of line, and with what it should line up.
When the text does not show an indentation mistake it says nothing, and PyYAML's words stand.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

PREFIX = "YAML indentation: "
_INDENT_PROBLEMS = ("expected <block end>", "mapping values are not allowed here")
_BLOCK_SCALAR_ENDS = ("|", ">", "|-", ">-", "|+", ">+")


@dataclass(frozen=True, slots=True)
class Hint:
    line: int  # 1-based
    col: int  # 1-based
    message: str


@dataclass(frozen=True, slots=True)
class _Level:
    """A column where a line's content starts: a key or value, or the '-' of a list item."""

    col: int
    line: int  # 0-based index into the text's lines
    dash: bool
    text: str


def explain(text: str, exc: yaml.MarkedYAMLError) -> Hint | None:
    """Plain words for `exc` when it comes from indentation, else None."""
    mark = exc.problem_mark
    problem = exc.problem or ""
    if mark is None:
        return None
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return None
    if "found character '\\t' that cannot start any token" in problem:
        return _tab(lines[mark.line], mark.line, mark.column)
    if not problem.startswith(_INDENT_PROBLEMS):
        return None
    hint = _misplaced(lines, mark.line)
    if hint is None and problem.startswith("mapping values"):
        return _colon_in_value(lines[mark.line], mark.line)
    return hint


def _tab(line: str, index: int, col: int) -> Hint | None:
    if line[:col].strip(" "):
        message = "a tab here: YAML separates and indents with spaces only (use spaces)"
    else:
        message = "this line is indented with a tab: YAML indents with spaces only (use spaces)"
    return Hint(index + 1, col + 1, PREFIX + message)


def _misplaced(lines: list[str], index: int) -> Hint | None:
    indent = _indent(lines[index])
    before = _previous_content(lines, index)
    if before is None:
        return None
    previous = _levels(lines[before], before)
    deepest = previous[-1]
    if indent > deepest.col:
        if _opens_block(lines[before]):
            return None  # a child of the line before: not an indentation mistake
        return Hint(
            index + 1,
            indent + 1,
            PREFIX + f"this line is indented more than the line before it (line {before + 1}), "
            f"but line {before + 1} holds a value ({_quote(deepest.text)}), not the start of a "
            f"list or a mapping: indent this line {_spaces(deepest.col)}, like line "
            f"{before + 1}, if it belongs beside it",
        )
    open_levels = _open_levels(lines, before)
    same = next((level for level in open_levels if level.col == indent), None)
    if same is not None:
        if same.dash and not lines[index].lstrip().startswith("-"):
            return _beside_a_dash(lines, index, indent, same, open_levels)
        return None
    return _lines_up_with_nothing(index, indent, open_levels)


def _beside_a_dash(
    lines: list[str], index: int, indent: int, dash: _Level, open_levels: list[_Level]
) -> Hint:
    item = next(
        (level for level in open_levels if level.line == dash.line and not level.dash), None
    )
    add = (
        f"indent it {_spaces(item.col)}, like {_quote(item.text)} on line {item.line + 1}, to add "
        "it to that item, or "
        if item is not None
        else ""
    )
    return Hint(
        index + 1,
        indent + 1,
        PREFIX + f"this line starts in the column of the '-' on line {dash.line + 1}, where YAML "
        f"expects the next list item: {add}start it with '- ' to make it a new item",
    )


def _lines_up_with_nothing(index: int, indent: int, open_levels: list[_Level]) -> Hint:
    deeper = [level for level in open_levels if level.col > indent]
    shallower = [level for level in open_levels if level.col < indent]
    near = ([min(deeper, key=lambda lv: lv.col)] if deeper else []) + (
        [max(shallower, key=lambda lv: lv.col)] if shallower else []
    )
    choices = " or ".join(
        f"{_spaces(level.col)} (line {level.line + 1}: {_quote(level.text)})" for level in near
    )
    return Hint(
        index + 1,
        indent + 1,
        PREFIX + f"this line is indented {_spaces(indent)}, which lines up with no line above "
        f"it: the keys of one mapping (and the '-' of one list) must start in the same column. "
        f"Indent it {choices}, whichever it belongs with",
    )


def _colon_in_value(line: str, index: int) -> Hint | None:
    content = line.strip()
    key, sep, value = content.partition(": ")
    if not sep or (": " not in value and not value.endswith(":")):
        return None
    return Hint(
        index + 1,
        _indent(line) + 1,
        "YAML syntax error: the value of "
        f"{key.lstrip('- ')!r} contains ': ' (a colon and a space), which YAML reads as the "
        "start of another key: put the whole value in quotes",
    )


def _open_levels(lines: list[str], before: int) -> list[_Level]:
    """The columns a line after `before` may start at: those of `before` and its ancestors."""
    found: list[_Level] = []
    bound = 10**9
    for index in range(before, -1, -1):
        if not _is_content(lines[index]):
            continue
        levels = [level for level in _levels(lines[index], index) if level.col < bound]
        found += levels
        if levels:
            bound = min(level.col for level in levels)
        if bound == 0:
            break
    return found


def _levels(line: str, index: int) -> list[_Level]:
    """`  - name: a` starts a list item at column 2 and a key at column 4."""
    col = _indent(line)
    levels: list[_Level] = []
    rest = line[col:]
    while rest.startswith("-") and (len(rest) == 1 or rest[1] == " "):
        levels.append(_Level(col, index, True, line.strip()))
        stripped = rest[1:].lstrip(" ")
        if not stripped:
            return levels
        col += len(rest) - len(stripped)
        rest = stripped
    levels.append(_Level(col, index, False, _first_words(rest)))
    return levels


def _previous_content(lines: list[str], index: int) -> int | None:
    return next((i for i in range(index - 1, -1, -1) if _is_content(lines[i])), None)


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#") and stripped not in ("---", "...")


def _opens_block(line: str) -> bool:
    content = _without_comment(line).rstrip()
    return content.endswith(":") or content.endswith(_BLOCK_SCALAR_ENDS) or content.endswith("-")


def _without_comment(line: str) -> str:
    at = line.find(" #")
    return line if at < 0 or "'" in line[:at] or '"' in line[:at] else line[:at]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _first_words(text: str, limit: int = 40) -> str:
    flat = _without_comment(text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _quote(text: str) -> str:
    return f"'{text}'"


def _spaces(count: int) -> str:
    return "1 space" if count == 1 else f"{count} spaces"
