"""What regexes and globs say about the text they match: a superset, never less."""

from __future__ import annotations

import re

import pytest

from bridge.config.literals import glob_is_literal, glob_prefix, regex_prefix, regex_texts


@pytest.mark.parametrize(
    ("pattern", "texts"),
    [
        ("^item_12$", {"item_12", "item_12\n"}),  # `$` matches before a trailing newline
        ("^(news|blog)$", {"news", "blog", "news\n", "blog\n"}),
        ("^(?:a|b)$", {"a", "b", "a\n", "b\n"}),
        (r"^a\.b\-c$", {"a.b-c", "a.b-c\n"}),  # as re.escape writes literal text
        ("^$", {"", "\n"}),
        ("^a|b$", None),  # (^a)|(b$)
        ("^(a)|(b)$", None),
        ("^a.$", None),
        ("^ab*$", None),
        (r"^\d$", None),
        (r"^a\$", None),  # an escaped dollar is text, not an anchor
        ("item_12$", None),
        ("^item_12", None),
        ("(?i)^a$", None),
        ("^(?=a)a$", None),
    ],
)
def test_anchored_literal_regexes_name_their_texts(pattern: str, texts: set[str] | None) -> None:
    assert regex_texts(re.compile(pattern)) == (None if texts is None else frozenset(texts))


def test_flags_say_nothing() -> None:
    assert regex_texts(re.compile("^a$", re.IGNORECASE)) is None
    assert regex_prefix(re.compile("^a", re.MULTILINE)) is None  # `^` after every newline


@pytest.mark.parametrize(
    ("pattern", "prefix"),
    [
        ("^Breaking", "Breaking"),
        ("^Break.*", "Break"),
        ("^ab*", "a"),  # the b is optional
        ("^ab+", "a"),
        ("^ab{2}", "a"),
        (r"^a\.b", "a.b"),
        (r"^a\d", "a"),
        ("^(a|b)", None),
        ("^a|b", None),
        ("^.x", None),
        ("Breaking", None),
        ("(?i)^Breaking", None),
    ],
)
def test_anchored_regexes_name_a_prefix(pattern: str, prefix: str | None) -> None:
    assert regex_prefix(re.compile(pattern)) == prefix


@pytest.mark.parametrize(
    "pattern", ["^item_12$", "^(news|blog)$", "^Breaking", "^ab*", r"^a\.b\-c$", "^$"]
)
def test_what_they_name_is_a_superset_of_what_matches(pattern: str) -> None:
    compiled = re.compile(pattern)
    samples = ["item_12", "item_12\n", "item_123", "news", "blog\n", "Breaking news", "a", "ab"]
    samples += ["abbb", "a.b-c", "", "\n", "Break", "x"]
    texts, prefix = regex_texts(compiled), regex_prefix(compiled)
    for sample in samples:
        if compiled.search(sample):
            assert texts is None or sample in texts
            assert prefix is None or sample.startswith(prefix)


def test_glob_literals() -> None:
    assert (glob_prefix("blog_*"), glob_prefix("a?b"), glob_prefix("[ab]x")) == ("blog_", "a", "")
    assert glob_is_literal("blog") and not glob_is_literal("blog_*")
