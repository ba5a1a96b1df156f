"""`bridge test CASES`: rule unit tests, run in-process over real configs and payloads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config import ConfigError, load_config

ROOT = Path(__file__).parents[2]
PAYLOADS = ROOT / "tests/payloads"
PUBLISHED = PAYLOADS / "current/content_item_published_published.json"
PREVIEW = PAYLOADS / "current/content_item_workflow_step_changed_preview.json"

CONFIG = """\
version: 1
webhooks: [{name: production, path: /p, secrets: [webhook-secret-1]}]
actions:
  audit: {type: log}
  hook:
    type: http
    url: https://example.com/hook
    headers: {Authorization: "Bearer hook-token-123"}
rules:
  - name: ignore-previews
    when: {delivery_slot: preview}
    do: [audit]
    stop: true
  - name: tell-the-hook
    when: {object_type: content_item}
    do:
      - action: hook
        with:
          json: {id: "{{ event.id }}", name: "{{ event.name }}", year: "2024", tags: [a, b]}
  - name: everything
    do: [audit]
"""

HOOK_INPUTS = {
    "url": "https://example.com/hook",
    "headers": {"Authorization": "Bearer hook-token-123"},
    "json": {
        "id": "32022d85-ee58-4655-9016-e130c375820a",
        "name": "This changes everything!",
        "year": "2024",
        "tags": ["a", "b"],
    },
}


def bridge_test(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, cases: str, *options: str
) -> tuple[int, str, str]:
    """Write the config and `cases` beside the payloads' names, run `bridge test`."""
    (tmp_path / "rules.yaml").write_text(CONFIG)
    (tmp_path / "rules.test.yaml").write_text(cases)
    try:
        code = main(["test", str(tmp_path / "rules.test.yaml"), *options])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, _without_time(out), err


def _without_time(out: str) -> str:
    """The summary's duration is the one part of the output that varies."""
    return re.sub(r" in \d+\.\d\ds$", " in TIME", out, flags=re.M)


def cases(*bodies: str) -> str:
    return "version: 1\nconfig: rules.yaml\ntests:\n" + "".join(bodies)


PUBLISHED_CASE = f"""\
  - name: a published item goes to the hook
    payload_file: {PUBLISHED}
    match: [tell-the-hook, everything]
    not_match: [ignore-previews]
    actions: [hook, audit]
"""


def test_the_shipped_example_passes(capsys: pytest.CaptureFixture[str]) -> None:
    """CI runs the example's tests: rules.example.test.yaml must keep passing."""
    code = main(["test", str(ROOT / "rules.example.test.yaml")])
    out = _without_time(capsys.readouterr().out)
    assert code == 0, out
    assert out.splitlines() == [
        "PASS a published item is logged with its own message, then by the catch-all",
        "PASS a workflow move is logged once, and stops there",
        "PASS an asset change is not publishing",
        "PASS a legacy publish of two languages logs each",
        "PASS the second language of a legacy publish",
        "",
        "5 passed, 0 failed in TIME",
    ]


def test_passing_cases_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stopped = f"""\
  - name: a preview change stops at ignore-previews
    payload_file: {PREVIEW}
    match: [ignore-previews]
    not_match: [tell-the-hook, everything]
    actions: [audit]
"""
    code, out, err = bridge_test(capsys, tmp_path, cases(PUBLISHED_CASE, stopped))
    assert (code, err) == (0, "")
    assert out == (
        "PASS a published item goes to the hook\n"
        "PASS a preview change stops at ignore-previews\n"
        "\n"
        "2 passed, 0 failed in TIME\n"
    )


