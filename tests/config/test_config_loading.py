"""What a valid config loads into: interpolation, secret files, defaults, durations, warnings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bridge.config import Config, ConfigError, DeliverySettings, parse_config, parse_duration
from bridge.config.conditions import AllOf, FieldTest
from bridge.config.operators import EQ, Operation

Loader = Callable[..., Config]

MINIMAL = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["{secret}"]
actions:
  team: {{type: notify, text: "hi", channel: "{channel}"}}
rules:
  - name: all
    do: [team]
"""


def minimal(secret: str = "s3cret", channel: str = "#content") -> str:
    return MINIMAL.format(secret=secret, channel=channel)


def errors_of(load: Loader, text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, env)
    return [str(issue) for issue in caught.value.issues]


def test_env_variable_is_interpolated_inside_strings(load: Loader) -> None:
    config = load(minimal(secret="pre-${SECRET}-post"), {"SECRET": "abc"})
    assert config.webhooks[0].secrets == ("pre-abc-post",)


@pytest.mark.parametrize(
    ("reference", "env", "expected"),
    [
        ("${CHANNEL:-#fallback}", {}, "#fallback"),
        ("${CHANNEL:-#fallback}", {"CHANNEL": ""}, "#fallback"),
        ("${CHANNEL-#fallback}", {"CHANNEL": ""}, ""),
        ("${CHANNEL:-#fallback}", {"CHANNEL": "#set"}, "#set"),
        ("${CHANNEL:-}", {}, ""),
        ("$${CHANNEL}", {"CHANNEL": "#set"}, "${CHANNEL}"),
        ("${A}${B}", {"A": "#x", "B": "y"}, "#xy"),
    ],
)
def test_defaults_and_escapes(
    load: Loader, reference: str, env: dict[str, str], expected: str
) -> None:
    config = load(minimal(channel=reference), env)
    assert config.actions["team"].options["channel"] == expected


def test_unset_variable_is_an_error_at_its_line_and_column(load: Loader) -> None:
    assert errors_of(load, minimal(secret="${SECRET}")) == [
        "rules.yaml:5:15: webhooks[0].secrets[0]: environment variable 'SECRET' is not set "
        "(nor is SECRET_FILE), and has no default"
    ]


def test_secret_file_is_read_when_the_variable_is_unset(load: Loader, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("from-file\n\n", encoding="utf-8")
    config = load(minimal(secret="${SECRET}"), {"SECRET_FILE": str(secret)})
    assert config.webhooks[0].secrets == ("from-file\n",)  # exactly one newline stripped


def test_variable_wins_over_its_secret_file(load: Loader, tmp_path: Path) -> None:
    config = load(minimal(secret="${SECRET}"), {"SECRET": "env", "SECRET_FILE": "/nonexistent"})
    assert config.webhooks[0].secrets == ("env",)


def test_interpolation_does_not_touch_keys_or_comments(load: Loader) -> None:
    text = minimal() + "# ${NOT_SET} in a comment is not a reference\n"
    assert load(text).rules[0].name == "all"


def test_interpolated_text_is_validated_after_substitution(load: Loader) -> None:
    text = minimal().replace("version: 1", "version: 1\ndefaults: {timeout: '${TIMEOUT}'}")
    config = load(text, {"TIMEOUT": "90s"})
    assert config.defaults.timeout_s == 90.0
    assert errors_of(load, text, {"TIMEOUT": "soon"}) == [
        "rules.yaml:2:21: defaults.timeout: invalid duration 'soon' "
        "(write e.g. 500ms, 30s, 10m, 1h, 3d or 1h30m)"
    ]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("500ms", 0.5),
        ("30s", 30.0),
        ("10m", 600.0),
        ("1h", 3600.0),
        ("3d", 259200.0),
        ("1h30m", 5400.0),
        ("45", 45.0),
        (12, 12.0),
        (1.5, 1.5),
    ],
)
def test_parse_duration(text: str | int | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10 minutes", "1y", "-5s", "inf", "m10"])
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)


@pytest.mark.parametrize(
    "value",
    [float("inf"), float("nan"), 10**400, "9" * 400, "9" * 400 + "d", "999999999d", "3651d"],
    ids=["inf", "nan", "int400", "nines", "nines-d", "999999999d", "3651d"],
)
def test_parse_duration_refuses_what_no_timestamp_can_follow(value: str | float) -> None:
    # inf and NaN made `bridge check` crash in format_duration; huge values pass every
    # comparison and give due times past year 9999.
    with pytest.raises(ValueError, match=r"^a duration can be at most 3650d \(ten years\)$"):
        parse_duration(value)
    assert parse_duration("3650d") == 3650 * 86400


