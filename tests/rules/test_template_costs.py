"""What a template may cost and change while it renders, beyond what test_rules_templates bounds:
integers, text split into items, wordwrap, what mutations keep, CPU time, and the event data
that every render of a call shares."""

from __future__ import annotations

import time

import pytest

from bridge import template_limits
from bridge.events import Event
from bridge.rules.templates import TemplateError, batch_context, render_options

# A text of 67 million characters (the `~` doubling stays under the 100,000,000 bound).
BIG = "{% set ns = namespace(s='a ') %}{% for i in range(25) %}{% set ns.s = ns.s ~ ns.s %}"
BIG += "{% endfor %}"


def _event() -> Event:
    return Event(codename="c", name="N", raw={"tags": ["t"], "data": {"system": {"name": "N"}}})


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        # Squaring doubles the bits each step: 9 ** (2 ** 40) never ends, in memory or time.
        (
            "{% set ns = namespace(n=9) %}{% for i in range(40) %}{% set ns.n = ns.n * ns.n %}"
            "{% endfor %}{{ ns.n > 0 }}",
            "'*' would build an integer of more than 100000 bits",
        ),
        # 626 MB, 1.1 GB and 757 MB of Python objects before anything refused them.
        (BIG + "{{ ns.s.split() | length }}", "str.split: a text of more than 2,000,000"),
        (BIG + "{{ ns.s | list | length }}", "list: a text of more than 2,000,000"),
        (BIG + "{{ ns.s | join(',') | length }}", "join: a text of more than 2,000,000"),
        (BIG + "{{ ns.s | urlize | length }}", "urlize: a text of more than 2,000,000"),
        (BIG + "{{ ns.s | unique | list }}", "unique: a text of more than 2,000,000"),
        (BIG + "{{ ','.join(ns.s) | length }}", "str.join: a text of more than 2,000,000"),
        # 53 s for one word of a million characters; 1 GB for a long wrapstring.
        ("{{ ('a' * 1000000) | wordwrap(1) | length }}", "wordwrap: words too long to break"),
        (
            "{{ ('a' * 100000) | wordwrap(1, wrapstring='x' * 1000) | length }}",
            "wordwrap would build more than 100000000 characters",
        ),
        # A one-expression value no JSON encoder (nor str) can write.
        ("{{ 10**4300 * 10**4300 }}", "the template renders an integer of more than 4300"),
    ],
)
def test_what_a_template_builds_beyond_text_is_bounded(source: str, reason: str) -> None:
    with pytest.raises(TemplateError) as caught:
        render_options({"text": source}, batch_context([_event()]))
    assert str(caught.value).startswith(f"option 'text': {reason}")


def test_splitting_within_the_bounds_renders_as_jinja_renders_it() -> None:
    source = (
        BIG + "{{ ns.s.split(' ', 1) | length }}|{{ 'a b' | wordwrap(1) }}|{{ 'a b'.split() }}|"
        "{{ 'ab' | list }}|{{ ('x' * 300) | wordwrap(100) | length }}|{{ 6 * 7 }}"
    )
    rendered = render_options({"text": source}, batch_context([_event()]))
    assert rendered == {"text": "2|a\nb|['a', 'b']|['a', 'b']|302|42"}


def test_what_mutations_keep_counts_against_the_render(monkeypatch: pytest.MonkeyPatch) -> None:
    # A million appends of a 100,000-item list took 3 GB; here the bound is made small.
    monkeypatch.setattr(template_limits, "MAX_BUILT_CHARS", 1_000_000)
    source = (
        "{% set l = [] %}{% for i in range(1000) %}{% set _ = l.append(range(100) | list) %}"
        "{% endfor %}{{ l | length }}"
    )
    with pytest.raises(TemplateError) as caught:
        render_options({"text": source}, batch_context([_event()]))
    assert str(caught.value) == (
        "option 'text': the template would build more than 1000000 characters in all"
    )


def test_a_render_has_a_cpu_time_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    # Each step is within every other bound, and a million of them held the event loop for
    # minutes (a million upper-casings of a million characters).
    monkeypatch.setattr(template_limits, "MAX_RENDER_CPU_S", 0.3)
    source = (
        "{% set s = 'a' * 10000 %}{% for i in range(1000) %}{% for j in range(1000) %}"
        "{% if s.upper() %}{% endif %}{% endfor %}{% endfor %}done"
    )
    started = time.thread_time()
    with pytest.raises(TemplateError) as caught:
        render_options({"text": source}, batch_context([_event()]))
    assert str(caught.value) == (
        "option 'text': the template took more than 0.3 s of CPU time to render"
    )
    assert time.thread_time() - started < 1.5


