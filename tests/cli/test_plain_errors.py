# ruff: noqa: E501  (the expected messages are exact, one per line)
"""Configuration errors in words a person acts on, as `bridge check` prints them: an empty
environment variable is named (not the URL format problem it causes), YAML indentation mistakes
say which line is out of line and with what it should line up, and what `bridge check` refuses
because it would certainly fail later (a templated scheme or host, `{{ event.nam }}`)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.cli import main
from bridge.config import ConfigError, parse_config
from bridge.config.document import parse_document

pytestmark = pytest.mark.timeout(60)

EMPTY_VARIABLES = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["${KONTENT_WEBHOOK_SECRET}"]
actions:
  rebuild-site: {type: netlify, url: "${NETLIFY_BUILD_HOOK}"}
  content-team: {type: slack, token: "${SLACK_BOT_TOKEN}", channel: "#content"}
rules:
  - name: all
    when: {object_type: content_item}
    do: [rebuild-site, content-team]
"""


def _check(tmp_path: Path, text: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    code = main(["check", str(path)])
    return code, capsys.readouterr().err.replace(str(tmp_path) + "/", "")


def test_an_empty_variable_is_named_where_it_breaks_the_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("KONTENT_WEBHOOK_SECRET", "NETLIFY_BUILD_HOOK", "SLACK_BOT_TOKEN"):
        monkeypatch.setenv(name, "")
    code, err = _check(tmp_path, EMPTY_VARIABLES, capsys)
    assert (code, err.splitlines()) == (
        1,
        [
            "error: rules.yaml: 3 error(s):",
            "rules.yaml:5:15: webhooks[0].secrets[0]: environment variable 'KONTENT_WEBHOOK_SECRET' is empty: secret is empty (is its variable set?)",
            "rules.yaml:7:38: actions.rebuild-site.url: environment variable 'NETLIFY_BUILD_HOOK' is empty: action 'rebuild-site' option 'url': url must start with http:// or https:// written literally",
            "rules.yaml:12:24: rules[0].do[1]: environment variable 'SLACK_BOT_TOKEN' is empty: action 'content-team': give token and channel (chat.postMessage) or webhook_url",
        ],
    )


def test_an_empty_secret_file_is_named(tmp_path: Path) -> None:
    secret = tmp_path / "hook"
    secret.write_text("\n")
    text = EMPTY_VARIABLES.replace("${KONTENT_WEBHOOK_SECRET}", "s3cret-value")
    with pytest.raises(ConfigError) as caught:
        parse_config(
            text, env={"NETLIFY_BUILD_HOOK_FILE": str(secret), "SLACK_BOT_TOKEN": "xoxb-1"}
        )
    assert str(caught.value) == (
        f"rules.yaml:7:38: actions.rebuild-site.url: the file NETLIFY_BUILD_HOOK_FILE names ('{secret}') is empty: action 'rebuild-site' option 'url': url must start with http:// or https:// written literally"
    )


def test_an_empty_variable_where_empty_is_allowed_is_no_error() -> None:
    text = EMPTY_VARIABLES.replace(
        "${NETLIFY_BUILD_HOOK}", "https://api.netlify.com/hooks/1${SUFFIX}"
    )
    config = parse_config(
        text,
        env={"KONTENT_WEBHOOK_SECRET": "s3cret-value", "SLACK_BOT_TOKEN": "xoxb-1", "SUFFIX": ""},
    )
    assert [a for a in config.actions] == ["rebuild-site", "content-team"]


# -- YAML indentation --------------------------------------------------------------------------

INDENTATION = [
    (
        "version: 1\nactions:\n  audit:\n    type: log\n      message: hi\n",
        "rules.yaml:5:7: YAML indentation: this line is indented more than the line before it (line 4), but line 4 holds a value ('type: log'), not the start of a list or a mapping: indent this line 4 spaces, like line 4, if it belongs beside it",
    ),
    (
        "version: 1\nactions:\n  audit:\n    type: log\n   message: hi\n",
        "rules.yaml:5:4: YAML indentation: this line is indented 3 spaces, which lines up with no line above it: the keys of one mapping (and the '-' of one list) must start in the same column. Indent it 4 spaces (line 4: 'type: log') or 2 spaces (line 3: 'audit:'), whichever it belongs with",
    ),
    (
        "version: 1\nrules:\n  - name: a\n    when: {object_type: x}  # a comment\n     do: [audit]\n",
        "rules.yaml:5:6: YAML indentation: this line is indented more than the line before it (line 4), but line 4 holds a value ('when: {object_type: x}'), not the start of a list or a mapping: indent this line 4 spaces, like line 4, if it belongs beside it",
    ),
    (
        "version: 1\nrules:\n  - name: a\n\n   do: [audit]\n",
        "rules.yaml:5:4: YAML indentation: this line is indented 3 spaces, which lines up with no line above it: the keys of one mapping (and the '-' of one list) must start in the same column. Indent it 4 spaces (line 3: 'name: a') or 2 spaces (line 3: '- name: a'), whichever it belongs with",
    ),
    (
        "version: 1\nwebhooks:\n  - name: production\n  path: /webhooks/kontent\n",
        "rules.yaml:4:3: YAML indentation: this line starts in the column of the '-' on line 3, where YAML expects the next list item: indent it 4 spaces, like 'name: production' on line 3, to add it to that item, or start it with '- ' to make it a new item",
    ),
    (
        "version: 1\nactions:\n\taudit: {type: log}\n",
        "rules.yaml:3:1: YAML indentation: this line is indented with a tab: YAML indents with spaces only (use spaces)",
    ),
    (
        "version: 1\nactions:\n  audit:\n    type: log\n    message: Published: {{ event.name }}\n",
        "rules.yaml:5:5: YAML syntax error: the value of 'message' contains ': ' (a colon and a space), which YAML reads as the start of another key: put the whole value in quotes",
    ),
]


@pytest.mark.parametrize(("text", "expected"), INDENTATION, ids=range(len(INDENTATION)))
def test_indentation_errors_in_plain_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    code, err = _check(tmp_path, text, capsys)
    assert (code, err) == (1, f"error: rules.yaml: 1 error(s):\n{expected}\n")


@pytest.mark.parametrize("text", [text for text, _ in INDENTATION[:5]])
def test_each_indentation_case_is_one_pyyaml_would_word_as_a_parser(text: str) -> None:
    """The cases above are the parser errors users met, not ones this module made up."""
    with pytest.raises(yaml.MarkedYAMLError) as caught:
        yaml.safe_load(text)
    assert "expected <block end>" in str(caught.value) or "mapping values" in str(caught.value)


def test_other_syntax_errors_keep_the_parser_words() -> None:
    """Where the parser gave up (line 3) looks fine; the line the `{` opened on is named too."""
    doc = parse_document("version: 1\nactions: {audit: {type: log}\nrules: []\n", "rules.yaml", {})
    assert [str(issue) for issue in doc.errors] == [
        "rules.yaml:3:1: YAML syntax error: while parsing a flow mapping that starts at line 2, column 10: expected ',' or '}', but got '<scalar>': is its closing '}' missing?"
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "version: 1\nrules: [a, b\nactions: {}\n",
            "rules.yaml:3:8: YAML syntax error: while parsing a flow sequence that starts at line 2, column 8: expected ',' or ']', but got ':': is its closing ']' missing?",
        ),
        (
            'version: 1\nactions:\n  a: {type: log, message: "hello}\n  b: {type: log}\n',
            "rules.yaml:5:1: YAML syntax error: while scanning a quoted scalar that starts at line 3, column 27: found unexpected end of stream",
        ),
        # On one line, the column says it all.
        (
            "version: 1\nactions: {a: {type: log, message: [x, y}}\n",
            "rules.yaml:2:40: YAML syntax error: while parsing a flow sequence: expected ',' or ']', but got '}': is its closing ']' missing?",
        ),
    ],
)
def test_an_unclosed_bracket_or_quote_names_the_line_it_opened_on(text: str, expected: str) -> None:
    assert [str(issue) for issue in parse_document(text, "rules.yaml", {}).errors] == [expected]


