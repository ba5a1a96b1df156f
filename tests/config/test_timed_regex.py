"""Rules' regexes: re's syntax and answers, matched by `regex` with a bound on each match."""

from __future__ import annotations

import re
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.config.regex_risk import backtracking_risk
from bridge.config.timed_regex import (
    MAX_TEXT_CHARS,
    PLAN_REGEX_BUDGET_S,
    SLOW_MATCH_S,
    UNTIMED_STEPS,
    PatternError,
    RegexBudgetSpent,
    RegexTimeout,
    budget,
    compile_pattern,
    plan_budget,
)

# Catastrophic on a backtracking engine, and not the shape regex_risk looks for. On `re` the
# first ran for over 30 s (killed), the second 6.2 s with 34 a's and about 1.6 times as long
# for each one more; here each gives up after its 50 ms.
CRAFTED = [
    ("(a|a)*$", "a" * 27 + "!"),
    ("(a|aa)+$", "a" * 40 + "!"),
    ("(\\d|\\d\\d)+$", "1" * 40 + "!"),
]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(("pattern", "text"), CRAFTED)
def test_a_catastrophic_match_the_load_check_misses_is_given_up(pattern: str, text: str) -> None:
    assert backtracking_risk(pattern) is None
    compiled = compile_pattern(pattern)
    with pytest.raises(RegexTimeout) as given_up:
        compiled.search(text)
    assert given_up.value.regex is compiled
    assert given_up.value.length == len(text)
    assert not given_up.value.too_long
    assert given_up.value.words() == (
        f"regex {pattern!r} gave up after 50 ms on a value of {len(text)} characters"
    )


@pytest.mark.timeout(10)
def test_a_pattern_the_regex_engine_matches_quickly_answers() -> None:
    # (.*a){20} takes re a tenth of a second on 39 characters; regex answers in microseconds.
    assert compile_pattern("(.*a){20}").search("a" * 19 + "x" * 20) is False
    assert compile_pattern("(a+)+$").search("a" * 30 + "!") is False


@pytest.mark.parametrize(
    ("pattern", "text"),
    [
        ("^Breaking", "Breaking news"),
        ("^Breaking", "Not Breaking"),
        ("news$", "News today"),
        ("news$", "good news\n"),  # `$` matches before a final newline
        ("news\\Z", "good news\n"),
        ("(?i)^break", "BREAKING"),
        ("(?i)straße", "STRASSE"),  # simple case folding, as re: no match
        ("(?i)k", "\u212a"),  # the Kelvin sign folds to k
        ("(?m)^b", "a\nb"),
        ("(?s)a.b", "a\nb"),
        ("(?a)\\w+$", "caf\u00e9"),
        ("\\w+$", "caf\u00e9"),
        ("\\d", "\u0663"),  # Arabic-Indic three is a digit
        ("\\bnews\\b", "newsroom"),
        ("(?<=#)tag", "#tag"),
        ("(?<!#)tag", "#tag"),
        ("(?P<q>['\"]).*(?P=q)", "say 'hi'"),
        ("(a)\\1", "aa"),
        ("a++b", "aaab"),
        ("(?>a+)ab", "aaab"),
        ("\\N{EM DASH}", "a \u2014 b"),
        ("[\\u00e0-\\u00ff]", "na\u00efve"),
        ("(?x) ^ item _ \\d+ $  # a codename", "item_12"),
        ("x{2,3}", "axxb"),
        ("a{,2}b", "b"),
        ("a\\{e\\}", "a{e}"),
        ("{}", "{}"),
        ("[{e}]", "e"),
    ],
)
def test_ordinary_patterns_answer_as_re_does(pattern: str, text: str) -> None:
    assert compile_pattern(pattern).search(text) is (re.search(pattern, text) is not None)


