"""Bounds on what a template may build while it renders, so one option cannot take a worker's
memory (or stall its loop) for as long as it runs.

Jinja's sandbox bounds `range` and nothing else. A config author (or an admin uploading rules)
could write `{{ 'x' * 10**10 }}`, `{{ 9 ** 9 ** 9 }}`, `{{ 'a' | center(10**9) }}`,
`{{ '%0999999999d' % 1 }}`, `{{ '{:>999999999}'.format(1) }}`, a `replace` that multiplies the
text, a `~` or `+` doubled in a loop, or a loop that prints without end. Each is refused with a
SecurityError (a jinja2.TemplateError: the job dies with the reason) before the text is built:

- `*` builds at most MAX_REPEATED_ITEMS items and `**` at most MAX_POWER_BITS bits;
- a width, padding, precision or count (center, ljust, rjust, zfill, expandtabs, printf `%`,
  str.format, the `center`, `indent` and `format` filters, `lipsum`) is at most
  MAX_REPEATED_ITEMS, and `tojson`'s indent at most MAX_JSON_INDENT;
- text built by `+`, `~`, `replace` or `indent`, a template's whole output, and any value a
  filter, a str method, `%` or the output takes (as text: a list of a million references to one
  long string is a terabyte of text in 8 MB), is at most MAX_RENDERED_CHARS characters (a
  coalesced batch of 10,000 events, the most one call carries, is about 20 MB as JSON);
- what `*` and `+` build over one render, all together, is at most MAX_BUILT_CHARS (a loop
  appending a million-character product 100,000 times);
- `for` loops take at most MAX_LOOP_STEPS steps over one render, all loops together: three
  nested loops over a payload's list of 1,000 elements build nothing, yet are a billion steps
  (minutes of a worker's event loop) that the bounds above never see;
- `*` of two integers builds at most MAX_POWER_BITS bits, as `**` does (squaring in a loop
  doubles the bits each step: forty steps are 2**40 times the first number's size);
- a filter or str method that splits text into items (`list`, `sort`, `join`, `split`,
  `striptags`, `wordwrap`, ...) takes at most MAX_SPLIT_CHARS characters (a 67-million-character
  text split into words is 600 MB to 1 GB of Python objects), and `wordwrap` refuses what it
  would write past MAX_RENDERED_CHARS or break at quadratic cost (a word of a million characters
  at width 1 took 53 s);
- what `list.append`, `dict.update` and the other mutating methods keep counts against
  MAX_BUILT_CHARS too (a million appends of a 100,000-item list took 3 GB), and they may change
  only what the template built itself: the event data is shared by every render of a call (the
  call's options, then each event's, each parent of `used_in`), so a template changing it would
  change what the next render sees;
- one render_options call (or one render) takes at most MAX_RENDER_CPU_S of CPU time, checked
  at every loop step and every call: a million steps each upper-casing a million characters are
  each within the bounds above, and hold the worker's event loop for minutes.
"""

from __future__ import annotations

import functools
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from typing import Any

from jinja2 import filters, nodes, pass_environment, pass_eval_context, utils
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.nodes import Concat, EvalContext
from jinja2.runtime import LoopContext
from jinja2.sandbox import SandboxedEnvironment, modifies_known_mutable

MAX_REPEATED_ITEMS = 1_000_000
MAX_POWER_BITS = 100_000
MAX_RENDERED_CHARS = 100_000_000
MAX_JSON_INDENT = 100
# What `*` and `+` may build over one render, all products together.
MAX_BUILT_CHARS = 200_000_000
# The steps of every `for` loop of one render together: a loop over the 10,000 events of the
# largest coalesced call, with an inner loop over 50 fields each, is half of it.
MAX_LOOP_STEPS = 1_000_000
# Text a filter or method may split into items: at most a million words (or two million
# characters, one item each: 16 MB of references).
MAX_SPLIT_CHARS = 2 * MAX_REPEATED_ITEMS
# What textwrap copies to break long words (about the square of a word's length over the width):
# about half a second.
MAX_WRAP_WORK = 10_000_000_000
# CPU time of one render_options call: the largest honest renders (`events | tojson(indent=2)`
# over a call of 10,000 events) take 0.6 s.
MAX_RENDER_CPU_S = 5.0

