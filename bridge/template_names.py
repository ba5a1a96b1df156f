"""What a template refers to, read from its syntax tree, so that `{{ event.nam }}`, `{{ evnt }}`
or `{{ x | uppper }}` is a load error, not a job that dies at delivery (and dies again on every
retry until the config is fixed).

Every finding is certain: a template this module refuses fails whenever it renders. What cannot
be known without rendering (fields of `event.raw`, what a loop over anything but `events` holds)
is left alone.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import Enum

import jinja2
from jinja2 import meta, nodes

from bridge.events import MATCHABLE_FIELDS

# The names of the render context (bridge.templates.batch_context; a test keeps them in step).
CONTEXT_NAMES = ("event", "events", "notification")
# What `event` offers a template: its matchable fields, all its actions, the raw notification.
EVENT_ATTRIBUTES = frozenset((*MATCHABLE_FIELDS, "actions", "raw"))
# Filters over `events` that give a list of the same events.
_KEEPS_EVENTS = frozenset(("list", "reverse", "sort", "unique", "selectattr", "rejectattr"))
_ONE_OF_EVENTS = frozenset(("first", "last"))
_SEEN = f" (templates see {', '.join(CONTEXT_NAMES)})"


class _Kind(Enum):
    EVENT = "event"
    EVENTS = "events"


@dataclass(frozen=True, slots=True)
class TemplateCheck:
    """`problems`, one sentence each (filters and tests, names, then Event fields, each in the
    order written); `reads`, the context names the template reads."""

    problems: tuple[str, ...] = ()
    reads: frozenset[str] = frozenset()


def check_names(source: str, environment: jinja2.Environment) -> TemplateCheck:
    """The unknown filters, tests, names and Event fields of `source`; raises
    jinja2.TemplateSyntaxError for what neither parses nor compiles."""
    tree = environment.parse(source)  # our own tree: unknown filters are renamed below
    problems = [*_unknown_filters_and_tests(tree, environment)]
    # Jinja's own scoping (`loop` inside a for loop, a macro's arguments, `caller`, names set
    # before use), by generating the template's code: what compiling refuses, this raises.
    undeclared = meta.find_undeclared_variables(tree)
    known = {*CONTEXT_NAMES, *environment.globals, *_bindings(tree)}
    problems += _unknown_names(tree, undeclared - known, sorted(known))
    problems += _unknown_event_fields(tree, _kinds(tree))
    reads = frozenset(name for name in CONTEXT_NAMES if name in undeclared)
    return TemplateCheck(tuple(dict.fromkeys(problems)), reads)


def _unknown_filters_and_tests(tree: nodes.Template, environment: jinja2.Environment) -> list[str]:
    """Each unknown one, renamed in `tree` to a known one so that the name analysis (which
    compiles the tree) can still run: every problem is reported at once."""
    problems = []
    for node in tree.find_all((nodes.Filter, nodes.Test)):
        assert isinstance(node, nodes.Filter | nodes.Test)
        kind, known = (
            ("filter", environment.filters)
            if isinstance(node, nodes.Filter)
            else ("test", environment.tests)
        )
        if node.name not in known:
            hint = _did_you_mean(node.name, known)
            problems.append(f"template uses the {kind} {node.name}, which does not exist{hint}")
            node.name = "string" if kind == "filter" else "defined"
    return problems


def _unknown_names(
    tree: nodes.Template, unknown: Collection[str], known: Collection[str]
) -> Iterator[str]:
    """`unknown`: looked up in the context, yet neither the context, a global (`range`,
    `namespace`) nor bound anywhere in the template. Bound anywhere, because a name set in both
    branches of an `if` is defined after it, though Jinja's analysis counts it as a lookup."""
    for node in tree.find_all(nodes.Name):
        assert isinstance(node, nodes.Name)
        if node.ctx == "load" and node.name in unknown:
            hint = _did_you_mean(node.name, known) or _SEEN
            yield f"template refers to {node.name}, which is not defined{hint}"


def _unknown_event_fields(tree: nodes.Template, kinds: Mapping[str, _Kind]) -> Iterator[str]:
    for node in tree.find_all((nodes.Getattr, nodes.Getitem)):
        assert isinstance(node, nodes.Getattr | nodes.Getitem)
        name = _attribute(node)
        if name is None or name in EVENT_ATTRIBUTES or _kind(node.node, kinds) is not _Kind.EVENT:
            continue
        hint = _did_you_mean(name, sorted(EVENT_ATTRIBUTES))
        yield f"template refers to {_written(node.node)}.{name}, which is not an Event field{hint}"


