"""Jinja2 templates for action inputs, in a sandbox where undefined names are errors.

Templates see `event` (the last event's fields plus `raw`), `events` (every event of a coalesced
batch) and `notification` (the last event's raw notification). A string that is exactly one
expression, `"{{ events | map(attribute='codename') | list }}"`, renders to the expression's own
value (a list here) instead of its text, so options typed as lists or numbers can be templated.
Unlike jinja2.nativetypes we never `literal_eval` text: `"{{ event.codename }}"` with codename
`"2024"` stays the string "2024". A null (a field that exists but is None, such as a legacy
workflow event's codename) is a real None from such a one-expression string (JSON null in a
body), and prints as nothing in text: `item-{{ event.codename }}` is `item-`, not `item-None`.

A leaf module (events and redaction below it): config uses it to check syntax at load, delivery,
rules and the actions that expand calls to render. Outside bridge.rules so that config, which the
rules engine reads, never imports the rules package (no import cycle: pyproject's contracts).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import StrictUndefined, Undefined, nodes
from jinja2.exceptions import SecurityError

from bridge import redaction
from bridge.events import Event
from bridge.template_limits import (
    BoundedCodeGenerator,
    BoundedNativeCodeGenerator,
    BoundedSandbox,
    bounded_join,
    check_text_size,
    time_budget,
)
from bridge.template_names import TemplateCheck, check_names

REDACTED = redaction.REDACTED
# The bits of the largest integer Python writes as text (4,300 digits by default).
_MAX_WRITTEN_BITS = int(sys.get_int_max_str_digits() * 3.3219)


class TemplateError(Exception):
    """A template failed to compile or render; the message names the option."""


def _native_concat(values: Iterable[Any]) -> Any:
    """One value: itself (an Undefined is forced so it raises); several: their joined text."""
    parts = list(values)
    if len(parts) == 1:
        value = parts[0]
        if isinstance(value, Undefined):
            return str(value)
        # The value itself is kept (and stored as JSON): a list of a million references to one
        # long string must not pass for small.
        check_text_size((value,), "the template")
        if isinstance(value, int) and value.bit_length() > _MAX_WRITTEN_BITS:
            # `{{ 10**4300 * 10**4300 }}`: Python writes no integer of more than 4,300 digits,
            # so neither JSON nor any target could ever take it.
            raise SecurityError(
                f"the template renders an integer of more than {sys.get_int_max_str_digits()} "
                "digits, which cannot be written as text or JSON"
            )
        return value
    return bounded_join(parts)


def _null_as_empty(value: Any) -> Any:
    """What a text template prints for `{{ value }}`: nothing for None. An Undefined passes
    through, so printing it still raises (StrictUndefined)."""
    return "" if value is None else value


class _Text(BoundedSandbox):
    code_generator_class = BoundedCodeGenerator
    concat = staticmethod(bounded_join)


class _SandboxedNativeEnvironment(BoundedSandbox):
    code_generator_class = BoundedNativeCodeGenerator
    concat = staticmethod(_native_concat)


# Only text output is finalized: a one-expression template keeps its value, None included.
_TEXT = _Text(undefined=StrictUndefined, autoescape=False, finalize=_null_as_empty)
_NATIVE = _SandboxedNativeEnvironment(undefined=StrictUndefined, autoescape=False)


# Marks a `{` that a template printed (event data), so that an action filling `{path}`
# placeholders after rendering (search records, keys) leaves it as text: NUL, which no stored
# notification holds (bridge.jsonsafe refuses it).
PRINTED_BRACE = "\x00{"


def escape_printed(value: Any) -> Any:
    """`value` with every `{` inside its strings marked PRINTED_BRACE."""
    if isinstance(value, str):
        return value.replace("{", PRINTED_BRACE)
    if isinstance(value, Mapping):
        return {k: escape_printed(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [escape_printed(v) for v in value]
    return value


def _printed_text(value: Any) -> Any:
    if value is None or isinstance(value, Undefined):
        return _null_as_empty(value)  # an Undefined still raises where it is printed
    if not isinstance(value, str):
        check_text_size((value,), "the template")
    return str(value).replace("{", PRINTED_BRACE)


class _MarkedNative(_SandboxedNativeEnvironment):
    concat = staticmethod(lambda values: escape_printed(_native_concat(values)))


_TEXT_MARKED = _Text(undefined=StrictUndefined, autoescape=False, finalize=_printed_text)
_NATIVE_MARKED = _MarkedNative(undefined=StrictUndefined, autoescape=False)


@lru_cache(maxsize=1024)
def _compile_marked(source: str) -> jinja2.Template:
    native = compile_template(source).environment is _NATIVE
    return (_NATIVE_MARKED if native else _TEXT_MARKED).from_string(source)


def render_marking_printed(value: Any, context: Mapping[str, Any], option: str) -> Any:
    """`value` rendered as render_options renders it, every `{` that a template printed marked
    PRINTED_BRACE: for options whose text the action then fills (`{elements.title}`), so that
    an item named `{elements.internal_notes}` is that name, not that element."""
    with time_budget():
        return _render_value(value, context, (option,), _compile_marked)


def is_template(value: object) -> bool:
    return isinstance(value, str) and ("{{" in value or "{%" in value or "{#" in value)


@lru_cache(maxsize=4096)
def compile_template(source: str) -> jinja2.Template:
    """Compiled once per distinct source; raises jinja2.TemplateSyntaxError."""
    tree = _TEXT.parse(source)
    body = tree.body
    single = (
        len(body) == 1
        and isinstance(body[0], nodes.Output)
        and len(body[0].nodes) == 1
        and not isinstance(body[0].nodes[0], nodes.TemplateData)
    )
    return (_NATIVE if single else _TEXT).from_string(source)


@lru_cache(maxsize=4096)
def check_template(source: str) -> TemplateCheck:
    """What a config load says about one template: its syntax error, or every unknown name,
    Event field, filter and test it refers to; and which context names it reads. Not compiled
    here: the name analysis generates its code, which is what refuses what Jinja refuses."""
    try:
        return check_names(source, _TEXT)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateCheck((_syntax_problem(exc),))
    except RecursionError:  # Jinja's parser and code generator recurse once per nesting level
        return TemplateCheck((TOO_DEEP,))


TOO_DEEP = "template nests or recurses too deeply for the template engine"


def _syntax_problem(exc: jinja2.TemplateSyntaxError) -> str:
    return f"template syntax error: {exc.message} (template line {exc.lineno})"


def template_sources(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every templated string inside `value`, with its relative path."""
    if is_template(value):
        yield (), value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            for path, source in template_sources(item):
                yield (key, *path), source
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            for path, source in template_sources(item):
                yield (index, *path), source


