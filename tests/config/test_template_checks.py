# ruff: noqa: E501  (the table holds exact messages, one per line)
"""One fixture per template error (tests/fixtures/config/templates), each with its exact message;
`event` in a debounced call a warning; and what the checks accept: `event` in an option rendered
per event, or with no debounce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bridge.actions.base import Action, ActionOptions
from bridge.config import ConfigError, load_config, parse_config

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config" / "templates"
LAST_ONLY = "and its calls carry several events, of which 'event' holds only the last: use 'events' (events[-1] for the last one, or a for loop)"

EXPECTED: list[str] = [
    "event_field.yaml:14:22: rules[2].do[0].with.text: action 'notify-team' option 'text': template refers to event.nam, which is not an Event field (did you mean 'name'?)",
    "loop_field.yaml:7:11: actions.notify-team.text: action 'notify-team' option 'text': template refers to e.codenam, which is not an Event field (did you mean 'codename'?)",
    "\n".join(
        [
            "several_template_errors.yaml:11:17: rules[0].do[0].with.text: action 'rebuild' option 'text': template uses the filter uppper, which does not exist (did you mean 'upper'?)",
            "several_template_errors.yaml:11:17: rules[0].do[0].with.text: action 'rebuild' option 'text': template refers to evnt, which is not defined (did you mean 'event'?)",
            "several_template_errors.yaml:11:17: rules[0].do[0].with.text: action 'rebuild' option 'text': template refers to event.nam, which is not an Event field (did you mean 'name'?)",
            "several_template_errors.yaml:12:20: rules[0].do[0].with.channel: action 'rebuild' option 'channel': template syntax error: unexpected '}' (template line 1)",
        ]
    ),
    "unknown_filter.yaml:11:17: rules[0].do[0].with.text: action 'notify-team' option 'text': template uses the filter uppper, which does not exist (did you mean 'upper'?)",
    "unknown_name.yaml:7:11: actions.notify-team.text: action 'notify-team' option 'text': template refers to evnt, which is not defined (did you mean 'event'?)",
    "unknown_test.yaml:11:17: rules[0].do[0].with.text: action 'notify-team' option 'text': template uses the test definedd, which does not exist (did you mean 'defined'?)",
]

# `event` where a debounced call renders it once: it holds the last event, so a warning.
WARNED: list[str] = [
    f"event_in_debounced_option.yaml:7:10: actions.rebuild-site.url: action 'rebuild-site' option 'url': template uses 'event', but the action is debounced (debounce: 1m, max_wait: 10m) {LAST_ONLY}",
    f"event_in_debounced_with.yaml:11:17: rules[0].do[0].with.text: action 'rebuild' option 'text': template uses 'event', but the action is debounced (debounce: 1m) {LAST_ONLY}",
    "notification_in_debounced.yaml:7:11: actions.digest.text: action 'digest' option 'text': template uses 'notification', but the action is debounced (max_wait: 10m) and its calls carry several events, of which 'notification' holds only the last: use 'events' (events[-1].raw for the last one's notification, or a for loop)",
]


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda text: text.split(":")[0])
def test_fixture_gives_its_exact_message(
    monkeypatch: pytest.MonkeyPatch, action_types: dict[str, type], expected: str
) -> None:
    monkeypatch.chdir(FIXTURES)
    with pytest.raises(ConfigError) as caught:
        load_config(expected.split(":")[0], {}, types=action_types)
    assert [str(issue) for issue in caught.value.issues] == expected.split("\n")


@pytest.mark.parametrize("expected", WARNED, ids=lambda text: text.split(":")[0])
def test_fixture_loads_with_its_exact_warning(
    monkeypatch: pytest.MonkeyPatch, action_types: dict[str, type], expected: str
) -> None:
    monkeypatch.chdir(FIXTURES)
    config = load_config(expected.split(":")[0], {}, types=action_types)
    assert [str(issue) for issue in config.warnings] == [expected]


def test_every_fixture_has_an_expected_message() -> None:
    covered = {text.split(":")[0] for text in EXPECTED + WARNED}
    assert covered == {path.name for path in FIXTURES.glob("*.yaml")}


class PurgeOptions(ActionOptions):
    keys: list[str] | str
    note: str = ""


class Purge(Action[PurgeOptions]):
    Options = PurgeOptions
    per_event_options = frozenset({"keys"})


CONFIG = """\
version: 1
webhooks: [{{name: p, path: /p, secrets: [s]}}]
actions:
  purge: {{type: purge, keys: k, {settings}}}
rules: [{{name: r, do: [{{action: purge, with: {{{option}: "{template}"}}}}]}}]
"""


def load(action_types: dict[str, type], option: str, template: str, settings: str) -> Any:
    text = CONFIG.format(option=option, template=template, settings=settings)
    return parse_config(text, types=action_types | {"purge": Purge})


@pytest.mark.parametrize(
    ("option", "template", "settings"),
    [
        ("keys", "item-{{ event.codename }}", "debounce: 10s"),  # rendered per event
        ("note", "{{ events | length }} purged, last {{ events[-1].codename }}", "debounce: 10s"),
        ("note", "{% for event in events %}{{ event.codename }}{% endfor %}", "max_wait: 1m"),
        ("note", "{{ event.codename }}", "enabled: true"),  # not debounced: one event per call
        ("note", "{{ event.codename }}", "debounce: null"),
    ],
)
def test_event_is_accepted_where_it_is_the_one_event(
    action_types: dict[str, type], option: str, template: str, settings: str
) -> None:
    load(action_types, option, template, settings)


def test_event_in_an_option_read_once_per_debounced_call_is_a_warning(
    action_types: dict[str, type],
) -> None:
    config = load(action_types, "note", "{{ event.codename }}", "debounce: 10s")
    (issue,) = config.warnings
    assert issue.path == "rules[0].do[0].with.note"
    assert issue.message.startswith(
        "action 'purge' option 'note': template uses 'event', but the action is debounced "
        "(debounce: 10s)"
    )


def test_a_debounce_from_defaults_counts(action_types: dict[str, type]) -> None:
    text = CONFIG.format(option="note", template="{{ event.codename }}", settings="enabled: true")
    config = parse_config(
        text.replace("actions:", "defaults: {debounce: 5s}\nactions:"),
        types=action_types | {"purge": Purge},
    )
    assert [issue.path for issue in config.warnings] == ["rules[0].do[0].with.note"]