def _written(node: nodes.Node) -> str:
    """The event as the template names it (`e`, `first`, `events[0]`), so the message quotes
    what was written; `event` for anything more involved (`(events | last)`)."""
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getitem) and isinstance(node.node, nodes.Name):
        negative = isinstance(node.arg, nodes.Neg)
        index = node.arg.node if isinstance(node.arg, nodes.Neg) else node.arg
        if isinstance(index, nodes.Const) and type(index.value) is int:
            return f"{node.node.name}[{'-' if negative else ''}{index.value}]"
    return "event"


def _attribute(node: nodes.Getattr | nodes.Getitem) -> str | None:
    if isinstance(node, nodes.Getattr):
        return node.attr
    if isinstance(node.arg, nodes.Const) and isinstance(node.arg.value, str):
        return node.arg.value
    return None


def _kind(node: nodes.Node | None, kinds: Mapping[str, _Kind]) -> _Kind | None:
    """EVENT for `event`, `events[0]`, `events | last`, a loop variable over `events`; EVENTS for
    `events` and the filters that keep its elements; None for anything else."""
    if isinstance(node, nodes.Name):
        return kinds.get(node.name)
    if isinstance(node, nodes.Getitem) and _kind(node.node, kinds) is _Kind.EVENTS:
        if isinstance(node.arg, nodes.Slice):
            return _Kind.EVENTS
        index = node.arg.node if isinstance(node.arg, nodes.Neg) else node.arg
        is_index = isinstance(index, nodes.Const) and type(index.value) is int
        return _Kind.EVENT if is_index else None
    if isinstance(node, nodes.Filter) and _kind(node.node, kinds) is _Kind.EVENTS:
        if node.name in _ONE_OF_EVENTS:
            return _Kind.EVENT
        return _Kind.EVENTS if node.name in _KEEPS_EVENTS else None
    return None


def _kinds(tree: nodes.Template) -> dict[str, _Kind]:
    """What each name holds, where every binding of it agrees (`{% for e in events %}` makes `e`
    an event; `{% set event = 1 %}` anywhere makes `event` unknown everywhere)."""
    bindings = _bindings(tree)
    context: dict[str, _Kind] = {"event": _Kind.EVENT, "events": _Kind.EVENTS}
    kinds = dict(context)
    for _ in range(len(bindings) + 1):  # a chain of sets settles in as many rounds as it has
        found = {}
        for name in {*context, *bindings}:
            candidates = [context.get(name)] if name in context else []
            candidates += [_kind(value, kinds) for value in bindings.get(name, [])]
            if candidates and candidates[0] is not None and len(set(candidates)) == 1:
                found[name] = candidates[0]
        if found == kinds:
            break
        kinds = found
    return kinds


def _bindings(tree: nodes.Template) -> dict[str, list[nodes.Node | None]]:
    """Every name the template binds, with each value bound to it (None: not one we follow)."""
    values: dict[int, nodes.Node] = {}
    for node in tree.find_all((nodes.For, nodes.Assign, nodes.With)):
        for target, value in _targets(node):
            values[id(target)] = value
    found: dict[str, list[nodes.Node | None]] = {}
    for name in tree.find_all(nodes.Name):
        assert isinstance(name, nodes.Name)
        if name.ctx in ("store", "param"):
            found.setdefault(name.name, []).append(values.get(id(name)))
    for macro in tree.find_all(nodes.Macro):
        assert isinstance(macro, nodes.Macro)
        found.setdefault(macro.name, []).append(None)
    return found


def _targets(node: nodes.Node) -> Iterator[tuple[nodes.Node, nodes.Node]]:
    """(target name, its value) of a for loop (the element of what it loops over), a `set` and a
    `with`; tuple targets are not followed."""
    if isinstance(node, nodes.For):
        yield node.target, nodes.Getitem(node.iter, nodes.Const(0), "load")
    elif isinstance(node, nodes.Assign):
        yield node.target, node.node
    elif isinstance(node, nodes.With):
        yield from zip(node.targets, node.values, strict=True)


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    """bridge.config.errors.did_you_mean's wording; config is above this leaf module."""
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