def event_context(event: Event) -> dict[str, Any]:
    return event.fields() | {"raw": event.raw}


def batch_context(events: Sequence[Event]) -> dict[str, Any]:
    """What templates see for a call carrying `events` (oldest first)."""
    contexts = [event_context(event) for event in events]
    last = events[-1] if events else None
    return {
        "event": contexts[-1] if contexts else None,
        "events": contexts,
        "notification": last.raw if last is not None else None,
    }


def render(
    source: str,
    context: Mapping[str, Any],
    compiled: Callable[[str], jinja2.Template] = compile_template,
) -> Any:
    """Render one string; raises jinja2 errors (render_options names the option)."""
    if not is_template(source):
        return source
    return compiled(source).render(context)


def render_options(options: Mapping[str, Any], context: Mapping[str, Any]) -> dict[str, Any]:
    """Every string rendered, recursively through dicts and lists; other values left alone.
    All of them share one CPU time budget (template_limits.MAX_RENDER_CPU_S)."""
    with time_budget():
        return {key: _render_value(value, context, (key,)) for key, value in options.items()}


def _render_value(
    value: Any,
    context: Mapping[str, Any],
    path: tuple[str | int, ...],
    compiled: Callable[[str], jinja2.Template] = compile_template,
) -> Any:
    if isinstance(value, str):
        try:
            return render(value, context, compiled)
        except jinja2.TemplateError as exc:
            raise TemplateError(f"option {_dotted(path)!r}: {_reason(exc)}") from None
        except RecursionError:  # a macro calling itself, or nesting too deep to compile
            raise TemplateError(f"option {_dotted(path)!r}: {TOO_DEEP}") from None
        except Exception as exc:
            # What an expression raises (`1 / 0`, `name + 1`, a range past the sandbox's
            # limit) fails the same way on every retry of the same events: a template error,
            # not a crash of the call.
            raise TemplateError(f"option {_dotted(path)!r}: {type(exc).__name__}: {exc}") from None
    if isinstance(value, Mapping):
        return {k: _render_value(v, context, (*path, k), compiled) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_render_value(v, context, (*path, i), compiled) for i, v in enumerate(value)]
    return value


def _reason(exc: jinja2.TemplateError) -> str:
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"template syntax error: {exc.message}"
    return exc.message or type(exc).__name__


def _dotted(path: tuple[str | int, ...]) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def redact(options: Mapping[str, Any], secret_names: Iterable[str] = ()) -> dict[str, Any]:
    """A copy with secrets hidden by bridge.redaction's one policy: the action's secret options
    and credential-named keys at any depth (`headers.Authorization`, `json.key`) become `***`,
    and every configured secret value is hidden inside the strings that remain."""
    redacted: dict[str, Any] = redaction.redact_value(options, secret_names)
    return redacted