def test_the_options_of_one_call_share_the_cpu_time_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(template_limits, "MAX_RENDER_CPU_S", 0.3)
    slow = "{% set s = 'a' * 10000 %}{% for i in range(20000) %}{{ s.upper()[:0] }}{% endfor %}"
    single = render_options({"a": slow}, batch_context([_event()]))  # well within 0.3 s alone
    assert single == {"a": ""}
    options = {f"o{n}": slow for n in range(40)}
    with pytest.raises(TemplateError, match=r"took more than 0\.3 s of CPU time"):
        render_options(options, batch_context([_event()]))


@pytest.mark.parametrize(
    ("source", "method"),
    [
        ("{% set _ = event.raw.tags.append('x') %}{{ event.raw.tags | join(',') }}", "list.append"),
        ("{% set _ = notification.update({'data': 'gone'}) %}{{ 1 }}", "dict.update"),
        ("{{ dict.update(event.raw, x=1) }}{{ event.raw.x }}", "dict.update"),
        ("{% set _ = event.update({'codename': 'x'}) %}{{ event.codename }}", "dict.update"),
        ("{% set _ = events.pop() %}{{ events | length }}", "list.pop"),
        ("{% set t = [event.raw.tags] %}{% set _ = t[0].clear() %}{{ 1 }}", "list.clear"),
        ("{% set ns = namespace(r=event.raw) %}{% set _ = ns.r.popitem() %}", "dict.popitem"),
        (
            "{% for e in events %}{% set _ = e.raw.data.system.setdefault('k', 1) %}{% endfor %}",
            "dict.setdefault",
        ),
    ],
)
def test_a_template_cannot_change_the_event_data_later_renders_read(
    source: str, method: str
) -> None:
    """The call's options, then each event's, and each parent `used_in` finds, render over the
    same event data: `event.raw.tags.append('x')` rendered 't,x', then 't,x,x', then 't,x,x,x'."""
    event = _event()
    with pytest.raises(TemplateError) as caught:
        render_options({"text": source, "then": "{{ event.raw | tojson }}"}, batch_context([event]))
    assert str(caught.value).startswith(f"option 'text': {method} would change the event data")
    assert event.raw == {"tags": ["t"], "data": {"system": {"name": "N"}}}


def test_what_a_template_builds_itself_it_may_change() -> None:
    source = (
        "{% set tags = event.raw.tags | list %}{% set _ = tags.append('x') %}"
        "{% set d = dict(event.raw) %}{% set _ = d.update({'extra': 1}) %}"
        "{% set ns = namespace(seen=[]) %}{% for e in events %}"
        "{% set _ = ns.seen.append(e.codename) %}{% endfor %}"
        "{{ tags | join(',') }} {{ d.extra }} {{ ns.seen }}"
    )
    event = _event()
    for _ in range(2):  # the same text each time: nothing of it stays behind
        assert render_options({"text": source}, batch_context([event])) == {"text": "t,x 1 ['c']"}
    assert event.raw == {"tags": ["t"], "data": {"system": {"name": "N"}}}


@pytest.mark.parametrize(
    "value",
    [
        "{{ 7*7 }}",
        "{% for x in range(10**9) %}x{% endfor %}",
        "{{ ''.__class__.__mro__ }}",
        "{# #}{{ event.raw }}",
        "${SECRET}",
    ],
)
def test_event_data_that_is_template_syntax_is_never_evaluated(value: str) -> None:
    event = Event(codename="c", name=value, raw={"data": {"system": {"name": value}}})
    rendered = render_options(
        {
            "a": "{{ event.name }}",
            "b": "x {{ event.raw.data.system.name }}",
            "c": ["{{ event.name | upper | lower }}"],
            "d": "{{ event.raw.data.system }}",
        },
        batch_context([event]),
    )
    assert rendered == {
        "a": value,
        "b": f"x {value}",
        "c": [value.upper().lower()],
        "d": {"name": value},
    }