def test_failing_cases_exit_1_with_a_diff(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    wrong = f"""\
  - name: expects the preview rule
    payload_file: {PUBLISHED}
    match: [ignore-previews, tell-the-hook]
    not_match: [everything]
    actions: [hook]
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(PUBLISHED_CASE, wrong))
    assert code == 1
    assert out == (
        "PASS a published item goes to the hook\n"
        "FAIL expects the preview rule\n"
        "\n"
        f"expects the preview rule ({tmp_path}/rules.test.yaml:9):\n"
        "  match: the rules that match differ\n"
        "    --- expected\n"
        "    +++ got\n"
        "    -ignore-previews\n"
        "     tell-the-hook\n"
        "    +everything\n"
        "    rule 'ignore-previews' did not match: when.delivery_slot: 'published' is not "
        "'preview'\n"
        "  not_match: rule 'everything' matched, but the case says it must not\n"
        "  actions: the actions that run differ\n"
        "    --- expected\n"
        "    +++ got\n"
        "     hook\n"
        "    +audit\n"
        "\n"
        "1 passed, 1 failed in TIME\n"
    )


def test_a_rule_skipped_by_stop_says_so(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    case = f"""\
  - name: a preview reaches everything
    payload_file: {PREVIEW}
    match: [ignore-previews, everything]
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(case))
    assert code == 1
    assert (
        "    rule 'everything' was skipped: rule 'ignore-previews' matched and says stop: true\n"
        in out
    )


def test_partial_inputs_ignore_keys_not_given_and_exact_ones_do_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    checks = f"""\
  - name: partial
    payload_file: {PUBLISHED}
    inputs:
      - action: hook
        partial: {{json: {{name: "This changes everything!", year: 2024}}}}
  - name: exact
    payload_file: {PUBLISHED}
    inputs:
      - action: hook
        rule: tell-the-hook
        exact: {{json: {{name: "This changes everything!"}}}}
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(checks))
    assert code == 1
    # `year: 2024` is a number to YAML, but written as the text the template renders.
    assert out.splitlines()[:2] == ["PASS partial", "FAIL exact"]
    assert (
        "  inputs: rule 'tell-the-hook' action 'hook': the inputs differ (exact)\n"
        "    --- expected\n"
        "    +++ got\n"
        "     json:\n"
        "       name: This changes everything!\n"
        "    +  id: 32022d85-ee58-4655-9016-e130c375820a\n"
        "    +  year: '2024'\n"
        "    +  tags:\n"
        "    +  - a\n"
        "    +  - b\n"
        "    +url: https://example.com/hook\n"
        "    +headers: '***'\n"
    ) in out


def test_an_exact_diff_follows_the_cases_key_order(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The case writes the keys in its own order; the action renders them in another. Keys that
    are equal are context lines, not removed on one side and added on the other."""
    check = f"""\
  - name: one value wrong
    payload_file: {PUBLISHED}
    inputs:
      - action: hook
        exact:
          json: {{tags: [a, b], year: "2024", name: Something else,
                 id: 32022d85-ee58-4655-9016-e130c375820a}}
          headers: {{Authorization: Bearer hook-token-123}}
          url: https://example.com/hook
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(check))
    assert code == 1
    assert out.split("\n\n")[1].splitlines()[1:] == [
        "  inputs: rule 'tell-the-hook' action 'hook': the inputs differ (exact)",
        "    --- expected",
        "    +++ got",
        "     json:",
        "       tags:",
        "       - a",
        "       - b",
        "       year: '2024'",
        "    -  name: Something else",
        "    +  name: This changes everything!",
        "       id: 32022d85-ee58-4655-9016-e130c375820a",
        "     headers: '***'",
        "     url: https://example.com/hook",
    ]


def test_a_partial_diff_shows_only_the_keys_given(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    check = f"""\
  - name: wrong name
    payload_file: {PUBLISHED}
    inputs:
      - action: hook
        partial: {{json: {{name: Something else, tags: [a]}}}}
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(check))
    assert code == 1
    assert out.split("\n\n")[1].splitlines()[1:] == [
        "  inputs: rule 'tell-the-hook' action 'hook': the inputs differ (partial)",
        "    --- expected",
        "    +++ got",
        "     json:",
        "    -  name: Something else",
        "    +  name: This changes everything!",
        "       tags:",
        "       - a",
        "    +  - b",
    ]