# Pieces of patterns and texts where the two engines could part: flags, classes, braces, sets,
# lookarounds, comments, Unicode case and word characters.
PIECES = [
    *"ab.^$|()[]{}*+?-,:=!<>#ideas0123 \n\\",
    *["\\d", "\\w", "\\s", "\\b", "\\A", "\\Z", "\\1", "\\{", "\\[", "\\u00e9", "\\x41", "\\t"],
    *["(?:", "(?P<n>", "(?P=n)", "(?=", "(?!", "(?<=", "(?<!", "(?#{e})", "(?>", "(?i:"],
    *["(?i)", "(?m)", "(?s)", "(?x)", "(?a)", "++", "*+", "{2}", "{1,3}", "{,2}", "{ 2}"],
    *["{e}", "{s<=1}", "[:", ":]", "[:alpha:]", "[[", "[^", "\\N{DIGIT ZERO}"],
    *["\u00e9", "\u00df", "\u212a", "\u017f"],  # é, ß, the Kelvin sign, the long s
]
ALPHABET = "abAB01_ -\n{}[]:es<=#\u00e9\u00dfKk\u212a\u017f"


@settings(max_examples=1000, deadline=None, derandomize=True)
@given(pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=8), data=st.data())
def test_what_loads_answers_as_re_does(pieces: list[str], data: st.DataObject) -> None:
    pattern = "".join(pieces)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            expected = re.compile(pattern)
        compiled = compile_pattern(pattern)
    except (re.error, PatternError):
        return
    # Random texts, and texts made of the pattern's own pieces (what a literal reading matches).
    own = st.lists(st.sampled_from([*pieces, *ALPHABET]), min_size=1, max_size=6).map("".join)
    texts = data.draw(st.lists(st.text(ALPHABET, min_size=1, max_size=12) | own, min_size=4))
    for text in texts:  # not "": there `\B` matches for regex, and for re only from Python 3.14
        assert compiled.search(text) is (expected.search(text) is not None), (pattern, text)


@pytest.mark.parametrize(
    ("pattern", "text", "clocked"),
    [
        ("^Breaking", "Breaking news", False),
        ("news$", "Breaking news", False),
        ("^(news|blog)$", "news", False),
        ("^Break.*", "Breaking news", True),  # a repeat: only the clock bounds it
        ("news$", "x" * MAX_TEXT_CHARS, False),  # 5 steps a character: 50,000
        ("n" * 30 + "$", "x" * MAX_TEXT_CHARS, True),  # 31 a character: more than UNTIMED_STEPS
        ("(a|aa)" * 6 + "b", "a" * 100, True),  # 64 ways of 37 characters, on 100 of them
    ],
)
def test_a_search_that_can_take_many_steps_is_clocked(
    pattern: str, text: str, clocked: bool
) -> None:
    assert UNTIMED_STEPS == 200_000
    compiled = compile_pattern(pattern)
    assert compiled.clocked(len(text)) is clocked
    expected = re.search(pattern, text) is not None
    assert compiled.search(text) is expected
    with budget(1.0):
        assert compiled.search(text) is expected
    with budget(0.0), pytest.raises(RegexBudgetSpent):  # unclocked searches spend it too
        compiled.search(text)


def test_a_value_longer_than_the_limit_is_not_searched() -> None:
    # The engine looks at its clock every 256 steps, and a step can scan the whole text: on a
    # million spaces `\s+$` took 0.9 s for 50 ms. Past the limit, no search at all.
    compiled = compile_pattern("^Breaking")
    assert compiled.search("Breaking" + "x" * (MAX_TEXT_CHARS - 8)) is True
    with pytest.raises(RegexTimeout) as given_up:
        compiled.search("Breaking" + "x" * MAX_TEXT_CHARS)
    assert given_up.value.too_long
    assert given_up.value.words() == (
        "regex '^Breaking' was not run on a value of 10,008 characters, more than the 10,000 "
        "a regex condition reads"
    )


@pytest.mark.timeout(10)
def test_a_budget_is_shared_by_the_searches_inside_it() -> None:
    ordinary, crafted = compile_pattern("^Break.*"), compile_pattern("(a|aa)+$")
    with budget(1.0):
        assert ordinary.search("Breaking") is True
        with pytest.raises(RegexTimeout):  # its own 50 ms ran out first
            crafted.search("a" * 40 + "!")
    with budget(0.01), pytest.raises(RegexBudgetSpent):  # the budget ran out first
        crafted.search("a" * 40 + "!")
    with budget(0.0), pytest.raises(RegexBudgetSpent):
        ordinary.search("Breaking")
    assert ordinary.search("Breaking") is True  # outside a budget, only the match's own bound