# Filters that iterate their value into items: given a text, one item per character or word.
_SPLITTING_FILTERS = frozenset(
    {
        "batch", "dictsort", "groupby", "join", "list", "map", "max", "min", "reject",
        "rejectattr", "select", "selectattr", "slice", "sort", "striptags", "sum", "unique",
        "urlize", "wordcount", "wordwrap",
    }
)  # fmt: skip
# str methods that split their text: the parts are at most the separators found plus one.
_SPLITTING_METHODS = frozenset({"split", "rsplit", "splitlines"})

# str methods whose whole-number arguments are a width: their result is at least that long.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs"})
# One printf conversion: flags, then a width and a precision, either of which may be `*`.
_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")
_DIGITS = re.compile(r"\d+")


def _refuse(message: str) -> SecurityError:
    return SecurityError(message)


def _wide(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > MAX_REPEATED_ITEMS


def check_widths(values: Iterable[object], what: str) -> None:
    if any(_wide(value) for value in values):
        raise _refuse(f"{what}: a width or count past {MAX_REPEATED_ITEMS}")


def check_length(length: int, what: str) -> None:
    if length > MAX_RENDERED_CHARS:
        raise _refuse(f"{what} would build more than {MAX_RENDERED_CHARS} characters")


def _past_bound(digits: str) -> bool:
    # Compared as text first: int() of thousands of digits is itself slow (and past 4300 fails).
    return len(digits) > len(str(MAX_REPEATED_ITEMS)) or int(digits) > MAX_REPEATED_ITEMS


def check_printf(template: str, values: object) -> None:
    """`'%0999999999d' % 1`, `'%*d' % (10**9, 1)`: the padding is built before anything else."""
    starred = False
    for match in _PRINTF.finditer(template):
        for part in match.groups():
            if part == "*":
                starred = True
            elif part is not None and _past_bound(part):
                raise _refuse(f"'%': a width or precision past {MAX_REPEATED_ITEMS}")
    if starred:
        given = values if isinstance(values, tuple) else (values,)
        check_widths(given, "'%'")


def check_format(template: str, args: Iterable[object]) -> None:
    """`'{:>999999999}'.format(1)`; a nested `{:{w}}` takes its width from the arguments."""
    try:
        fields = list(string.Formatter().parse(template))
    except ValueError:
        return  # str.format raises the same error itself
    for _text, _name, spec, _conversion in fields:
        if not spec:
            continue
        if "{" in spec:
            check_widths(args, "str.format")
        if any(_past_bound(digits) for digits in _DIGITS.findall(spec)):
            raise _refuse(f"str.format: a width or precision past {MAX_REPEATED_ITEMS}")


def check_replace(text: str, old: str, new: str, count: object = None) -> None:
    found = len(text) + 1 if old == "" else text.count(old)
    if isinstance(count, int) and not isinstance(count, bool) and count >= 0:
        found = min(found, count)
    check_length(len(text) + found * (len(new) - len(old)), "replace")


def text_size(value: Any, budget: int = MAX_RENDERED_CHARS) -> int:
    """About how long `value` is as text, counted up to just past `budget`.

    A list can hold a million references to one string of a million characters (8 MB of
    memory), whose text is a terabyte: str(), join, tojson or storing it as JSON would build
    that. Every container counts, so the walk ends within `budget` steps (cycles included)."""
    total = 0
    stack = [value]
    while stack and total <= budget:
        item = stack.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + 2 * len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple | set | frozenset):
            total += 2 + len(item)
            stack.extend(item)
        else:
            total += 24  # numbers (`**` bounds their digits), None, Undefined, objects
    return total


def check_text_size(values: Iterable[Any], what: str) -> None:
    for value in values:
        if not isinstance(value, str) and text_size(value) > MAX_RENDERED_CHARS:
            raise _refuse(f"{what}: a value of more than {MAX_RENDERED_CHARS} characters as text")


def bounded_join(parts: Iterable[Any]) -> str:
    """`~` (and a template's output): stops once the text passes MAX_RENDERED_CHARS. None joins
    as nothing, as a text template prints it (`'item-' ~ event.codename` is never `item-None`)."""
    texts: list[str] = []
    length = 0
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, str):
            check_text_size((part,), "the template")
        text = str(part)
        length += len(text)
        check_length(length, "the template")
        texts.append(text)
    return "".join(texts)