def test_secrets_compare_as_rendered_and_are_hidden_in_diffs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    right, copied, wrong = (
        {"Authorization": "Bearer hook-token-123"},  # as the config has it
        "***",  # as `bridge explain` shows it: the http action's headers are secret
        {"Authorization": "Bearer wrong-token-456"},
    )
    checks = "".join(
        f"""\
  - name: {name}
    payload_file: {PUBLISHED}
    inputs:
      - action: hook
        partial: {{headers: {json.dumps(headers)}}}
"""
        for name, headers in (("right", right), ("copied", copied), ("wrong", wrong))
    )
    code, out, _ = bridge_test(capsys, tmp_path, cases(checks))
    assert code == 1
    assert out.splitlines()[:3] == ["PASS right", "PASS copied", "FAIL wrong"]
    assert "hook-token-123" not in out and "wrong-token-456" not in out
    assert (
        "  inputs: rule 'tell-the-hook' action 'hook': the inputs differ (partial)\n"
        "    (the values differ only where secrets are hidden as ***)\n"
    ) in out


def test_a_template_error_fails_its_case_and_not_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "rules.yaml").write_text(CONFIG)
    broken = CONFIG.replace('"{{ event.name }}"', '"{{ event.raw.data.system.nope }}"')
    (tmp_path / "broken.yaml").write_text(broken)
    case = f"""\
version: 1
config: broken.yaml
tests:
  - name: renders
    payload_file: {PUBLISHED}
    actions: [hook, audit]
  - name: a preview never reaches the hook
    payload_file: {PREVIEW}
    actions: [audit]
"""
    (tmp_path / "rules.test.yaml").write_text(case)
    code = main(["test", str(tmp_path / "rules.test.yaml")])
    out = _without_time(capsys.readouterr().out)
    assert code == 1
    assert out == (
        "FAIL renders\n"
        "PASS a preview never reaches the hook\n"
        "\n"
        f"renders ({tmp_path}/rules.test.yaml:4):\n"
        "  render: rule 'tell-the-hook' action 'hook': template error: option 'json.name': "
        "'dict object' has no attribute 'nope'\n"
        "\n"
        "1 passed, 1 failed in TIME\n"
    )


def test_json_report(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    wrong = f"""\
  - name: wrong
    payload_file: {PUBLISHED}
    match: [everything]
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(PUBLISHED_CASE, wrong), "--json")
    assert code == 1
    report = json.loads(out)
    assert isinstance(report.pop("duration_s"), float)
    assert report == {
        "file": str(tmp_path / "rules.test.yaml"),
        "config": str(tmp_path / "rules.yaml"),
        "passed": 1,
        "failed": 1,
        "cases": [
            {
                "name": "a published item goes to the hook",
                "line": 4,
                "status": "passed",
                "failures": [],
            },
            {
                "name": "wrong",
                "line": 9,
                "status": "failed",
                "failures": [
                    {
                        "expectation": "match",
                        "message": "the rules that match differ",
                        "detail": ["--- expected", "+++ got", "+tell-the-hook", " everything"],
                        "expected": ["everything"],
                        "got": ["tell-the-hook", "everything"],
                    }
                ],
            },
        ],
    }


def test_json_failures_redact_the_inputs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    check = f"""\
  - name: headers
    payload_file: {PUBLISHED}
    inputs:
      - action: hook
        exact: {{headers: {{Authorization: Bearer hook-token-123}}}}
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(check), "--json")
    assert code == 1
    assert "hook-token-123" not in out
    [failure] = json.loads(out)["cases"][0]["failures"]
    assert failure["expected"] == {"headers": "***"}
    assert failure["got"]["headers"] == "***"
    assert failure["got"]["json"]["name"] == "This changes everything!"


