"""The operator table: which operators `when` and `where` take, and that the docs list each."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bridge.config import ConfigError, parse_config
from bridge.config.operators import OPERATORS, written_in
from bridge.config.regex_risk import backtracking_risk, match_ways

DOCS = Path(__file__).parent.parent.parent / "docs" / "configuration.md"


def test_when_and_where_take_their_operators_in_table_order() -> None:
    assert list(written_in("when")) == ["not", "in", "glob", "regex", "exists"]
    assert list(written_in("where")) == ["eq", "in", "regex", "exists", "gt", "lt"]


def test_every_operator_is_in_the_documented_table() -> None:
    text = DOCS.read_text()
    section = text[text.index("### Operators") :]
    table = section[: section.index("\n###")]
    rows = {
        match.group(1): (match.group(2).strip(), match.group(3).strip())
        for match in re.finditer(r"^\| `(\w+)` [^|]*\|([^|]*)\|([^|]*)\|", table, re.M)
    }
    assert set(rows) == {op.name for op in OPERATORS}
    for op in OPERATORS:
        when, where = rows[op.name]
        assert (when != "") == ("when" in op.written_in or op.name == "eq"), op.name
        assert (where != "") == ("where" in op.written_in), op.name


def test_a_nan_to_compare_with_is_an_error() -> None:
    # `gt: .nan` loaded, and the rule then never matched: every comparison with NaN is false.
    for operator in ("gt", "lt"):
        text = (
            "version: 1\nwebhooks: [{name: p, path: /p, verify: false}]\n"
            "actions: {l: {type: log, message: hi}}\n"
            f"rules: [{{name: r, where: [{{path: $.a, {operator}: .nan}}], do: [l]}}]\n"
        )
        with pytest.raises(ConfigError) as raised:
            parse_config(text, env={})
        assert [(i.path, i.message) for i in raised.value.issues] == [
            (
                f"rules[0].where[0].{operator}",
                "expected a number or a string, got .nan (no value is ever compared true with it)",
            )
        ]


@pytest.mark.parametrize(
    ("pattern", "risky"),
    [
        ("(a+)+$", True),
        (r"^(\w+\s?)+$", True),  # the classic: a word, an optional space, repeated
        ("^(?:[a-z]*)*x", True),
        ("((a+))+", True),
        ("(x+x+)+y", True),
        ("x|(a*)*", True),
        ("(?=(a+)+)b", True),
        ("^Breaking", False),
        ("(ab*)+", False),  # each repeat must start with an a: one way to split
        ("(a|b)+", False),
        ("a++", False),  # possessive: never gives back
        (r"^\d{4}-\d{2}$", False),
    ],
)
def test_a_regex_that_can_backtrack_exponentially_is_found(pattern: str, risky: bool) -> None:
    assert (backtracking_risk(pattern) is not None) == risky


@pytest.mark.parametrize(
    ("pattern", "ways"),
    [
        ("^Breaking", 1),
        ("news$", 1),
        ("(?i)^break", 1),
        ("^(news|blog)$", 2),
        ("^(news|blog|press)-(de|en)$", 6),
        (r"\bword\b", 1),
        ("(?<=#)tag", 1),
        (r"(ab)\1", 1),
        ("(a|b)(c|d)(e|f)", 1),  # character sets: one way each
        ("(ab|cd)" * 10, 1024),
        ("(ab|cd)" * 11, None),  # past MAX_WAYS
        ("^Break.*", None),
        ("a{3}", None),
        ("a++", None),
        ("(a|aa)+$", None),
    ],
)
def test_the_ways_a_regex_that_repeats_nothing_can_go(pattern: str, ways: int | None) -> None:
    assert match_ways(pattern) == ways


def test_a_regex_that_can_backtrack_exponentially_loads_with_a_warning_at_its_line() -> None:
    # `(\w+\s?)+$` on 30 letters and a '!' (an item's name) took seconds in the receiver on re;
    # a match now gives up after 50 ms, and the warning says what that costs.
    text = (
        "version: 1\nwebhooks: [{name: p, path: /p, verify: false}]\n"
        "actions: {l: {type: log, message: hi}}\n"
        "rules:\n"
        "  - name: r\n"
        "    when: {name: {regex: '^(\\w+\\s?)+$'}}\n"
        "    do: [l]\n"
    )
    config = parse_config(text, env={})
    (issue,) = [w for w in config.warnings if "regex" in w.path]
    assert (issue.line, issue.path) == (6, "rules[0].when.name.regex")
    assert "tries very many ways to split it" in issue.message
    assert "more than the 50 ms a match may, and then the rule does not run" in issue.message
    assert "(x+)+ as x+" in issue.message