def test_defaults_when_nothing_is_said(load: Loader) -> None:
    config = load(minimal())
    assert config.defaults == DeliverySettings(
        retry_schedule_s=(60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 3600.0),
        give_up_after_s=259200.0,
        timeout_s=60.0,
        debounce_s=None,
        max_wait_s=None,
        ordering="fifo",
        enabled=True,
        concurrency=1,
    )
    assert config.actions["team"].delivery == config.defaults
    assert config.kontent.delivery_url == "https://deliver.kontent.ai"
    assert config.kontent.preview_url == "https://preview-deliver.kontent.ai"
    assert config.alert_failing_for_s == 3600.0


def test_retry_schedule_repeats_its_last_delay() -> None:
    settings = DeliverySettings()
    assert [settings.retry_delay_s(n) for n in (1, 2, 7, 8, 50)] == [60, 120, 3600, 3600, 3600]


def test_defaults_section_applies_to_every_action(load: Loader) -> None:
    text = minimal().replace(
        "actions:",
        "defaults:\n  retry: {schedule: [10s, 1m]}\n  timeout: 5s\n  ordering: none\n"
        "  concurrency: 4\nactions:",
    )
    delivery = load(text).actions["team"].delivery
    assert delivery.retry_schedule_s == (10.0, 60.0)
    assert delivery.give_up_after_s == 259200.0  # only the schedule was changed
    assert (delivery.timeout_s, delivery.ordering, delivery.concurrency) == (5.0, "none", 4)


def test_action_type_defaults_apply_under_the_users_values(load: Loader) -> None:
    text = """\
    version: 1
    actions:
      quiet: {type: build_hook, url: "https://hooks.example.com/1"}
      tuned: {type: build_hook, url: "https://hooks.example.com/2", debounce: 5s}
      eager: {type: build_hook, url: "https://hooks.example.com/3", debounce: null, max_wait: 0}
      team: {type: notify, text: hi, enabled: false, retry: {give_up_after: 1h}}
    rules:
      - {name: all, do: [quiet, tuned, eager, team]}
    """
    actions = load(text).actions
    assert (actions["quiet"].delivery.debounce_s, actions["quiet"].delivery.max_wait_s) == (60, 600)
    assert (actions["tuned"].delivery.debounce_s, actions["tuned"].delivery.max_wait_s) == (5, 600)
    assert (actions["eager"].delivery.debounce_s, actions["eager"].delivery.max_wait_s) == (
        None,
        None,
    )
    team = actions["team"].delivery
    assert (team.enabled, team.give_up_after_s, team.debounce_s) == (False, 3600.0, None)


def test_action_options_are_kept_unrendered_apart_from_common_ones(load: Loader) -> None:
    text = """\
    version: 1
    actions:
      team: {type: notify, text: "{{ event.name }}", count: 3, timeout: 5s}
    rules:
      - {name: all, do: [team]}
    """
    team = load(text).actions["team"]
    assert dict(team.options) == {"text": "{{ event.name }}", "count": 3}
    assert team.templated == frozenset({"text"})
    assert (team.type, team.delivery.timeout_s) == ("notify", 5.0)


def test_templated_options_are_not_type_checked(load: Loader) -> None:
    text = """\
    version: 1
    actions:
      team: {type: notify, text: hi, count: "{{ events | length }}"}
    rules:
      - {name: all, do: [team]}
    """
    assert load(text).actions["team"].options["count"] == "{{ events | length }}"


def test_with_may_supply_a_required_option(load: Loader) -> None:
    text = """\
    version: 1
    actions:
      team: {type: notify}
    rules:
      - name: all
        do:
          - action: team
            with: {text: "Published {{ event.name }}", tags: [a, b]}
    """
    rule = load(text).rules[0]
    assert dict(rule.do[0].inputs) == {"text": "Published {{ event.name }}", "tags": ["a", "b"]}