def test_every_event_of_a_payload_or_the_one_chosen(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    legacy = PAYLOADS / "legacy/content_item_variant_publish.json"  # en-US and es-ES
    checks = f"""\
  - name: both languages, in order
    payload_file: {legacy}
    actions: [hook, audit, hook, audit]
  - name: the second only
    payload_file: {legacy}
    event: 1
    match: [tell-the-hook, everything]
  - name: inline
    payload:
      notifications:
        - data: {{system: {{id: x1, codename: c, language: en-US}}}}
          message: {{object_type: content_item, action: published, delivery_slot: preview}}
    match: [ignore-previews]
"""
    code, out, _ = bridge_test(capsys, tmp_path, cases(checks))
    assert code == 0, out


def test_a_broken_cases_file_exits_2_with_every_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = f"""\
version: 1
config: rules.yaml
tests:
  - name: typo
    payload_file: missing.json
    mach: [everything]
  - name: typo
    payload: {{hello: 1}}
    webhook: staging
    not_match: [everythin]
  - name: third
    payload_file: {PUBLISHED}
    event: 1
    inputs:
      - {{action: audit, rule: tell-the-hook, partial: {{}}}}
"""
    code, out, err = bridge_test(capsys, tmp_path, broken)
    file = tmp_path / "rules.test.yaml"
    assert (code, out) == (2, "")
    assert err == (
        f"error: {file}: 9 error(s):\n"
        f"{file}:4:5: tests[0]: a case needs at least one of match, not_match, actions, inputs\n"
        f"{file}:5:19: tests[0].payload_file: cannot read payload file "
        f"'{tmp_path}/missing.json': No such file or directory\n"
        f"{file}:6:5: tests[0].mach: unknown key 'mach' (did you mean 'match'?)\n"
        f"{file}:7:11: tests[1].name: duplicate case 'typo' (first defined on line 4)\n"
        f"{file}:8:14: tests[1].payload: payload is not a Kontent.ai notification: payload has "
        "neither 'notifications' (current format) nor 'data' and 'message' (legacy format)\n"
        f"{file}:9:14: tests[1].webhook: no webhook named 'staging' (configured: production)\n"
        f"{file}:10:17: tests[1].not_match[0]: unknown rule 'everythin' (did you mean "
        "'everything'?)\n"
        f"{file}:13:12: tests[2].event: the payload holds 1 event(s): event must be 0\n"
        f"{file}:15:31: tests[2].inputs[0].rule: rule 'tell-the-hook' does not run action "
        "'audit' (it runs: hook)\n"
    )


@pytest.mark.parametrize(
    ("first_line", "expected"),
    [
        ("", "2:1: version: required key is missing (add 'version: 1')"),
        ("version: true", "1:10: version: unsupported version True (this bridge reads version 1)"),
        ("version: 1.0", "1:10: version: unsupported version 1.0 (this bridge reads version 1)"),
    ],
)
def test_a_cases_file_needs_version_1(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, first_line: str, expected: str
) -> None:
    # Without `version:` the message quoting it raised KeyError (a traceback, exit 1); `true` and
    # `1.0` equal 1 in Python and were read as version 1.
    text = cases(PUBLISHED_CASE).replace("version: 1\n", first_line + "\n", 1)
    code, out, err = bridge_test(capsys, tmp_path, text)
    file = tmp_path / "rules.test.yaml"
    assert (code, out, err) == (2, "", f"error: {file}: 1 error(s):\n{file}:{expected}\n")


def test_a_broken_config_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "typo.yaml").write_text(
        CONFIG.replace("do: [audit]\n    stop", "do: [audti]\n    stop")
    )
    code, out, err = bridge_test(
        capsys, tmp_path, cases(PUBLISHED_CASE), "--config", str(tmp_path / "typo.yaml")
    )
    assert (code, out) == (2, "")
    assert err == (
        f"error: {tmp_path}/typo.yaml: 1 error(s):\n"
        f"{tmp_path}/typo.yaml:12:10: rules[0].do[0]: unknown action 'audti' (did you mean "
        "'audit'?)\n"
    )