@pytest.mark.timeout(30)
def test_once_a_plans_slow_matches_spent_its_budget_every_further_match_is_given_up() -> None:
    ordinary, crafted = compile_pattern("^Break.*"), compile_pattern("(a|aa)+$")
    with plan_budget() as plan:
        assert ordinary.search("Breaking") is True
        assert plan.left_s == PLAN_REGEX_BUDGET_S  # an honest match spends nothing
        assert crafted.search("a" * 18 + "!") is False  # slow, not given up: it spends
        assert plan.left_s < PLAN_REGEX_BUDGET_S - SLOW_MATCH_S
        timeouts = 0
        while plan.left_s > 0:
            with pytest.raises(RegexTimeout) as given_up:
                crafted.search("a" * 40 + "!")
            assert not given_up.value.unrun
            timeouts += 1
        assert timeouts <= PLAN_REGEX_BUDGET_S / 0.05
        for regex in (crafted, ordinary):  # given up at once, whatever the pattern
            with pytest.raises(RegexTimeout) as given_up:
                regex.search("Breaking")
            assert given_up.value.unrun and given_up.value.length == 8
        assert plan.given_up == 2
        with plan_budget() as nested:  # one payload explained as a whole shares one budget
            assert nested is plan
    assert given_up.value.words() == (
        "regex '^Break.*' was given up without running on a value of 8 characters: the slow "
        "regex matches of the same batch had already taken 1 s, all it allows"
    )
    assert ordinary.search("Breaking") is True  # the next plan, or none, starts afresh
    with plan_budget() as fresh:
        assert fresh is not plan and fresh.left_s == PLAN_REGEX_BUDGET_S


def test_a_too_long_value_under_a_budget_is_not_a_spent_budget() -> None:
    with budget(0.01), pytest.raises(RegexTimeout):
        compile_pattern("x+").search("x" * (MAX_TEXT_CHARS + 1))


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        (
            "item{s}",
            "'{' at position 4 is literal text for Python's re but starts a fuzzy-matching "
            "constraint for the regex engine that runs rules' regexes: write \\{ for a literal "
            "brace",
        ),
        (
            "a{e<=1}",
            "'{' at position 1 is literal text for Python's re but starts a fuzzy-matching "
            "constraint for the regex engine that runs rules' regexes: write \\{ for a literal "
            "brace",
        ),
        (
            # re reads the literal text 'a{s'; for regex it is an unclosed constraint
            "a{s",
            "'{' at position 1 is literal text for Python's re but starts a fuzzy-matching "
            "constraint for the regex engine that runs rules' regexes: write \\{ for a literal "
            "brace",
        ),
        (
            "[a[:digit:]]",
            "'[:' at position 2 is literal text in a set for Python's re but a POSIX class "
            "such as [:digit:] for the regex engine that runs rules' regexes: write \\[ for a "
            "literal bracket",
        ),
        (
            "(?x) a{ 2}",
            "'{ 2}' at position 6 is literal text for Python's re, which takes no spaces in a "
            "repeat count even in a verbose pattern, but a repeat count for the regex engine "
            "that runs rules' regexes: write {2}, or \\{ for a literal brace",
        ),
    ],
)
def test_a_pattern_the_engines_would_read_differently_is_refused(
    pattern: str, message: str
) -> None:
    re.compile(pattern)  # valid for re
    with pytest.raises(PatternError) as refused:
        compile_pattern(pattern)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    "pattern",
    [
        "\\N{digit zero}",  # a named character, not a constraint
        "[\\N{digit zero}]x",
        "(?#{e})a",  # a comment
        "(?x) a  # {e}\n b",  # a verbose comment
        "[a\\[:digit:]]",
        "a\\{e\\}",
        "x{1,3}y{,2}",
        "a{",
    ],
)
def test_braces_and_brackets_both_engines_read_alike_are_accepted(pattern: str) -> None:
    assert compile_pattern(pattern).pattern == pattern


def test_re_errors_keep_their_own_message() -> None:
    with pytest.raises(PatternError) as refused:
        compile_pattern("(unclosed")
    assert str(refused.value) == "missing ), unterminated subpattern at position 0"
