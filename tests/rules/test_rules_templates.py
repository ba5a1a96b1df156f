"""Templates: sandboxed, strict about undefined names, native values for single expressions."""

from __future__ import annotations

import pytest

from bridge.events import Event
from bridge.rules.templates import (
    TemplateError,
    batch_context,
    check_template,
    compile_template,
    redact,
    render_options,
)

EVENTS = [
    Event(codename="one", name="First", type="article", raw={"n": 1}),
    Event(codename="two", name="2024", type="page", raw={"n": 2}),
]


def test_batch_context_holds_the_last_event_every_event_and_the_notification() -> None:
    context = batch_context(EVENTS)
    assert context["event"]["codename"] == "two"
    assert context["event"]["raw"] == {"n": 2}
    assert [e["codename"] for e in context["events"]] == ["one", "two"]
    assert context["notification"] == {"n": 2}
    assert set(context["event"]) == {*EVENTS[0].fields(), "raw"}


def test_render_options_renders_strings_recursively_and_leaves_the_rest() -> None:
    options = {
        "text": "Published {{ event.name }} ({{ events | length }})",
        "headers": {"X-Item": "{{ event.codename }}", "X-Fixed": "plain"},
        "list": ["{{ event.type }}", 3, None, {"deep": "{{ notification.n }}"}],
        "count": 5,
        "flag": True,
    }
    assert render_options(options, batch_context(EVENTS)) == {
        "text": "Published 2024 (2)",
        "headers": {"X-Item": "two", "X-Fixed": "plain"},
        "list": ["page", 3, None, {"deep": 2}],
        "count": 5,
        "flag": True,
    }


def test_a_single_expression_renders_to_its_native_value() -> None:
    context = batch_context(EVENTS)
    rendered = render_options(
        {
            "keys": "{{ events | map(attribute='codename') | list }}",
            "count": "{{ events | length }}",
            "name": "{{ event.name }}",  # text that looks like a number stays text
            "mixed": "n={{ events | length }}",
            "spaced": " {{ events | length }}",
        },
        context,
    )
    assert rendered == {
        "keys": ["one", "two"],
        "count": 2,
        "name": "2024",
        "mixed": "n=2",
        "spaced": " 2",
    }


def test_a_null_prints_as_nothing_in_text_and_stays_null_as_a_single_expression() -> None:
    # A legacy workflow event has no codename: a purge key `item-{{ event.codename }}` was
    # `item-None`, and a body's text held "None".
    context = batch_context([Event(codename=None, name="Legacy", format="legacy")])
    rendered = render_options(
        {
            "key": "item-{{ event.codename }}",
            "joined": "{{ 'item-' ~ event.codename }}",
            "looped": "{% for e in events %}[{{ e.codename }}]{% endfor %}",
            "json": {
                "codename": "{{ event.codename }}",
                "all": "{{ events | map(attribute='codename') | list }}",
            },
        },
        context,
    )
    assert rendered == {
        "key": "item-",
        "joined": "item-",
        "looped": "[]",
        "json": {"codename": None, "all": [None]},  # JSON null in a body, not "None"
    }
    with pytest.raises(TemplateError, match="'nothing' is undefined"):
        render_options({"key": "item-{{ nothing }}"}, context)
    with pytest.raises(TemplateError, match="'nothing' is undefined"):
        render_options({"key": "{{ event.codename ~ nothing }}"}, context)