def test_the_config_is_named_by_the_file_or_by_the_command_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    unnamed = "version: 1\ntests: []\n"
    code, _, err = bridge_test(capsys, tmp_path, unnamed)
    file = tmp_path / "rules.test.yaml"
    assert (code, err) == (
        2,
        f"error: {file}: 1 error(s):\n"
        f"{file}:1:1: config: required key is missing (add 'config: rules.yaml' or pass "
        "--config)\n",
    )
    named = "version: 1\ntests:\n" + PUBLISHED_CASE
    code, out, _ = bridge_test(capsys, tmp_path, named, "--config", str(tmp_path / "rules.yaml"))
    assert (code, out.splitlines()[0]) == (0, "PASS a published item goes to the hook")


def test_help_describes_the_format_and_the_exit_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["test", "--help"])
    out = capsys.readouterr().out
    assert out.startswith("usage: bridge test [-h] [--config FILE] [--json] CASES")
    assert "payload_file: payloads/article_published.json" in out
    assert "exit codes: 0 every case passed, 1 a case failed, 2 the cases file or the" in out


def test_the_documented_cases_file_is_valid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """docs/configuration.md's example uses only keys `bridge test` reads (exit 1, not 2)."""
    docs = (ROOT / "docs/configuration.md").read_text()
    section = docs[docs.index("## `bridge test`") :]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    (tmp_path / "payloads").mkdir()
    (tmp_path / "payloads/article_published.json").write_bytes(PUBLISHED.read_bytes())
    names = ("announce-articles", "log-everything", "ignore-drafts", "log-workflow-steps")
    rules = "".join(f"  - {{name: {name}, do: [content-team, audit]}}\n" for name in names)
    (tmp_path / "rules.yaml").write_text(
        "version: 1\nwebhooks: [{name: production, path: /p, verify: false}]\n"
        "actions: {content-team: {type: log}, audit: {type: log}}\n"
        f"rules:\n{rules}"
    )
    (tmp_path / "rules.test.yaml").write_text(example.group(1))
    code = main(["test", str(tmp_path / "rules.test.yaml")])
    out = capsys.readouterr().out
    assert code == 1
    assert out.startswith("FAIL a published article is announced\nFAIL a workflow move")


def test_a_payload_file_that_never_ends_is_refused_at_the_body_limit(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    body = "  - name: endless\n    payload_file: /dev/zero\n    match: []\n"
    code, _, err = bridge_test(capsys, tmp_path, cases(body))
    assert code == 2
    assert err.splitlines()[-1].endswith(
        "tests[0].payload_file: cannot read payload file '/dev/zero': larger than 5242880 "
        "bytes, the largest body a webhook takes by default"
    )


def test_a_file_name_holding_nul_is_a_problem_of_the_cases_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # open() raised ValueError (embedded null byte) for both names: a traceback, exit 1. The
    # cases file refuses NUL in any string (as the config does); a caller passing such a path
    # to load_config gets an issue too.
    body = '  - name: nul\n    payload_file: "a\\0b.json"\n    match: []\n'
    code, _, err = bridge_test(capsys, tmp_path, cases(body))
    assert code == 2
    assert err.splitlines()[-1] == (
        f"{tmp_path}/rules.test.yaml:5:19: tests[0].payload_file: "
        "the string contains U+0000 (NUL), which the store cannot keep"
    )
    text = cases(body).replace("config: rules.yaml", 'config: "rules\\0.yaml"')
    code, _, err = bridge_test(capsys, tmp_path, text)
    assert code == 2
    assert err.splitlines()[1].endswith(
        ":2:9: config: the string contains U+0000 (NUL), which the store cannot keep"
    )
    with pytest.raises(ConfigError) as raised:
        load_config(f"{tmp_path}/rules\0.yaml")
    assert str(raised.value).endswith(
        ":1:1: cannot read the file: the file name holds a NUL character"
    )
