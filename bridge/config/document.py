"""YAML that remembers where every value came from, with `${VAR}` interpolation.

PyYAML's composer gives nodes with marks; we build plain Python values from them ourselves and
keep, for every path, the line and column of the value and of its key. Interpolation runs on
string scalars only, before any validation, so an unset variable is reported where it is used.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path as FilePath
from typing import Any

import yaml

from bridge.config import yaml_words
from bridge.config.errors import ConfigIssue, Path, format_path
from bridge.config.yaml_loaders import MAX_DEPTH, MAX_VALUES, DocumentTooLarge, bounded
from bridge.jsonsafe import text_problem
from bridge.secretfiles import read_secret_file

# `$${` is a literal `${`; `${NAME}`; `${NAME:-default}` (unset or empty); `${NAME-default}`
# (unset only).
# A `${` with no `}` after it is matched alone, to be reported rather than kept as text.
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_INNER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)(.*))?", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    col: int  # 1-based


@dataclass
class Document:
    """A parsed YAML file: plain values plus the marks and issues gathered on the way."""

    file: str
    data: Any = None
    marks: dict[Path, Mark] = field(default_factory=dict)
    key_marks: dict[Path, Mark] = field(default_factory=dict)
    # Source text of plain scalars YAML resolved to non-strings (`no` -> False, `1.10` -> 1.1).
    plain_text: dict[Path, str] = field(default_factory=dict)
    errors: list[ConfigIssue] = field(default_factory=list)
    warnings: list[ConfigIssue] = field(default_factory=list)
    # Values a `${NAME}` made empty, by path: "environment variable 'NAME' is empty".
    emptied: dict[Path, list[str]] = field(default_factory=dict)

    def mark(self, path: Path, *, key: bool = False) -> Mark:
        """Where `path` is written; the nearest written ancestor for values filled by defaults."""
        if key and path in self.key_marks:
            return self.key_marks[path]
        probe = path
        while probe:
            if probe in self.marks:
                return self.marks[probe]
            probe = probe[:-1]
        return self.marks.get((), Mark(1, 1))

    def issue(self, path: Path, message: str, *, key: bool = False) -> ConfigIssue:
        at = self.mark(path, key=key)
        causes = self._empty_causes(path, message)
        if causes:
            message = f"{'; '.join(causes)}: {message}"
        return ConfigIssue(self.file, at.line, at.col, format_path(path), message)

    def _empty_causes(self, path: Path, message: str) -> list[str]:
        """Set-but-empty variables under `path` (or under the action the message names): the
        problem a person must fix, where the issue itself only says what the empty value broke."""
        if not self.emptied:
            return []
        roots = [path]
        named = _ACTION_NAMED.match(message)
        if named:
            roots.append(("actions", named.group(1)))
        causes: list[str] = []
        for where, found in self.emptied.items():
            if any(where[: len(root)] == root for root in roots):
                causes += [cause for cause in found if cause not in causes]
        return causes

    def error(self, path: Path, message: str, *, key: bool = False) -> None:
        self.errors.append(self.issue(path, message, key=key))

    def warn(self, path: Path, message: str, *, key: bool = False) -> None:
        self.warnings.append(self.issue(path, message, key=key))

    def text_of(self, path: Path, value: Any) -> Any:
        """The scalar as written, so `language: no` stays the string 'no' where text is meant."""
        return self.plain_text.get(path, value)


def read_document(path: FilePath | str, env: Mapping[str, str]) -> Document:
    """Read and parse a file; unreadable files and YAML syntax errors become issues."""
    file = str(path)
    try:
        with FilePath(path).open("rb") as stream:
            data = stream.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise OSError(0, f"it is larger than {MAX_FILE_BYTES // (1024 * 1024)} MiB")
        text = data.decode("utf-8")
    except (OSError, ValueError) as exc:
        doc = Document(file)
        doc.errors.append(ConfigIssue(file, 1, 1, "", f"cannot read the file: {unreadable(exc)}"))
        return doc
    return parse_document(text, file, env)


def unreadable(exc: OSError | ValueError) -> str:
    """Why a file could not be read: OSError's strerror, text that is not UTF-8, or a name
    holding NUL (open() raises ValueError; a YAML string such as "a\\0b" can name one)."""
    if isinstance(exc, OSError):
        return str(exc.strerror)
    if isinstance(exc, UnicodeDecodeError):
        return "not valid UTF-8"
    return "the file name holds a NUL character"


# A rules file of 10,000 rules is about 1 MiB; a larger read is a mistake (/dev/zero, a pipe
# that never ends, the wrong file), refused before it fills memory.
MAX_FILE_BYTES = 64 * 1024 * 1024


_MERGE = "tag:yaml.org,2002:merge"

# "action 'name' option 'key': ..." (the prefix of every action option issue).
_ACTION_NAMED = re.compile(r"action '([^']+)'")


def parse_document(text: str, file: str, env: Mapping[str, str]) -> Document:
    """Parses with libyaml when available (ten times faster on large rule sets); a syntax error is
    re-parsed with the pure-Python parser so that messages are the same on every installation."""
    doc = _parse(text, file, env, _FAST_LOADER)
    if doc.errors and _FAST_LOADER is not yaml.SafeLoader and _is_syntax_issue(doc):
        doc = _parse(text, file, env, yaml.SafeLoader)
    return doc


# libyaml's parser when PyYAML was built with it; same nodes and marks, other error wording.
_FAST_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_SYNTAX_PREFIX = "YAML"


def _is_syntax_issue(doc: Document) -> bool:
    return any(issue.message.startswith(_SYNTAX_PREFIX) for issue in doc.errors)


def _parse(
    text: str, file: str, env: Mapping[str, str], loader_class: type[yaml.SafeLoader]
) -> Document:
    doc = Document(file)
    try:
        # The pure-Python reader checks every character as it is built: outside the `try`, a
        # NUL or U+FFFE in the file was a traceback from `bridge check` instead of an issue.
        loader = bounded(loader_class, text)(text)
    except yaml.reader.ReaderError as exc:
        doc.errors.append(_unreadable_character(file, text, exc))
        return doc
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.data = _Builder(doc, loader, env).value(node, ())
    except yaml.MarkedYAMLError as exc:
        hint = yaml_words.explain(text, exc)
        if hint is not None:
            doc.errors.append(ConfigIssue(file, hint.line, hint.col, "", hint.message))
            return doc
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        doc.errors.append(ConfigIssue(file, line, col, "", f"YAML syntax error: {_syntax(exc)}"))
    except yaml.reader.ReaderError as exc:
        doc.errors.append(_unreadable_character(file, text, exc))
    except yaml.YAMLError as exc:
        doc.errors.append(ConfigIssue(file, 1, 1, "", f"YAML error: {exc}"))
    except DocumentTooLarge as exc:
        doc.errors.append(ConfigIssue(file, exc.line, exc.column, "", str(exc)))
    except RecursionError:
        message = f"YAML nesting is too deep (more than {MAX_DEPTH} levels)"
        doc.errors.append(ConfigIssue(file, 1, 1, "", message))
    finally:
        loader.dispose()
    return doc


def _unreadable_character(file: str, text: str, exc: yaml.reader.ReaderError) -> ConfigIssue:
    """A character YAML does not allow in a file (a control character, U+FFFE), at its line and
    column: the reader only knows its offset in the text."""
    before = text[: exc.position]
    line = before.count("\n") + 1
    col = exc.position - (before.rfind("\n") + 1) + 1
    char = exc.character if isinstance(exc.character, int) else 0
    return ConfigIssue(
        file, line, col, "", f"YAML does not allow the character U+{char:04X} in a file"
    )


# A flow collection's closing bracket, by the parser's context for it.
_CLOSERS = {"while parsing a flow mapping": "}", "while parsing a flow sequence": "]"}


def _syntax(exc: yaml.MarkedYAMLError) -> str:
    """The parser's words, with the line where what it was reading began: an unclosed `{` or
    quote is reported where the parser gave up, often the next line, which looks fine."""
    problem = exc.problem or "invalid YAML"
    if not exc.context:
        return problem
    context, opened, failed = exc.context, exc.context_mark, exc.problem_mark
    if opened is not None and failed is not None and opened.line != failed.line:
        context += f" that starts at line {opened.line + 1}, column {opened.column + 1}"
    closer = _CLOSERS.get(exc.context)
    if closer is not None and problem.startswith(f"expected ',' or '{closer}'"):
        problem += f": is its closing '{closer}' missing?"
    return f"{context}: {problem}"


class _Builder:
    """Walks composed nodes into dicts, lists and scalars, recording marks per path.

    Aliased nodes are walked once per use (each use has its own path and marks), so the walk
    counts every value it builds and stops at MAX_VALUES: an alias bomb costs milliseconds.
    """

    def __init__(self, doc: Document, loader: yaml.SafeLoader, env: Mapping[str, str]) -> None:
        self.doc = doc
        self.loader = loader
        self.env = env
        self.values_left = MAX_VALUES

    def value(self, node: yaml.Node, path: Path) -> Any:
        self.values_left -= 1
        if self.values_left < 0:
            raise DocumentTooLarge(
                f"the document expands to more than {MAX_VALUES} values "
                "(are YAML aliases (*name) nested inside each other?)",
                node,
            )
        if len(path) > MAX_DEPTH:
            raise DocumentTooLarge(f"YAML nesting is too deep (more than {MAX_DEPTH} levels)", node)
        self.doc.marks[path] = Mark(node.start_mark.line + 1, node.start_mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.value(item, (*path, i)) for i, item in enumerate(node.value)]
        try:
            value = self.loader.construct_object(node, deep=True)
        except (ValueError, KeyError, IndexError, AttributeError):
            # PyYAML's constructors trust the resolver: text that does not fit a tag raises
            # whatever the conversion raises (int(), a dict lookup, a failed regex match).
            return self.unconstructed(node, path)
        if isinstance(value, str):
            text = self.interpolate(value, path)
            # Names and options end up in the store and in every view; a YAML "\\ud800" escape
            # (or an environment value that is not UTF-8) would make each of them fail.
            if (problem := text_problem(text)) is not None:
                self.doc.error(path, f"the string {problem}")
            return text
        if value is not None and not isinstance(value, bool | int | float):
            return str(node.value)  # dates, binary, sets: keep the text, JSON has no such types
        if not getattr(node, "style", None) and value is not None:  # plain: None, or '' (libyaml)
            self.doc.plain_text[path] = str(node.value)
        return value

    def unconstructed(self, node: yaml.Node, path: Path) -> str:
        """A scalar whose text does not fit its type. Resolved from plain text, a date that does
        not exist (`2024-02-30`) stays the text it is, like every date, and an integer past the
        4,300 digits Python converts is an error (no option takes one). An explicit tag is the
        author's claim, so `!!bool maybe` is an error naming the tag."""
        resolved = self.loader.resolve(yaml.ScalarNode, node.value, (True, False))  # type: ignore[no-untyped-call]
        implicit = resolved == node.tag
        short = node.tag.replace("tag:yaml.org,2002:", "!!")
        if not implicit:
            self.doc.error(path, f"{str(node.value)[:40]!r} is not a valid {short} value")
        elif short == "!!int":
            self.doc.error(path, f"the number has more than {sys.get_int_max_str_digits()} digits")
        return str(node.value)

    def mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        own = {id(key) for key, _ in node.value if key.tag != _MERGE}
        self.loader.flatten_mapping(node)  # resolves `<<: *anchor`: merged pairs come first
        result: dict[str, Any] = {}
        merged: set[str] = set()  # keys a merge gave: the mapping's own key overrides them
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.MarkedYAMLError(
                    problem="mapping keys must be plain strings",
                    problem_mark=key_node.start_mark,
                )
            key = str(key_node.value)
            child = (*path, key)
            if (problem := text_problem(key)) is not None:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                issue = ConfigIssue(self.doc.file, line, col, "", f"the key {problem}")
                self.doc.errors.append(issue)
                continue
            if key in merged and id(key_node) in own:
                merged.discard(key)
                self.forget(child)
            elif key in result and key in merged:
                continue  # an earlier merged mapping wins over a later one (YAML's merge rule)
            elif key in result:
                line, col = key_node.start_mark.line + 1, key_node.start_mark.column + 1
                first = self.doc.key_marks[child].line
                message = f"duplicate key {key!r} (first on line {first})"
                issue = ConfigIssue(self.doc.file, line, col, format_path(child), message)
                self.doc.errors.append(issue)
                continue
            self.doc.key_marks[child] = Mark(
                key_node.start_mark.line + 1, key_node.start_mark.column + 1
            )
            if id(key_node) not in own:
                merged.add(key)
            result[key] = self.value(value_node, child)
        return result

    def forget(self, path: Path) -> None:
        """Drop what was recorded under `path` (a merged value its mapping overrides), so that
        marks and the written text of the merged value do not stand for the new one."""
        for recorded in (self.doc.marks, self.doc.key_marks, self.doc.plain_text, self.doc.emptied):
            for stale in [p for p in recorded if p[: len(path)] == path]:
                del recorded[stale]

    def interpolate(self, text: str, path: Path) -> str:
        if "$" not in text:
            return text

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$${":
                return "${"
            if match.group(1) is None:
                self.doc.error(
                    path, "'${' has no closing '}' (write ${NAME}, or $${ for a literal ${)"
                )
                return ""
            return self.reference(match.group(1), path)

        return _REFERENCE.sub(replace, text)

    def reference(self, inner: str, path: Path) -> str:
        parsed = _INNER.fullmatch(inner)
        if parsed is None:
            self.doc.error(
                path, f"invalid reference '${{{inner}}}' (write ${{NAME}} or ${{NAME:-default}})"
            )
            return ""
        name, operator, default = parsed.groups()
        if default is not None and "${" in default:
            # `${A:-${B}}` would end at the first `}`: the value "${B}" or "a}", silently.
            self.doc.error(
                path,
                f"a default cannot hold another reference ('${{{inner}}}'): nesting is not "
                "supported (set the variable, or write the default out)",
            )
            return ""
        value = self.env.get(name)
        if value is None and f"{name}_FILE" in self.env:
            return self.secret_file(name, path)
        if value is not None and not (operator == ":-" and value == ""):
            if value == "" and operator is None:
                self.emptied_at(path, f"environment variable {name!r} is empty")
            return value
        if operator is not None:
            return default or ""
        self.doc.error(
            path,
            f"environment variable {name!r} is not set (nor is {name}_FILE), and has no default",
        )
        return ""

    def secret_file(self, name: str, path: Path) -> str:
        """`NAME_FILE` names a file holding the value (Docker and Kubernetes secrets)."""
        file = self.env[f"{name}_FILE"]
        try:
            content = read_secret_file(file)
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not valid UTF-8"
            self.doc.error(path, f"cannot read {name}_FILE {file!r}: {reason}")
            return ""
        if content.endswith("\n"):
            content = content[:-1]
            if content.endswith("\r"):
                content = content[:-1]
        if not content:
            self.emptied_at(path, f"the file {name}_FILE names ({file!r}) is empty")
        return content

    def emptied_at(self, path: Path, cause: str) -> None:
        causes = self.doc.emptied.setdefault(path, [])
        if cause not in causes:
            causes.append(cause)
