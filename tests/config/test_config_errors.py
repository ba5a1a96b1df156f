# ruff: noqa: E501  (the table holds exact messages, one per line)
"""One fixture per failure mode (tests/fixtures/config), each with its exact message.

A message is `file:line:col: path: message`; a fixture with several problems lists them all,
in file order, because the loader reports every problem at once.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import Config, ConfigError

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"
Loader = Callable[..., Config]

EXPECTED: list[str] = [
    "action_model_check.yaml:4:10: alerts[0]: action 'pager': set webhook_url, or channel",
    "action_option_type.yaml:6:12: actions.notify-team.count: action 'notify-team' option 'count': Input should be a valid integer, unable to parse string as an integer",
    "action_template_syntax.yaml:5:11: actions.notify-team.text: action 'notify-team' option 'text': template syntax error: unexpected '}' (template line 1)",
    "bad_duration.yaml:3:26: defaults.retry.schedule[1]: invalid duration '2 minutes' (write e.g. 500ms, 30s, 10m, 1h, 3d or 1h30m)",
    "bad_ordering.yaml:3:13: defaults.ordering: expected 'fifo' or 'none', got 'lifo'",
    "bad_reference.yaml:5:15: webhooks[0].secrets[0]: invalid reference '${KONTENT WEBHOOK SECRET}' (write ${NAME} or ${NAME:-default})",
    "duplicate_key.yaml:4:3: actions.notify-team: duplicate key 'notify-team' (first on line 3)",
    "duplicate_rule.yaml:7:11: rules[1].name: duplicate rule 'announce' (first defined on line 5)",
    "invalid_jsonpath.yaml:7:16: rules[0].where[0].path: invalid JSONPath '$.data.system[': Parse error near the end of string!",
    "invalid_regex.yaml:8:25: rules[0].when.any[0].name.regex: invalid regex '(unclosed': missing ), unterminated subpattern at position 0",
    "kontent_unknown_key.yaml:5:46: kontent.environments['8d6f0e47-3a5b-4c1d-9e2f-0a1b2c3d4e5f'].preview_key: unknown key 'preview_key' (did you mean 'preview_api_key'?)",
    "max_wait_shorter.yaml:3:91: actions.rebuild.max_wait: must be at least as long as debounce",
    "missing_required_option.yaml:11:9: rules[1].do[0]: action 'notify-team' option 'text': required, but neither the action nor 'with:' sets it",
    "missing_version.yaml:1:1: version: required key is missing (add 'version: 1')",
    "not_a_mapping.yaml:1:1: expected a mapping, got a list",
    "regex_fuzzy_brace.yaml:7:45: rules[0].where[0].regex: invalid regex '{draft}': '{' at position 0 is literal text for Python's re but starts a fuzzy-matching constraint for the regex engine that runs rules' regexes: write \\{ for a literal brace",
    "regex_posix_class.yaml:7:25: rules[0].when.codename.regex: invalid regex '^item_[[:digit:]]+$': '[:' at position 7 is literal text in a set for Python's re but a POSIX class such as [:digit:] for the regex engine that runs rules' regexes: write \\[ for a literal bracket",
    "rule_without_do.yaml:3:5: rules[0].do: required key is missing",
    "secret_file_unreadable.yaml:6:9: webhooks[0].secrets[0]: cannot read KONTENT_WEBHOOK_SECRET_FILE '/nonexistent/secret': No such file or directory",
    (
        "several_errors.yaml:4:11: webhooks[0].path: must start with '/', got 'kontent'"
        "\n"
        "several_errors.yaml:7:43: actions.notify-team.colour: action 'notify-team' option 'colour': unknown option"
        "\n"
        "several_errors.yaml:10:12: rules[0].when.typ: unknown event field 'typ' (did you mean 'type'?)"
        "\n"
        "several_errors.yaml:11:10: rules[0].do[0]: unknown action 'notify-tem' (did you mean 'notify-team'?)"
    ),
    "undefined_action.yaml:13:17: rules[2].do[0].action: unknown action 'content-tem' (did you mean 'content-team'?)",
    "undefined_alert_action.yaml:5:13: alerts.actions[0]: unknown action 'on-cal' (did you mean 'on-call'?)",
    "undefined_shorthand_action.yaml:7:9: rules[0].do[0]: unknown action 'rebuild-sit' (did you mean 'rebuild-site'?)",
    "unknown_action_option.yaml:6:5: actions.notify-team.chanel: action 'notify-team' option 'chanel': unknown option (did you mean 'channel'?)",
    "unknown_action_type.yaml:3:23: actions.notify-team.type: unknown action type 'notifi' (did you mean 'notify'?) (known: build_hook, log, notify, pair)",
    "unknown_event_field.yaml:7:7: rules[0].when.object_typ: unknown event field 'object_typ' (did you mean 'object_type'?)",
    "unknown_operator.yaml:7:18: rules[0].when.codename.glb: unknown operator 'glb' (did you mean 'glob'?)",
    "unknown_rule_key.yaml:6:5: rules[0].wen: unknown key 'wen' (did you mean 'when'?)",
    "unknown_top_key.yaml:2:1: rule: unknown key 'rule' (did you mean 'rules'?)",
    "unset_env.yaml:5:15: webhooks[0].secrets[0]: environment variable 'KONTENT_WEBHOOK_SECRET' is not set (nor is KONTENT_WEBHOOK_SECRET_FILE), and has no default",
    "unsupported_version.yaml:1:10: version: unsupported version 2 (this bridge reads version 1)",
    "webhook_duplicate_name.yaml:6:11: webhooks[1].name: duplicate webhook 'production' (first defined on line 3)",
    "webhook_duplicate_path.yaml:7:11: webhooks[1].path: duplicate path '/webhooks/kontent' (first defined on line 4)",
    "webhook_no_secrets.yaml:3:5: webhooks[0].secrets: required unless 'verify: false' (for local testing only)",
    "webhook_path.yaml:4:11: webhooks[0].path: must start with '/', got 'webhooks/kontent'",
    "webhook_reserved_path.yaml:4:11: webhooks[0].path: '/healthz' is reserved for the bridge's own /healthz",
    (
        "webhook_unknown_key.yaml:3:5: webhooks[0].secrets: required unless 'verify: false' (for local testing only)"
        "\n"
        "webhook_unknown_key.yaml:5:5: webhooks[0].secret: unknown key 'secret' (did you mean 'secrets'?)"
    ),
    "where_without_operator.yaml:7:9: rules[0].where[0]: needs an operator: one of eq, in, regex, exists, gt, lt",
    "with_option_type.yaml:8:23: rules[0].do[0].with.count: action 'notify-team' option 'count': Input should be a valid integer",
    "with_template_syntax.yaml:9:17: rules[0].do[0].with.text: action 'notify-team' option 'text': template syntax error: Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'. (template line 1)",
    "with_unknown_option.yaml:8:16: rules[0].do[0].with.txt: action 'notify-team' option 'txt': unknown option (did you mean 'text'?)",
    "yaml_syntax.yaml:4:1: YAML syntax error: while parsing a flow mapping that starts at line 3, column 16: expected ',' or '}', but got '<scalar>': is its closing '}' missing?",
    "yaml_tab_indent.yaml:3:1: YAML indentation: this line is indented with a tab: YAML indents with spaces only (use spaces)",
    "zero_timeout.yaml:3:12: defaults.timeout: must be longer than zero, got '0s'",
]

# Fixtures whose problem needs an environment to show.
ENV = {"secret_file_unreadable.yaml": {"KONTENT_WEBHOOK_SECRET_FILE": "/nonexistent/secret"}}


@pytest.mark.parametrize("expected", EXPECTED, ids=lambda text: text.split(":")[0])
def test_fixture_gives_its_exact_message(load_fixture: Loader, expected: str) -> None:
    name = expected.split(":")[0]
    with pytest.raises(ConfigError) as caught:
        load_fixture(name, ENV.get(name, {}))
    assert str(caught.value) == expected
    assert [str(issue) for issue in caught.value.issues] == expected.split("\n")


def test_every_fixture_has_an_expected_message() -> None:
    covered = {text.split(":")[0] for text in EXPECTED}
    assert covered == {path.name for path in FIXTURES.glob("*.yaml")}


def test_issues_carry_their_parts(load_fixture: Loader) -> None:
    with pytest.raises(ConfigError) as caught:
        load_fixture("undefined_action.yaml")
    (issue,) = caught.value.issues
    assert (issue.file, issue.line, issue.col) == ("undefined_action.yaml", 13, 17)
    assert issue.path == "rules[2].do[0].action"
    assert issue.message == "unknown action 'content-tem' (did you mean 'content-team'?)"
    assert issue.to_json()["line"] == 13