def test_warnings_for_unused_actions_and_unverified_webhooks(load: Loader) -> None:
    text = """\
    version: 1
    webhooks:
      - {name: local, path: /local, verify: false}
    actions:
      team: {type: notify, text: hi}
      spare: {type: notify, text: hi}
      pager: {type: notify, text: hi}
    rules:
      - {name: all, do: [team]}
    alerts: [pager]
    """
    config = load(text)
    assert [str(w) for w in config.warnings] == [
        "rules.yaml:3:41: webhooks[0].verify: webhook 'local' accepts unsigned requests "
        "(verify: false)",
        "rules.yaml:6:3: actions.spare: action 'spare' is not used by any rule nor by alerts",
    ]
    assert config.webhooks[0].verify is False
    assert config.alerts == ("pager",)


def test_alerts_mapping_form(load: Loader) -> None:
    text = minimal() + "alerts: {actions: [team], failing_for: 30m}\n"
    config = load(text)
    assert (config.alerts, config.alert_failing_for_s) == (("team",), 1800.0)


def test_kontent_section(load: Loader) -> None:
    text = minimal() + (
        "kontent:\n"
        "  delivery_url: http://127.0.0.1:9000/\n"
        "  environments:\n"
        "    env-1: {preview_api_key: '${KEY:-}', secure_access_key: sak}\n"
        "    env-2:\n"
    )
    kontent = load(text).kontent
    assert kontent.delivery_url == "http://127.0.0.1:9000"
    assert kontent.preview_url == "https://preview-deliver.kontent.ai"
    assert kontent.environments["env-1"].preview_api_key is None  # empty means absent
    assert kontent.environments["env-1"].secure_access_key == "sak"
    assert kontent.environments["env-2"].secure_access_key is None


def test_when_values_are_the_text_as_written(load: Loader) -> None:
    """YAML 1.1 reads `no` as false and `1.10` as 1.1; codenames and languages are text."""
    text = minimal().replace(
        "- name: all", "- name: all\n    when: {language: no, codename: 1.10, id: 007}"
    )
    when = load(text).rules[0].when
    assert isinstance(when, AllOf)
    assert when.items == (
        FieldTest("language", Operation(EQ, "no"), "when.language"),
        FieldTest("codename", Operation(EQ, "1.10"), "when.codename"),
        FieldTest("id", Operation(EQ, "007"), "when.id"),
    )


def test_anchors_and_merge_keys_work(load: Loader) -> None:
    text = """\
    version: 1
    actions:
      base: &base {type: notify, text: hi}
      team: {<<: *base, channel: "#team"}
    rules:
      - {name: all, do: [base, team]}
    """
    assert dict(load(text).actions["team"].options) == {"text": "hi", "channel": "#team"}


def test_an_empty_file_needs_a_version(load: Loader) -> None:
    assert errors_of(load, "") == [
        "rules.yaml:1:1: version: required key is missing (add 'version: 1')"
    ]


def test_a_missing_file_is_an_issue_not_a_crash(load: Loader, tmp_path: Path) -> None:
    from bridge.config import load_config

    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.yaml", {})
    assert (
        str(caught.value)
        == f"{tmp_path / 'absent.yaml'}:1:1: cannot read the file: No such file or directory"
    )


def test_a_file_that_never_ends_is_refused_at_the_size_limit(load: Loader) -> None:
    from bridge.config import load_config

    with pytest.raises(ConfigError) as caught:
        load_config("/dev/zero", {})
    assert str(caught.value) == "/dev/zero:1:1: cannot read the file: it is larger than 64 MiB"


def test_the_installed_log_action_needs_no_types_argument(tmp_path: Path) -> None:
    from bridge.config import load_config

    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nactions:\n  say: {type: log}\nrules:\n  - {name: all, do: [say]}\n"
    )
    assert load_config(path, {}).actions["say"].type == "log"


