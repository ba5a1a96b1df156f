"""The operators of `when` and `where` conditions, each defined once.

An operator says how its argument is read (errors go through the Document, so they carry
file:line:col), the predicate it compiles to, how `bridge explain` words it, and what it offers
the rule index: the exact values it accepts, or a superset of them, or literal prefixes. `when`
and `where` read the same table (`written_in` says where each may be a key); a `Syntax` holds
what differs between them: how a value to compare with is read (text for Event fields, JSON for
paths). Adding an operator is one class here, one entry in OPERATORS and one row of the table in
docs/configuration.md (tests/config/test_operators.py holds the two together).
"""

from __future__ import annotations

import fnmatch
import math
import operator
import re
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Any, TypeAlias

from bridge.config import checks, literals
from bridge.config.document import Document
from bridge.config.errors import Path, describe_type
from bridge.config.regex_risk import backtracking_risk
from bridge.config.timed_regex import PatternError, RuleRegex, compile_pattern

ValuePredicate = Callable[[Any], bool]
FAILED: Any = object()  # an argument whose error is reported (None is a value to compare with)


@dataclass(frozen=True, slots=True)
class Operation:
    """One operator with its parsed argument: `regex: "^Breaking"`."""

    operator: Operator
    argument: Any

    def __repr__(self) -> str:
        return f"Operation({self.operator.name}, {self.argument!r})"


@dataclass(frozen=True, slots=True)
class Both:
    """Several operators in one mapping (`{glob: "blog_*", not: blog_draft}`): all must hold."""

    conditions: tuple[ValueCondition, ...]


ValueCondition: TypeAlias = Operation | Both


@dataclass(frozen=True, slots=True)
class Syntax:
    """What differs between `when` and `where`."""

    name: str  # "when" or "where"
    value: Callable[[Document, Any, Path], Any]  # one value to compare with, or FAILED
    condition: Callable[[Document, Any, Path], ValueCondition | None]  # nested, for `not`


class Operator:
    """The defaults say "nothing to offer"; each operator overrides what it knows."""

    name: str
    written_in: frozenset[str]  # the syntaxes where `name:` is a key

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        """The argument, ready for `predicate`, or FAILED once the problem is reported."""
        return arg

    def predicate(self, arg: Any) -> ValuePredicate:
        raise NotImplementedError

    def describe(self, arg: Any, negate: bool) -> str:
        """`is 'x'`, or (negate) its failed form `is not 'x'`: how `when` is explained."""
        raise NotImplementedError

    def written(self, arg: Any) -> str:
        """The operator as written (`eq 1`): how a `where` item is explained."""
        return f"{self.name} {arg!r}"

    def values(self, arg: Any) -> frozenset[Hashable] | None:
        """Exactly the values the predicate accepts, when they are a known set."""
        return None

    def candidates(self, arg: Any) -> frozenset[Hashable] | None:
        """A set holding every accepted value (perhaps more): equality buckets of the index."""
        return self.values(arg)

    def prefixes(self, arg: Any) -> frozenset[str] | None:
        """Texts one of which every accepted value starts with: prefix buckets of the index."""
        return None

    def whole(self, arg: Any) -> Callable[[list[Any]], bool] | None:
        """In `where`, a test of everything the path found rather than of each value."""
        return None


def _no(negate: bool) -> str:
    return " not" if negate else ""


def show(value: Any) -> str:
    return "null" if value is None else repr(value)


def _hashable(values: Iterable[Any]) -> frozenset[Hashable] | None:
    try:
        return frozenset(values)
    except TypeError:  # a JSON object or list to compare with: no bucket
        return None


class Eq(Operator):
    """A scalar in `when` (`type: article`), `eq:` in `where`."""

    name = "eq"
    written_in = frozenset({"where"})

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        return syntax.value(doc, arg, path)

    def predicate(self, arg: Any) -> ValuePredicate:
        return lambda value: value == arg

    def describe(self, arg: Any, negate: bool) -> str:
        return f"is{_no(negate)} {show(arg)}"

    def values(self, arg: Any) -> frozenset[Hashable] | None:
        return _hashable([arg])