def test_statements_and_filters_work() -> None:
    text = "{% for e in events %}{{ e.codename | upper }}{{ ',' if not loop.last }}{% endfor %}"
    assert render_options({"t": text}, batch_context(EVENTS)) == {"t": "ONE,TWO"}


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__ }}",
        "{{ ''.__class__.__mro__ }}",
        "x {{ event.__class__ }}",
        "{{ events.__len__() }}",
        "{{ ().__class__.__base__.__subclasses__() }}",
    ],
)
def test_the_sandbox_blocks_attribute_access(source: str) -> None:
    with pytest.raises(TemplateError, match="option 'text': access to attribute '__"):
        render_options({"text": source}, batch_context(EVENTS))


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ nope }}", "option 'headers.X': 'nope' is undefined"),
        ("{{ event.nope }}", "option 'headers.X': 'dict object' has no attribute 'nope'"),
        ("a {{ event.nope }}", "option 'headers.X': 'dict object' has no attribute 'nope'"),
    ],
)
def test_undefined_names_are_errors_naming_the_option(source: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_options({"headers": {"X": source}}, batch_context(EVENTS))
    assert str(caught.value) == reason


def test_errors_inside_lists_name_the_index() -> None:
    with pytest.raises(TemplateError, match=r"option 'keys\[1\]': 'missing' is undefined"):
        render_options({"keys": ["ok", "{{ missing }}"]}, batch_context(EVENTS))


def test_syntax_errors() -> None:
    assert check_template("{{ event.name }}").problems == ()
    assert check_template("{{ event.name }").problems == (
        "template syntax error: unexpected '}' (template line 1)",
    )


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 1 / 0 }}", "option 'text': ZeroDivisionError: division by zero"),
        ("{{ event.name + 1 }}", "option 'text': TypeError: can only concatenate str"),
        ("{{ range(10**9) | list }}", "option 'text': OverflowError: Range too big"),
        ("{{ 'x' * 10**9 }}", "option 'text': '*' would build more than 1000000 items"),
        ("{{ [0] * 10**7 }}", "option 'text': '*' would build more than 1000000 items"),
        ("{{ 2 ** 200000 }}", "option 'text': '**' would build an integer of more than"),
        (
            "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}",
            "option 'text': template nests or recurses too deeply for the template engine",
        ),
    ],
)
def test_what_an_expression_raises_is_a_template_error(source: str, reason: str) -> None:
    """Deterministic for the same events: the call fails as a template error (never retried
    into the same failure as if the target had failed), and nothing takes the process down."""
    with pytest.raises(TemplateError) as caught:
        render_options({"text": source}, batch_context(EVENTS))
    assert str(caught.value).startswith(reason)


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("{{ 'a' | center(10**9) }}", "center: a width or count past 1000000"),
        ("{{ 'a'.ljust(10**9) }}", "str.ljust: a width or count past 1000000"),
        ("{{ 'a'.zfill(10**9) }}", "str.zfill: a width or count past 1000000"),
        ("{{ 'a' | indent(10**9) }}", "indent: a width or count past 1000000"),
        ("{{ '%0999999999d' % 1 }}", "'%': a width or precision past 1000000"),
        ("{{ '%*d' % (10**9, 1) }}", "'%': a width or count past 1000000"),
        ("{{ '%.*f' | format(10**9, 1.0) }}", "'%': a width or count past 1000000"),
        ("{{ '{:>1000000000}'.format(1) }}", "str.format: a width or precision past 1000000"),
        ("{{ '{:>{w}}'.format(1, w=10**9) }}", "str.format: a width or count past 1000000"),
        ("{{ dict(a=1) | tojson(indent=10**9) }}", "tojson: an indent past 100"),
        ("{{ lipsum(10**6) }}", "lipsum: a width or count past 1000000"),
        (
            "{{ 'a' | replace('', 'b' * 10000) | replace('', 'c' * 20000) }}",
            "replace would build more than 100000000 characters",
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
            "the template would build more than 100000000 characters",
        ),
        (
            "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
            "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s | length }}",
            "'+' would build more than 100000000 characters",
        ),
        (
            "{% set x = 'a' * 1000000 %}{% for i in range(100000) %}{{ x }}{% endfor %}",
            "the template would build more than 100000000 characters",
        ),
        # A list of a million references to one string of a million characters is 8 MB of
        # memory and a terabyte of text: storing, joining or printing it would build that.
        (
            "{{ ['x' * 1000000] * 1000000 }}",
            "the template: a value of more than 100000000 characters as text",
        ),
        (
            "{{ (['x' * 1000000] * 1000000) | join }}",
            "join: a value of more than 100000000 characters as text",
        ),
        (
            "{{ ','.join(['x' * 1000000] * 1000000) }}",
            "str.join: a value of more than 100000000 characters as text",
        ),
        (
            "{{ '%s' % ((['x' * 1000000] * 1000000),) }}",
            "'%': a value of more than 100000000 characters as text",
        ),
        (
            "{% set l = [] %}{% for i in range(100000) %}{% set _ = l.append('x' * 1000000) %}"
            "{% endfor %}{{ l | length }}",
            "the template would build more than 200000000 characters in all",
        ),
    ],
)
def test_text_a_template_builds_is_bounded_before_it_is_built(source: str, reason: str) -> None:
    # Each of these took a worker's memory (gigabytes) or its loop for minutes: the sandbox
    # bounded only range, '*' and '**'.
    with pytest.raises(TemplateError) as caught:
        render_options({"text": source}, batch_context(EVENTS))
    assert str(caught.value) == f"option 'text': {reason}"


