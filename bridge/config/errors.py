"""Configuration problems, each pinned to a file, line, column and dotted path.

The loader collects every problem before raising, so that one `bridge check` shows them all.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A path into the document: ("rules", 2, "do", 0, "action").
Path = tuple[str | int, ...]

# The longest path or message an issue keeps (the longest written ones are about 400).
MAX_ISSUE_CHARS = 1000

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_\-]*")


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One error or warning; str() is `file:line:col: path: message`."""

    file: str
    line: int
    col: int
    path: str
    message: str

    def __post_init__(self) -> None:
        # Messages quote what was written (`invalid duration '...'`); a value of megabytes
        # must not make a line of megabytes in `bridge check`, a log or the admin API.
        for name in ("path", "message"):
            text = getattr(self, name)
            if len(text) > MAX_ISSUE_CHARS:
                half = MAX_ISSUE_CHARS // 2
                cut = f"{text[:half]}... ({len(text) - 2 * half} characters) ...{text[-half:]}"
                object.__setattr__(self, name, cut)

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.col}: "
        return where + (f"{self.path}: " if self.path else "") + self.message

    def to_json(self) -> dict[str, object]:
        return {
            "file": self.file,
            "line": self.line,
            "col": self.col,
            "path": self.path,
            "message": self.message,
        }


class ConfigError(Exception):
    """The configuration cannot be used; `issues` holds every problem found, in file order."""

    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


def format_path(path: Path) -> str:
    """`("rules", 2, "do", 0, "action")` -> `rules[2].do[0].action`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            text += f".{part}" if text else part
        else:
            text += f"[{part!r}]"
    return text


def option_prefix(action: str, key: str | int) -> str:
    """How every problem of one action option starts (as plugin hosts word it)."""
    return f"action {action!r} option {key!r}"


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """` (did you mean 'x'?)` when a choice is close to `word`, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def describe_type(value: object) -> str:
    """The YAML name of a value's type, for `expected a mapping, got a list`."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}
    return names.get(type(value), type(value).__name__)


def sort_issues(issues: Sequence[ConfigIssue]) -> list[ConfigIssue]:
    return sorted(issues, key=lambda issue: (issue.file, issue.line, issue.col))