class In(Operator):
    """A list in `when` (`type: [article, page]`), `in:` in both."""

    name = "in"
    written_in = frozenset({"when", "where"})

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        items = checks.sequence(doc, arg, path)
        if items is None:
            return FAILED
        if not items:
            doc.error(path, "an empty list matches nothing")
            return FAILED
        values = [syntax.value(doc, item, (*path, i)) for i, item in enumerate(items)]
        return FAILED if any(v is FAILED for v in values) else tuple(values)

    def predicate(self, arg: Any) -> ValuePredicate:
        choices = _hashable(arg)
        if choices is None:
            return lambda value: value in arg

        def member(value: Any) -> bool:
            try:
                return value in choices
            except TypeError:  # a found object or list never equals a listed scalar
                return False

        return member

    def describe(self, arg: Any, negate: bool) -> str:
        return f"is{_no(negate)} one of {list(arg)!r}"

    def written(self, arg: Any) -> str:
        return f"in {list(arg)!r}"

    def values(self, arg: Any) -> frozenset[Hashable] | None:
        return _hashable(arg)


class Not(Operator):
    name = "not"
    written_in = frozenset({"when"})

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        inner = syntax.condition(doc, arg, path)
        return FAILED if inner is None else inner

    def predicate(self, arg: Any) -> ValuePredicate:
        inner = compile_value(arg)
        return lambda value: not inner(value)

    def describe(self, arg: Any, negate: bool) -> str:
        return describe(arg, negate=not negate)


class Glob(Operator):
    name = "glob"
    written_in = frozenset({"when"})

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        if not isinstance(arg, list):
            pattern = checks.string(doc, arg, path)
            return FAILED if pattern is None else (pattern,)
        if not arg:
            doc.error(path, "an empty list matches nothing")
        texts = [checks.string(doc, p, (*path, i)) for i, p in enumerate(arg)]
        patterns = tuple(t for t in texts if t is not None)
        return patterns if arg and len(patterns) == len(arg) else FAILED

    def predicate(self, arg: Any) -> ValuePredicate:
        glob = re.compile("|".join(fnmatch.translate(p) for p in arg))
        return lambda value: isinstance(value, str) and glob.match(value) is not None

    def describe(self, arg: Any, negate: bool) -> str:
        return f"does{_no(negate)} match glob {' or '.join(map(repr, arg))}"

    def values(self, arg: Any) -> frozenset[Hashable] | None:
        literal = all(literals.glob_is_literal(p) for p in arg)
        return frozenset(arg) if literal else None

    def prefixes(self, arg: Any) -> frozenset[str] | None:
        found = [literals.glob_prefix(p) for p in arg]
        return frozenset(found) if all(found) else None


class Regex(Operator):
    """A match anywhere in a text (`re.search`), bounded in time: RegexTimeout when given up."""

    name = "regex"
    written_in = frozenset({"when", "where"})

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        compiled = compile_regex(doc, arg, path)
        return FAILED if compiled is None else compiled

    def predicate(self, arg: Any) -> ValuePredicate:
        search = arg.search
        return lambda value: isinstance(value, str) and search(value)

    def describe(self, arg: Any, negate: bool) -> str:
        return f"does{_no(negate)} match regex {arg.pattern!r}"

    def written(self, arg: Any) -> str:
        return f"regex {arg.pattern!r}"

    def candidates(self, arg: Any) -> frozenset[Hashable] | None:
        return literals.regex_texts(arg.parsed)

    def prefixes(self, arg: Any) -> frozenset[str] | None:
        prefix = literals.regex_prefix(arg.parsed)
        return None if prefix is None else frozenset([prefix])