def test_widths_replacements_and_joins_of_ordinary_size_still_render() -> None:
    source = (
        "{{ '{:>4}'.format(1) }}|{{ 'a' | center(5) }}|{{ 'ab' | replace('a', 'x') }}|"
        "{{ '%05d' % 3 }}|{{ '%-3s' | format('a') }}|{{ 'a' ~ 'b' }}|{{ 'x' | indent(2) }}|"
        "{{ [1] | tojson(indent=2) }}|{{ 'a' + 'b' }}|{{ 'a'.rjust(3, '.') }}"
    )
    assert render_options({"text": source}, batch_context(EVENTS)) == {
        "text": "   1|  a  |xb|00003|a  |ab|x|[\n  1\n]|ab|..a"
    }


NESTED = "{% for a in events %}{% for b in events %}{% for c in events %}{% endfor %}{% endfor %}"


@pytest.mark.parametrize(
    "source",
    [
        NESTED + "{% endfor %}",  # 200 events: 8 million steps that build nothing
        "{% for a in range(1000) %}{% for b in range(1000) %}{{ '' }}{% endfor %}{% endfor %}x",
        "{% macro m() %}{% for b in events %}{% endfor %}{% endmacro %}"
        "{% for a in events %}{% for c in events %}{{ m() }}{% endfor %}{% endfor %}",
        "{% set s %}" + NESTED + "{% endfor %}{% endset %}{{ s }}",
        "{% for a in events if a %}{% for b in events %}{% for c in events %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "{% for e in events recursive %}{% if loop.depth < 4 %}{{ loop(events) }}{% endif %}"
        "{% endfor %}",
    ],
)
def test_loops_have_one_step_budget_for_the_whole_render(source: str) -> None:
    events = [Event(codename=f"e{n}") for n in range(200)]
    with pytest.raises(TemplateError) as caught:
        render_options({"text": source}, batch_context(events))
    assert str(caught.value) == (
        "option 'text': the template's loops would take more than 1,000,000 steps"
    )


def test_loops_within_the_budget_render_as_jinja_renders_them() -> None:
    events = [Event(codename=f"e{n}", name=f"E{n}") for n in range(10_000)]  # the largest call
    source = (
        "{% for e in events %}{% if loop.last %}{{ loop.length }} {{ e.codename }}{% endif %}"
        "{% endfor %}|{% for e in [] %}x{% else %}none{% endfor %}|"
        "{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}|"
        "{% for e in events[:3] recursive %}{{ e.name }}{% endfor %}|"
        "{% for n in range(5) if n is odd %}{{ n }}{% endfor %}"
    )
    options = {"text": source, "list": "{{ events | length }}"}
    rendered = render_options(options, batch_context(events))
    assert rendered == {"text": "10000 e9999|none|a=1|E0E1E2|13", "list": 10_000}
    assert not check_template(source).problems


def test_small_products_and_powers_still_render() -> None:
    rendered = render_options(
        {"a": "{{ 'ab' * 3 }}", "b": "{{ [1] * 2 }}", "c": "{{ 2 ** 10 }}", "d": "{{ 2 ** -1 }}"},
        batch_context(EVENTS),
    )
    assert rendered == {"a": "ababab", "b": [1, 1], "c": 1024, "d": 0.5}


@pytest.mark.parametrize(
    "source",
    [
        "{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}",
        "{{ event" + "|upper" * 5000 + " }}",
        "{% if x %}" * 2000 + "{% endif %}" * 2000,
        "{{ events[0]" + "[0]" * 3000 + " }}",
    ],
)
def test_a_template_nested_past_the_engine_is_a_load_problem(source: str) -> None:
    assert check_template(source).problems == (
        "template nests or recurses too deeply for the template engine",
    )


def test_templates_are_compiled_once() -> None:
    source = "{{ event.codename }}-cached"
    assert compile_template(source) is compile_template(source)


def test_redact_hides_secret_options_and_credential_names_at_any_depth() -> None:
    options = {
        "token": "xoxb-1",
        "api_key": "k",
        "password": "p",
        "webhook_secret": "s",
        "channel": "#c",
        "keys": ["surrogate-key"],
        "headers": {"Authorization": "Bearer x", "Accept": "json"},
        "empty_token": "",
        "missing_key": None,
    }
    assert redact(options, {"channel"}) == {
        "token": "***",
        "api_key": "***",
        "password": "***",
        "webhook_secret": "***",
        "channel": "***",
        "keys": ["surrogate-key"],
        "headers": {"Authorization": "***", "Accept": "json"},
        "empty_token": "",
        "missing_key": None,
    }
    assert options["token"] == "xoxb-1"  # a copy, not in place