def test_a_child_of_a_line_ending_with_a_colon_is_not_called_misindented() -> None:
    """Deeper indentation after `key:` is YAML's nesting; the error there is something else."""
    doc = parse_document(
        "version: 1\nactions:\n      audit: {type: log}\n    x: 1\n", "rules.yaml", {}
    )
    assert [issue.message for issue in doc.errors] == [
        "YAML indentation: this line is indented 4 spaces, which lines up with no line above it: the keys of one mapping (and the '-' of one list) must start in the same column. Indent it 6 spaces (line 3: 'audit: {type: log}') or 0 spaces (line 2: 'actions:'), whichever it belongs with"
    ]


# -- what `bridge check` refuses because it would fail at send time (landed with issue 10) -----

TEMPLATED = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["s3cret-value"]
actions:
  hook: {type: http, url: "https://{{ event.codename }}.example.com/build"}
  audit: {type: log, message: "{{ event.nam }} changed"}
rules:
  - name: all
    when: {object_type: content_item}
    do: [hook, audit]
"""


def test_check_refuses_a_templated_host_and_an_unknown_event_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, err = _check(tmp_path, TEMPLATED, capsys)
    assert (code, err.splitlines()) == (
        1,
        [
            "error: rules.yaml: 2 error(s):",
            "rules.yaml:7:27: actions.hook.url: action 'hook' option 'url': a template may fill the path or query only; write the scheme and host literally (https://host/...{{ ... }})",
            "rules.yaml:8:31: actions.audit.message: action 'audit' option 'message': template refers to event.nam, which is not an Event field (did you mean 'name'?)",
        ],
    )


# -- robustness: the wording never replaces an error by a crash --------------------------------

_LINE = st.tuples(
    st.sampled_from(["", " ", "  ", "   ", "    ", "\t", "      "]),
    st.sampled_from(["", "- ", "- - ", "-"]),
    st.sampled_from(
        ["key", "a b", "#c", "'q'", "{x: 1", "[1", "|", ">-", "...", "---", "&a", "*a"]
    ),
    st.sampled_from(["", ":", ": v", ": a: b", ": {", " # note", ":\t1"]),
).map("".join)


@settings(max_examples=400, derandomize=True, deadline=None)
@given(st.lists(_LINE, min_size=1, max_size=8))
def test_any_misindented_text_gets_an_issue_inside_the_text_or_none(lines: list[str]) -> None:
    text = "\n".join(lines) + "\n"
    doc = parse_document(text, "rules.yaml", {})
    for issue in doc.errors:
        assert 1 <= issue.line <= len(lines) + 1, issue
        assert issue.col >= 1 and issue.message