def check_split(value: object, what: str) -> None:
    if isinstance(value, str | bytes) and len(value) > MAX_SPLIT_CHARS:
        raise _refuse(
            f"{what}: a text of more than {MAX_SPLIT_CHARS:,} characters to split into items"
        )


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if name in _SPLITTING_METHODS and len(text) > MAX_SPLIT_CHARS:
        limit = kwargs.get("maxsplit", args[1] if len(args) > 1 else -1)
        bounded = isinstance(limit, int) and 0 <= limit <= MAX_REPEATED_ITEMS
        if name == "splitlines" or not bounded:
            check_split(text, f"str.{name}")
    elif name == "join" and args:
        check_split(args[0], "str.join")
    elif name == "encode":
        check_length(4 * len(text), "str.encode")  # UTF-32: four bytes a character


_DEADLINE: ContextVar[float | None] = ContextVar("bridge_template_deadline", default=None)


class time_budget:  # a context manager, named as the function it could have been
    """Everything rendered inside shares MAX_RENDER_CPU_S of this thread's CPU time (a call's
    options together); nested budgets keep the outer one."""

    __slots__ = ("_token",)

    def __enter__(self) -> None:
        self._token = (
            None
            if _DEADLINE.get() is not None
            else _DEADLINE.set(time.thread_time() + MAX_RENDER_CPU_S)
        )

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _DEADLINE.reset(self._token)


def check_time(context: Any = None) -> None:
    """Past the budget: refused. CPU time of this thread, so a busy machine or another thread
    does not fail a render that would fit; outside time_budget, each render has its own."""
    deadline = _DEADLINE.get()
    if deadline is None:
        if context is None:
            return
        deadline = getattr(context, "_bridge_deadline", None)
        if deadline is None:
            context._bridge_deadline = time.thread_time() + MAX_RENDER_CPU_S
            return
    if time.thread_time() > deadline:
        raise _refuse(f"the template took more than {MAX_RENDER_CPU_S:g} s of CPU time to render")


