"""Every command's --help: what it does, each argument explained, and an example that runs."""

from __future__ import annotations

import argparse
import re
import shlex

import pytest

from bridge.cli import build_parser

EXAMPLES_HEADING = "examples:"  # bridge.cli.common.EXAMPLES_HEADING, written out

pytestmark = pytest.mark.timeout(30)


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(`db`, `upgrade`) and its parser, for every command and task at any depth."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append(((*path, name), sub))
                found += commands(sub, (*path, name))
    return found


COMMANDS = commands(build_parser())
IDS = [" ".join(path) for path, _ in COMMANDS]


def example_lines(help_text: str) -> list[str]:
    """The lines under `examples:`, as a reader would copy them."""
    _, found, after = help_text.partition(f"\n{EXAMPLES_HEADING}\n")
    assert found, "no examples"
    return [line.strip() for line in after.splitlines() if line.strip()]


def as_argv(example: str) -> list[str]:
    """`A=b bridge x --y < f && ...` -> `["x", "--y"]`: what argparse is given."""
    words = shlex.split(re.split(r"&&|\||<", example)[0])
    while "=" in words[0]:
        words.pop(0)
    assert words[0] == "bridge", example
    return words[1:]


def test_every_command_is_listed() -> None:
    assert {"serve", "worker", "check", "explain", "test", "sign", "send", "deliveries"} <= {
        path[0] for path, _ in COMMANDS
    }
    assert ("db", "upgrade") in [path for path, _ in COMMANDS]


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
def test_every_argument_says_what_it_is(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    assert parser.description, path
    unexplained = [
        action.dest
        for action in parser._actions
        if not action.help and not isinstance(action, argparse._SubParsersAction)
    ]
    assert unexplained == []


WITH_EXAMPLES = [(path, parser) for path, parser in COMMANDS if path != ("test",)]


@pytest.mark.parametrize(
    ("path", "parser"), WITH_EXAMPLES, ids=[" ".join(path) for path, _ in WITH_EXAMPLES]
)
def test_every_command_ends_with_examples_that_parse_as_that_command(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    lines = example_lines(parser.format_help())
    assert lines
    for example in lines:
        argv = as_argv(example)
        assert tuple(argv[: len(path)]) == path, example
        args = build_parser().parse_args(argv)  # exits 2, failing the test, if it does not parse
        assert args.command == path[0]


def test_the_rule_tests_help_shows_its_cases_file_and_the_command() -> None:
    """`bridge test` ends with a cases file instead: the example a user needs there."""
    (parser,) = [p for path, p in COMMANDS if path == ("test",)]
    text = parser.format_help()
    assert "example (rules.test.yaml):" in text
    assert "bridge test rules.test.yaml" in text


def test_examples_keep_their_lines_and_descriptions_still_wrap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    (parser,) = [p for path, p in COMMANDS if path == ("send",)]
    text = parser.format_help()
    assert "\n  bridge send --legacy http://localhost:8080/webhooks/kontent legacy.json\n" in text
    description = text.split("\n\n")[1]
    assert len(description.splitlines()) > 1
    assert max(len(line) for line in description.splitlines()) <= 80


# Capitals that are words, not placeholders a reader should look for in the usage line.
ABBREVIATIONS = {"API", "CRLF", "HMAC", "JSON", "POST", "UTC"}


@pytest.mark.parametrize(("path", "parser"), COMMANDS, ids=IDS)
def test_a_description_names_only_placeholders_its_usage_has(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    """`explain` said "as webhook WEBHOOK would" where its usage line says `--webhook NAME`."""
    placeholders = {action.metavar or action.dest.upper() for action in parser._actions}
    capitals = set(re.findall(r"\b[A-Z]{3,}\b", parser.description or ""))
    assert capitals - placeholders - ABBREVIATIONS == set()
