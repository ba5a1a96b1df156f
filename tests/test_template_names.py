"""What a template refers to: unknown names, Event fields, filters and tests are found before
anything renders; what is bound in the template, raw paths and globals are not."""

from __future__ import annotations

import jinja2
import pytest

from bridge.events import Event
from bridge.template_names import CONTEXT_NAMES, check_names
from bridge.templates import batch_context, check_template

NOT_A_FIELD = "template refers to event.{}, which is not an Event field"
# The same, naming the event as the template wrote it.
NOT_A_FIELD_OF = "template refers to {}.{}, which is not an Event field"
SEES = "(templates see event, events, notification)"


@pytest.mark.parametrize(
    ("template", "problems"),
    [
        ("{{ event.nam }}", [NOT_A_FIELD.format("nam") + " (did you mean 'name'?)"]),
        (
            "{{ event['langauge'] }}",
            [NOT_A_FIELD.format("langauge") + " (did you mean 'language'?)"],
        ),
        (
            "{{ events[0].codenam }}",
            [NOT_A_FIELD_OF.format("events[0]", "codenam") + " (did you mean 'codename'?)"],
        ),
        ("{{ events[-1].zzz }}", [NOT_A_FIELD_OF.format("events[-1]", "zzz")]),
        ("{{ (events | last).nme }}", [NOT_A_FIELD.format("nme") + " (did you mean 'name'?)"]),
        (
            "{{ (events | reverse | first).typ }}",
            [NOT_A_FIELD.format("typ") + " (did you mean 'type'?)"],
        ),
        (
            "{% if event.workflow_stpe %}x{% endif %}",
            [NOT_A_FIELD.format("workflow_stpe") + " (did you mean 'workflow_step'?)"],
        ),
        (
            "{% for e in events %}{{ e.nam }}{% endfor %}",
            [NOT_A_FIELD_OF.format("e", "nam") + " (did you mean 'name'?)"],
        ),
        (
            "{% for event in events | sort(attribute='name') %}{{ event.langage }}{% endfor %}",
            [NOT_A_FIELD.format("langage") + " (did you mean 'language'?)"],
        ),
        (
            "{% set first = events[0] %}{{ first.codenme }}",
            [NOT_A_FIELD_OF.format("first", "codenme") + " (did you mean 'codename'?)"],
        ),
        (
            "{{ evnt.name }}",
            ["template refers to evnt, which is not defined (did you mean 'event'?)"],
        ),
        (
            "{{ rnage(3) | list }}",
            ["template refers to rnage, which is not defined (did you mean 'range'?)"],
        ),
        ("{{ item }}", [f"template refers to item, which is not defined {SEES}"]),
        (
            "{% for e in events %}{{ loop.index }}{% endfor %}{{ loop.index }}",
            [f"template refers to loop, which is not defined {SEES}"],
        ),
        (
            "{{ event.name | uppper }}",
            ["template uses the filter uppper, which does not exist (did you mean 'upper'?)"],
        ),
        (
            "{% if event.name %}{{ event.name | tittle }}{% endif %}",
            ["template uses the filter tittle, which does not exist (did you mean 'title'?)"],
        ),
        (
            "{{ 'y' if event.name is definedd }}",
            ["template uses the test definedd, which does not exist (did you mean 'defined'?)"],
        ),
        (
            "{{ evnt.nam | uppper }} {{ event.nam }} {{ event.nam }}",
            [
                "template uses the filter uppper, which does not exist (did you mean 'upper'?)",
                "template refers to evnt, which is not defined (did you mean 'event'?)",
                NOT_A_FIELD.format("nam") + " (did you mean 'name'?)",
            ],
        ),
        ("{{ event.name }", ["template syntax error: unexpected '}' (template line 1)"]),
    ],
)
def test_what_cannot_exist_is_found(template: str, problems: list[str]) -> None:
    assert list(check_template(template).problems) == problems


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.name }} {{ event.previous_workflow_step }} {{ event.webhook }}",
        "{{ event.raw.data.system.anything }} {{ event.raw['message'].whatever }}",
        "{% for e in events %}{{ e.name }} {{ loop.index }}{% endfor %}",
        "{% for x in event.raw.items %}{{ x.whatever_it_holds }}{% endfor %}",
        "{{ notification.message.action }} {{ events | map(attribute='codename') | list }}",
        "{% set event = events[0].raw %}{{ event.anything }}",
        "{% if event.name %}{% set z = 1 %}{% else %}{% set z = 2 %}{% endif %}{{ z }}",
        "{% macro m(e) %}{{ e.nam }}{{ caller() }}{% endmacro %}{% call m(event) %}!{% endcall %}",
        "{% set ns = namespace(n=0) %}{% for e in events %}{% set ns.n = ns.n + 1 %}{% endfor %}",
        "{% with first = events | first %}{{ first.codename }}{% endwith %}",
        "{{ range(2) | join(',') }} {{ dict(a=1).a }} {{ event.name | default('') | upper }}",
    ],
)
def test_bound_names_raw_paths_and_globals_are_accepted(template: str) -> None:
    assert check_template(template).problems == ()


def test_reads_names_the_context_names_the_template_looks_up() -> None:
    assert check_template("{{ event.name }} {{ notification }}").reads == {"event", "notification"}
    assert check_template("{% for event in events %}{{ event.name }}{% endfor %}").reads == {
        "events"
    }
    assert check_template("{% set event = 1 %}{{ event }}").reads == frozenset()


def test_the_environment_decides_which_filters_and_tests_exist() -> None:
    environment = jinja2.Environment()
    environment.filters["slug"] = str.lower
    assert check_names("{{ event.name | slug }}", environment).problems == ()
    assert check_names("{{ event.name | slugg }}", environment).problems == (
        "template uses the filter slugg, which does not exist (did you mean 'slug'?)",
    )


def test_the_context_names_are_what_batch_context_gives() -> None:
    assert tuple(batch_context([Event()])) == CONTEXT_NAMES