def test_libyaml_and_pure_python_parsers_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Large rule sets parse with libyaml; values, marks and plain text must not change."""
    import yaml

    from bridge.config import document

    text = (
        Path(__file__).parent.parent / "fixtures" / "config" / "several_errors.yaml"
    ).read_text()
    text += "extra: {a: no, b: 1.10, c: 2024-01-01, d: 'quoted', e: [1, ~, true]}\n"
    fast = document.parse_document(text, "f.yaml", {})
    monkeypatch.setattr(document, "_FAST_LOADER", yaml.SafeLoader)
    pure = document.parse_document(text, "f.yaml", {})
    assert (fast.data, fast.marks, fast.key_marks, fast.plain_text) == (
        pure.data,
        pure.marks,
        pure.key_marks,
        pure.plain_text,
    )
    assert fast.plain_text[("extra", "a")] == "no"


@pytest.mark.parametrize(
    ("when", "message"),
    [
        ("{type: []}", "rules.yaml:10:18: rules[0].when.type: an empty list matches nothing"),
        (
            "{type: {in: []}}",
            "rules.yaml:10:23: rules[0].when.type.in: an empty list matches nothing",
        ),
        (
            "{codename: {glob: []}}",
            "rules.yaml:10:29: rules[0].when.codename.glob: an empty list matches nothing",
        ),
        (
            "{type: {}}",
            "rules.yaml:10:18: rules[0].when.type: needs an operator: one of not, in, "
            "glob, regex, exists",
        ),
        ("{any: []}", "rules.yaml:10:17: rules[0].when.any: 'any' needs at least one condition"),
    ],
)
def test_conditions_that_could_never_match_are_errors(
    load: Loader, when: str, message: str
) -> None:
    text = minimal().replace("- name: all", f"- name: all\n    when: {when}")
    assert errors_of(load, text) == [message]


def test_a_rule_without_a_name_is_reported_once(load: Loader) -> None:
    text = minimal().replace("- name: all", "- when: {type: article}")
    assert errors_of(load, text) == ["rules.yaml:9:5: rules[0].name: required key is missing"]


def test_action_types_come_from_the_registry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, action_types: dict[str, type]
) -> None:
    from bridge.actions import registry
    from bridge.config import load_config

    monkeypatch.setattr(registry, "action_types", lambda: {"custom": action_types["notify"]})
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\nactions:\n  a: {type: custom, text: hi}\nrules: [{name: r, do: [a]}]\n"
    )
    assert load_config(path, {}).actions["a"].type == "custom"
    path.write_text("version: 1\nactions:\n  a: {type: log}\nrules: [{name: r, do: [a]}]\n")
    with pytest.raises(ConfigError, match="unknown action type 'log'"):
        load_config(path, {})


def test_checks_across_options_see_templated_values(load: Loader) -> None:
    """`pair` needs webhook_url or channel; a templated channel counts as given."""
    text = """\
    version: 1
    actions:
      pager: {type: pair}
      templated: {type: pair, webhook_url: "{{ event.raw.url }}"}
    rules:
      - name: r
        do:
          - {action: pager, with: {channel: "{{ event.codename }}"}}
          - templated
    """
    assert [item.action for item in load(text).rules[0].do] == ["pager", "templated"]


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (
            "[{path: $.a, in: []}]",
            "rules.yaml:10:29: rules[0].where[0].in: an empty list matches nothing",
        ),
        (
            "[{path: $.a, gt: [1]}]",
            "rules.yaml:10:29: rules[0].where[0].gt: expected a number or a string, got a list",
        ),
        (
            "[{path: $.a, regex: '(', eq: {a: 1}}]",
            "rules.yaml:10:32: rules[0].where[0].regex: invalid regex '(': missing ), "
            "unterminated subpattern at position 0",
        ),
    ],
)
def test_where_operators_are_read_by_the_same_table(load: Loader, where: str, message: str) -> None:
    text = minimal().replace("- name: all", f"- name: all\n    where: {where}")
    assert errors_of(load, text) == [message]


@pytest.mark.parametrize(
    ("written", "env", "message"),
    [
        # Before: the secret became the text "${B}" (or "a}") without a word.
        (
            "${A:-${B}}",
            {"B": "b"},
            "a default cannot hold another reference ('${A:-${B}'): nesting is not supported "
            "(set the variable, or write the default out)",
        ),
        (
            "${A:-${B}}",
            {"A": "a"},
            "a default cannot hold another reference ('${A:-${B}'): nesting is not supported "
            "(set the variable, or write the default out)",
        ),
        # Before: kept as the text "${SECRET".
        (
            "${SECRET",
            {"SECRET": "s"},
            "'${' has no closing '}' (write ${NAME}, or $${ for a literal ${)",
        ),
    ],
)
def test_references_that_do_not_read_as_written_are_errors(
    written: str, env: dict[str, str], message: str
) -> None:
    text = f'version: 1\nwebhooks: [{{name: p, path: /p, secrets: ["{written}"]}}]\n'
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env=env)
    assert [i.message for i in raised.value.issues] == [message]
    literal = text.replace(written, "$${SECRET")
    assert parse_config(literal, env={}).webhooks[0].secrets == ("${SECRET",)