class Exists(Operator):
    """An Event field that is set; in `where`, a path that finds something."""

    name = "exists"
    written_in = frozenset({"when", "where"})

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        present = checks.boolean(doc, arg, path)
        return FAILED if present is None else present

    def predicate(self, arg: Any) -> ValuePredicate:
        return lambda value: (value is not None) == arg

    def describe(self, arg: Any, negate: bool) -> str:
        return "is set" if arg != negate else "is not set"

    def whole(self, arg: Any) -> Callable[[list[Any]], bool] | None:
        return lambda found: bool(found) == arg


class Compare(Operator):
    """`gt`/`lt`: numbers with numbers, text with text (ISO dates compare as text)."""

    written_in = frozenset({"where"})

    def __init__(self, name: str, compare: Callable[[Any, Any], bool], words: str) -> None:
        self.name, self._compare, self._words = name, compare, words

    def parse(self, doc: Document, arg: Any, path: Path, syntax: Syntax) -> Any:
        if isinstance(arg, bool) or not isinstance(arg, int | float | str):
            doc.error(path, f"expected a number or a string, got {describe_type(arg)}")
            return FAILED
        if isinstance(arg, float) and math.isnan(arg):
            # Every comparison with NaN is false: the condition could never hold.
            doc.error(
                path,
                "expected a number or a string, got .nan (no value is ever compared true with it)",
            )
            return FAILED
        return arg

    def predicate(self, arg: Any) -> ValuePredicate:
        compare = self._compare
        kinds: Any = (int, float) if isinstance(arg, int | float) else str
        return lambda value: (
            isinstance(value, kinds) and not isinstance(value, bool) and compare(value, arg)
        )

    def describe(self, arg: Any, negate: bool) -> str:
        return f"is{_no(negate)} {self._words} {show(arg)}"


EQ, IN, NOT, GLOB, REGEX, EXISTS = Eq(), In(), Not(), Glob(), Regex(), Exists()
GT = Compare("gt", operator.gt, "greater than")
LT = Compare("lt", operator.lt, "less than")
# In this order in error messages and explanations.
OPERATORS: tuple[Operator, ...] = (EQ, NOT, IN, GLOB, REGEX, EXISTS, GT, LT)


def written_in(syntax: str) -> dict[str, Operator]:
    """The operators that may be written as keys in `when` or in `where`, by name."""
    return {op.name: op for op in OPERATORS if syntax in op.written_in}


def compile_regex(doc: Document, value: Any, path: Path) -> RuleRegex | None:
    text = checks.string(doc, value, path)
    if text is None:
        return None
    try:
        compiled = compile_pattern(text)
    except PatternError as exc:
        doc.error(path, f"invalid regex {text!r}: {exc}")
        return None
    if (risk := backtracking_risk(text)) is not None:
        doc.warn(path, f"regex {text!r}: {risk}")
    return compiled


def compile_value(condition: ValueCondition) -> ValuePredicate:
    if isinstance(condition, Operation):
        return condition.operator.predicate(condition.argument)
    parts = [compile_value(c) for c in condition.conditions]
    return lambda value: all(part(value) for part in parts)


def describe(condition: ValueCondition, *, negate: bool = False) -> str:
    """The requirement in words, or (negate) the failed form of it."""
    if isinstance(condition, Operation):
        return condition.operator.describe(condition.argument, negate)
    return " and ".join(describe(c, negate=negate) for c in condition.conditions)


def operations_of(condition: ValueCondition) -> tuple[Operation, ...]:
    """The operators that must all hold."""
    if isinstance(condition, Operation):
        return (condition,)
    return tuple(t for c in condition.conditions for t in operations_of(c))


def exact_values(condition: ValueCondition) -> frozenset[Hashable] | None:
    """The values that satisfy the condition, when one of its operators names them all."""
    tests = operations_of(condition)
    if len(tests) != 1:
        return None
    (test,) = tests
    return test.operator.values(test.argument)
