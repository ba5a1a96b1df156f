"""`{{ event.nam }}` is refused at load with a hint; valid names and raw paths are not."""

from __future__ import annotations

import pytest

from bridge.config import ConfigError, parse_config
from bridge.rules.templates import syntax_error

CONFIG = """\
version: 1
webhooks: [{{name: p, path: /p, secrets: [s]}}]
actions:
  a: {{type: log}}
rules: [{{name: r, do: [{{action: a, with: {{message: "{template}"}}}}]}}]
"""


NOT_A_FIELD = "template refers to event.{}, which is not an Event field"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{{ event.nam }}", NOT_A_FIELD.format("nam") + " (did you mean 'name'?)"),
        ("{{ event['langauge'] }}", NOT_A_FIELD.format("langauge") + " (did you mean 'language'?)"),
        ("{{ events[0].codenam }}", NOT_A_FIELD.format("codenam") + " (did you mean 'codename'?)"),
        ("{{ events[-1].zzz }}", NOT_A_FIELD.format("zzz")),
        (
            "{% if event.workflow_stpe %}x{% endif %}",
            NOT_A_FIELD.format("workflow_stpe") + " (did you mean 'workflow_step'?)",
        ),
    ],
)
def test_an_unknown_event_field_is_a_load_error(template: str, message: str) -> None:
    assert syntax_error(template) == message
    with pytest.raises(ConfigError) as raised:
        parse_config(CONFIG.format(template=template.replace('"', '\\"')))
    (issue,) = raised.value.issues
    assert issue.message == f"action 'a' option 'message': {message}"


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.name }} {{ event.previous_workflow_step }} {{ event.webhook }}",
        "{{ event.raw.data.system.anything }} {{ event.raw['message'].whatever }}",
        "{% for e in events %}{{ e.whatever_a_loop_holds }}{% endfor %}",
        "{{ notification.message.action }} {{ events | map(attribute='codename') | list }}",
    ],
)
def test_known_fields_raw_paths_and_loops_are_accepted(template: str) -> None:
    assert syntax_error(template) is None
    parse_config(CONFIG.format(template=template.replace('"', '\\"')))