def _sized(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """A filter that refuses arguments too large as text (most filters call str() first)."""

    @functools.wraps(function)  # keeps jinja_pass_arg: the context comes first when it is set
    def filtered(*args: Any, **kwargs: Any) -> Any:
        check_time()
        given = args[1:] if getattr(function, "jinja_pass_arg", None) is not None else args
        check_text_size((*given, *kwargs.values()), name)
        if given and name in _SPLITTING_FILTERS:
            check_split(given[0], name)
        return function(*args, **kwargs)

    return filtered


class BoundedSandbox(SandboxedEnvironment):
    """The sandbox with the bounds above on operators, str methods, filters and output."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.filters.update(_BOUNDED_FILTERS)
        self.filters = {name: _sized(name, f) for name, f in self.filters.items()}
        self.globals["lipsum"] = _lipsum
        self.globals["bounded_join"] = bounded_join

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        check_time(context)
        if operator == "*":
            if (
                _whole(left)
                and _whole(right)
                and left.bit_length() + right.bit_length() > MAX_POWER_BITS
            ):
                raise _refuse(f"'*' would build an integer of more than {MAX_POWER_BITS} bits")
            for sequence, count in ((left, right), (right, left)):
                if isinstance(sequence, str | list | tuple) and isinstance(count, int):
                    if len(sequence) * count > MAX_REPEATED_ITEMS:
                        raise _refuse(f"'*' would build more than {MAX_REPEATED_ITEMS} items")
                    _charge(context, len(sequence) * count)
        elif operator == "**":
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and left.bit_length() * right > MAX_POWER_BITS
            ):
                raise _refuse(f"'**' would build an integer of more than {MAX_POWER_BITS} bits")
        elif operator == "+":
            if isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
                check_length(len(left) + len(right), "'+'")
                _charge(context, len(left) + len(right))
        elif isinstance(left, str):  # '%'
            check_text_size((right,), "'%'")
            check_printf(left, right)
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        check_time(__context)
        if isinstance(__obj, LoopContext) and args:  # `loop(children)`: a recursive loop's level
            args = (bounded_steps(__context, args[0]), *args[1:])
        owner = getattr(__obj, "__self__", None)
        mutated = _mutated(__obj, owner, args)
        if mutated is not None:
            _check_mutation(__context, mutated, getattr(__obj, "__name__", ""), args, kwargs)
        if isinstance(owner, str):
            check_text_size((*args, *kwargs.values()), f"str.{getattr(__obj, '__name__', '')}")
            name = getattr(__obj, "__name__", "")
            _check_str_method(owner, name, args, kwargs)
            if name in _WIDTH_METHODS:
                check_widths((*args, *kwargs.values()), f"str.{name}")
            elif name == "replace" and len(args) >= 2 and all(isinstance(a, str) for a in args[:2]):
                check_replace(owner, args[0], args[1], args[2] if len(args) > 2 else None)
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        # The sandbox swaps `'...'.format` for its own formatter when the attribute is read,
        # so the call above never sees the str: the check wraps the swapped-in function.
        wrapped = super().wrap_str_format(value)
        if wrapped is None:
            return None
        template = value.__self__

        def checked(*args: Any, **kwargs: Any) -> str:
            check_text_size((*args, *kwargs.values()), "str.format")
            check_format(template, (*args, *kwargs.values()))
            return wrapped(*args, **kwargs)

        return checked


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _mutated(function: Any, owner: Any, args: tuple[Any, ...]) -> Any:
    """The list, dict or set `function` would change: its own (`l.append`), or the first
    argument of one reached through its type (`dict.update(d, ...)`, `dict` being a global)."""
    name = getattr(function, "__name__", "")
    if owner is not None and not isinstance(owner, type):
        return owner if modifies_known_mutable(owner, name) else None
    objclass = getattr(function, "__objclass__", None)
    if isinstance(objclass, type) and args and isinstance(args[0], objclass):
        return args[0] if modifies_known_mutable(args[0], name) else None
    return None


def _check_mutation(
    context: Any, target: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    if id(target) in _event_data(context):
        kind = type(target).__name__
        raise _refuse(
            f"{kind}.{name} would change the event data, which every later render of the call "
            f"reads; change a copy the template builds (`x | list`, `dict(x)`) instead"
        )
    _charge(context, text_size((*args, *kwargs.values()), MAX_BUILT_CHARS))


def _event_data(context: Any) -> set[int]:
    """The ids of every list, dict and set the render was given (`event`, `events`,
    `notification` and all they hold), found on the first call that would change one."""
    found: set[int] | None = getattr(context, "_bridge_event_data", None)
    if found is None:
        found = set()
        stack = [v for v in context.parent.values() if isinstance(v, list | dict | set | tuple)]
        while stack:
            item = stack.pop()
            if id(item) in found:
                continue
            found.add(id(item))
            values = item.values() if isinstance(item, dict) else item
            stack.extend(v for v in values if isinstance(v, list | dict | set | tuple))
        context._bridge_event_data = found
    return found


def _charge(context: Any, size: int) -> None:
    """Count what one render builds with `*` and `+`: each product is bounded, but a loop of
    100,000 steps each building a million characters would still take 100 GB."""
    spent = getattr(context, "_bridge_built", 0) + size
    if spent > MAX_BUILT_CHARS:
        raise _refuse(f"the template would build more than {MAX_BUILT_CHARS} characters in all")
    context._bridge_built = spent


def _concat_through_bounded_join(generator: CodeGenerator, node: Concat, frame: Frame) -> None:
    # `~` compiles to a call of the runtime's str_join; this calls bounded_join (a global of
    # every template of the environment) instead.
    generator.write("environment.globals['bounded_join']((")
    for argument in node.nodes:
        generator.visit(argument, frame)
        generator.write(", ")
    generator.write("))")


def bounded_steps(context: Any, iterable: Iterable[Any]) -> Iterator[Any]:
    """A `for` loop's iterable, each item counted against the render's MAX_LOOP_STEPS (one
    counter for every loop of the render, so nested loops multiply into it)."""
    counter: list[int] | None = getattr(context, "_bridge_steps", None)
    if counter is None:
        counter = context._bridge_steps = [0]
    for item in iterable:
        counter[0] += 1
        if not counter[0] & 63:
            check_time(context)
        if counter[0] > MAX_LOOP_STEPS:
            raise _refuse(f"the template's loops would take more than {MAX_LOOP_STEPS:,} steps")
        yield item


def _loops_through_bounded_steps(template: nodes.Template) -> None:
    """Every loop's iterable becomes `bounded_steps(context, iterable)` before the template is
    compiled, so every loop is counted, in macros too (the levels of a recursive loop, each
    `loop(children)`, are counted where the sandbox calls `loop`). Jinja allows no
    node types of our own: the call is made of its nodes, the function imported by name as
    `{% from ... import %}` would (the compiler imports such names before anything else)."""
    for loop in template.find_all(nodes.For):
        iterable = loop.iter
        if _is_bounded(iterable):
            continue  # a tree compiled twice keeps one wrapper
        loop.iter = nodes.Call(
            nodes.ImportedName(_BOUNDED_STEPS),
            [nodes.ContextReference(), iterable],
            [],
            None,
            None,
            lineno=iterable.lineno,
        )


_BOUNDED_STEPS = f"{__name__}.bounded_steps"


def _is_bounded(iterable: nodes.Node) -> bool:
    return (
        isinstance(iterable, nodes.Call)
        and isinstance(iterable.node, nodes.ImportedName)
        and iterable.node.importname == _BOUNDED_STEPS
    )


class BoundedCodeGenerator(CodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _loops_through_bounded_steps(node)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        _concat_through_bounded_join(self, node, frame)


class BoundedNativeCodeGenerator(NativeCodeGenerator):
    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        _loops_through_bounded_steps(node)
        super().visit_Template(node, frame)

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        _concat_through_bounded_join(self, node, frame)


def _center(value: str, width: int = 80) -> str:
    check_widths((width,), "center")
    return filters.do_center(value, width)


def _indent(s: str, width: int | str = 4, first: bool = False, blank: bool = False) -> str:
    text = str(s)
    pad = len(width) if isinstance(width, str) else width
    check_widths((pad,), "indent")
    check_length(len(text) + pad * (text.count("\n") + 1), "indent")
    return filters.do_indent(s, width, first, blank)


def _format(value: str, *args: Any, **kwargs: Any) -> str:
    check_printf(str(value), tuple(args) if args else kwargs)
    return filters.do_format(value, *args, **kwargs)


@pass_eval_context
def _replace(eval_ctx: EvalContext, s: str, old: str, new: str, count: int | None = None) -> str:
    check_replace(str(s), str(old), str(new), count)
    return filters.do_replace(eval_ctx, s, old, new, count)


@pass_eval_context
def _tojson(eval_ctx: EvalContext, value: Any, indent: int | None = None) -> Any:
    if isinstance(indent, int) and indent > MAX_JSON_INDENT:
        raise _refuse(f"tojson: an indent past {MAX_JSON_INDENT}")
    return filters.do_tojson(eval_ctx, value, indent)


@pass_environment
def _wordwrap(
    environment: Any,
    s: str,
    width: int = 79,
    break_long_words: bool = True,
    wrapstring: str | None = None,
    break_on_hyphens: bool = True,
) -> str:
    """Each paragraph's greedy lines hold, two by two, at least `width` characters, so the lines
    are at most 2 * len / width plus two a paragraph; a long word is cut one line at a time,
    each cut copying the rest of it."""
    text = str(s)
    wrap = environment.newline_sequence if wrapstring is None else str(wrapstring)
    if isinstance(width, int) and width > 0:
        lines = 2 * len(text) // width + 2 * (text.count("\n") + 1)
        check_length(len(text) + lines * len(wrap), "wordwrap")
        if break_long_words:
            work = sum(len(word) ** 2 // width for word in text.split() if len(word) > width)
            if work > MAX_WRAP_WORK:
                raise _refuse(f"wordwrap: words too long to break at width {width}")
    return filters.do_wordwrap(
        environment, s, width, break_long_words, wrapstring, break_on_hyphens
    )


def _lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    check_widths((n * max if isinstance(n, int) and isinstance(max, int) else 0,), "lipsum")
    return str(utils.generate_lorem_ipsum(n, html, min, max))


_BOUNDED_FILTERS: dict[str, Callable[..., Any]] = {
    "center": _center,
    "indent": _indent,
    "format": _format,
    "replace": _replace,
    "tojson": _tojson,
    "wordwrap": _wordwrap,
}
