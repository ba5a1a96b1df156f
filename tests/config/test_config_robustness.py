"""Whatever a user writes, loading ends in a Config or a ConfigError, never another exception."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from bridge.config import Config, ConfigError, parse_config

ActionTypes = dict[str, type]

VALID: dict[str, Any] = {
    "version": 1,
    "webhooks": [{"name": "p", "path": "/p", "secrets": ["s"], "verify": True}],
    "kontent": {"delivery_url": "http://x", "environments": {"e": {"preview_api_key": "k"}}},
    "defaults": {"retry": {"schedule": ["1m"], "give_up_after": "1d"}, "timeout": "5s"},
    "actions": {
        "n": {"type": "notify", "text": "{{ events[-1].name }}", "count": 2, "debounce": "1s"},
        "h": {"type": "build_hook", "url": "http://hook"},
    },
    "rules": [
        {
            "name": "r",
            "when": {
                "type": ["a", "b"],
                "codename": {"glob": "x*", "not": "xy"},
                "any": [{"name": {"regex": "^a"}}],
                "not": {"collection": {"exists": True}},
            },
            "where": [{"path": "$.data.system.name", "gt": 3}],
            "do": ["h", {"action": "n", "with": {"text": "hi", "tags": ["t"]}}],
            "stop": False,
        }
    ],
    "alerts": {"actions": ["n"], "failing_for": "1h"},
}

REPLACEMENTS: list[Any] = [None, 0, -1, "x", "", [], {}, True, "{{", "${UNSET}", [None], {"a": 1}]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from paths(item, (*prefix, index))


def replaced(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
    data = copy.deepcopy(VALID)
    if not path:
        return new  # type: ignore[no-any-return]
    target = data
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = new
    return data


def test_the_base_config_is_valid(action_types: ActionTypes) -> None:
    assert isinstance(parse_config(yaml.safe_dump(VALID), env={}, types=action_types), Config)


@pytest.mark.parametrize("path", list(paths(VALID)), ids=str)
def test_any_value_anywhere_is_a_config_or_a_config_error(
    path: tuple[Any, ...], action_types: ActionTypes
) -> None:
    errors = 0
    for new in REPLACEMENTS:
        text = yaml.safe_dump(replaced(path, new))
        try:
            parse_config(text, env={}, types=action_types)
        except ConfigError as exc:
            errors += 1
            assert exc.issues and all(issue.line >= 1 for issue in exc.issues)
    assert errors > 0  # every position has at least one value it rejects


@pytest.mark.parametrize(
    "text",
    [
        "",
        "---",
        "[]",
        "42",
        "version: 1\n---\nversion: 1\n",
        "{",
        "version: 1\nrules: [[[]]]",
        "version: 1\nactions: {a: }",
        "version: !!python/object:os.system 1",
        "? [a]\n: b",
    ],
)
def test_odd_documents(text: str, action_types: ActionTypes) -> None:
    try:
        parse_config(text, env={}, types=action_types)
    except ConfigError as exc:
        assert str(exc)


def alias_bomb(levels: int) -> str:
    """Nine copies per level: 440 bytes name 9**9 strings (the "billion laughs")."""
    lines = ["version: 1", 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [" + ",".join([f"*l{n - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_quickly_with_its_place() -> None:
    text = alias_bomb(9)
    assert len(text) < 600
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    (issue,) = raised.value.issues
    assert issue.message == (
        "the document expands to more than 200000 values "
        "(are YAML aliases (*name) nested inside each other?)"
    )
    assert issue.line > 1


def test_aliases_a_real_file_uses_still_load() -> None:
    text = (
        "version: 1\n"
        "webhooks: [{name: p, path: /p, secrets: [s]}]\n"
        "actions:\n  a: &common {type: log, debounce: 1s}\n  b: {<<: *common, message: hi}\n"
        "rules: [{name: r, do: [a, b]}]\n"
    )
    config = parse_config(text)
    assert config.actions["b"].options["message"] == "hi"
    assert config.actions["a"].delivery.debounce_s == config.actions["b"].delivery.debounce_s == 1


@pytest.mark.parametrize(
    ("text", "place", "char"),
    [
        ("version: 1\n\x00\n", (2, 1), "U+0000"),
        ('version: 1\nx: "a\x01b"\n', (2, 6), "U+0001"),
        ("version: 1\n# \ufffe\n", (2, 3), "U+FFFE"),
        ("version: 1\n" + "# pad\n" * 20_000 + "x: \x7f\n", (20_002, 4), "U+007F"),
    ],
)
def test_a_character_yaml_refuses_is_an_issue_at_its_place(
    text: str, place: tuple[int, int], char: str
) -> None:
    # The pure-Python reader refuses it while it is built: that was a ReaderError traceback.
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    (issue,) = raised.value.issues
    assert (issue.line, issue.col) == place
    assert issue.message == f"YAML does not allow the character {char} in a file"


@pytest.mark.parametrize("value", ["true", "1.0", "'1'"])
def test_only_the_integer_1_is_version_1(value: str) -> None:
    # `true` and `1.0` equal 1 in Python: both loaded as version 1.
    with pytest.raises(ConfigError) as raised:
        parse_config(f"version: {value}\n")
    (issue,) = raised.value.issues
    assert issue.message.startswith("unsupported version ")


@pytest.mark.parametrize("depth", [65, 5_000, 100_000])
def test_deep_nesting_is_an_error_not_a_crash(depth: int) -> None:
    text = "version: 1\nx: " + "[" * depth + "]" * depth + "\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(text)
    assert [i.message for i in raised.value.issues] == [
        "YAML nesting is too deep (more than 64 levels)"
    ]


@pytest.mark.parametrize("value", [".inf", ".nan", '"999999999d"'])
@pytest.mark.parametrize("key", ["debounce", "max_wait", "timeout", "retry: {give_up_after"])
def test_endless_durations_are_config_errors(key: str, value: str) -> None:
    option = f"{key}: {value}}}" if key.startswith("retry") else f"{key}: {value}"
    text = (
        "version: 1\nwebhooks: [{name: p, path: /p, secrets: [s]}]\n"
        f"actions:\n  a:\n    type: log\n    message: hi\n    {option}\n"
        "rules: [{name: r, do: [a]}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    assert [i.message for i in raised.value.issues] == [
        "a duration can be at most 3650d (ten years)"
    ]
    assert raised.value.issues[0].line == 7


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1" * 5000, "the number has more than 4300 digits"),
        ("-" + "1" * 4400, "the number has more than 4300 digits"),
        ("!!int abc", "'abc' is not a valid !!int value"),
        ('!!int ""', "'' is not a valid !!int value"),
        ('!!float ""', "'' is not a valid !!float value"),
        ("!!bool maybe", "'maybe' is not a valid !!bool value"),
        ("!!timestamp soon", "'soon' is not a valid !!timestamp value"),
    ],
)
def test_scalars_that_do_not_fit_their_type_are_issues(value: str, message: str) -> None:
    # PyYAML's constructors raised ValueError, KeyError, IndexError or AttributeError here.
    with pytest.raises(ConfigError) as raised:
        parse_config(f"version: 1\nwebhooks: [{{name: {value}, path: /p, verify: false}}]\n")
    (issue,) = raised.value.issues
    assert (issue.line, issue.col, issue.path, issue.message) == (
        2,
        19,
        "webhooks[0].name",
        message,
    )


def test_a_date_that_does_not_exist_is_text_like_every_date() -> None:
    text = "version: 1\nwebhooks: [{name: 2024-02-30, path: /p, verify: false}]\n"
    assert parse_config(text).webhooks[0].name == "2024-02-30"


def test_strings_and_keys_the_store_cannot_keep_are_issues() -> None:
    # YAML's "\ud800" escape is a lone surrogate: a webhook or action named so was accepted, and
    # every notification it received failed to store (UnicodeEncodeError in the driver).
    text = (
        'version: 1\nwebhooks: [{name: "p\\ud800", path: /p, verify: false}]\n'
        'actions:\n  l: {type: log, message: "a\\0b"}\n  "m\\0": {type: log, message: hi}\n'
        "rules: [{name: r, do: [l]}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    assert [(i.line, i.path, i.message) for i in raised.value.issues] == [
        (
            2,
            "webhooks[0].name",
            "the string contains a lone surrogate (U+D800), which is not Unicode text",
        ),
        (4, "actions.l.message", "the string contains U+0000 (NUL), which the store cannot keep"),
        (5, "", "the key contains U+0000 (NUL), which the store cannot keep"),
    ]


def test_an_environment_value_that_is_not_utf8_is_an_issue() -> None:
    text = "version: 1\nwebhooks: [{name: p, path: /p, secrets: ['${SECRET}']}]\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={"SECRET": "a\udcff"})  # os.environ's surrogateescape of b"\xff"
    (issue,) = raised.value.issues
    assert (
        issue.message == "the string contains a lone surrogate (U+DCFF), which is not Unicode text"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("10001", "expected a whole number from 1 to 10000"),
        (str(10**30), "expected a whole number from 1 to 10000"),
        ('"99999999999999999999999"', "expected a whole number from 1 to 10000"),
        ("-0x" + "f" * 5000, "expected a whole number of at least 1, got a number"),
    ],
)
def test_concurrency_is_bounded(value: str, message: str) -> None:
    # 10**30 loaded, and every claim of the action then raised OverflowError binding its SQL
    # LIMIT; a negative hex integer past 4300 digits raised ValueError from repr().
    text = (
        "version: 1\nwebhooks: [{name: p, path: /p, verify: false}]\n"
        f"actions: {{l: {{type: log, message: hi, ordering: none, concurrency: {value}}}}}\n"
        "rules: [{name: r, do: [l]}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    assert [(i.path, i.message) for i in raised.value.issues] == [
        ("actions.l.concurrency", message)
    ]
    largest = text.replace(f"concurrency: {value}", "concurrency: 10000")
    assert parse_config(largest, env={}).actions["l"].delivery.concurrency == 10000


def test_max_response_bytes_is_bounded() -> None:
    text = "version: 1\nkontent: {max_response_bytes: 99999999999999999999999}\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    assert [i.message for i in raised.value.issues] == [
        "expected a whole number from 1 to 1073741824"
    ]


def test_an_issue_quoting_a_huge_value_stays_short() -> None:
    # `timeout: <100,000 characters>` printed a line of 100 KB (the message quotes the value).
    text = (
        "version: 1\nwebhooks: [{name: p, path: /p, verify: false}]\n"
        f"actions: {{a: {{type: log, message: hi, timeout: {'x' * 100_000}}}}}\n"
        f"? {'b' * 5000}\n: 1\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    timeout, key = raised.value.issues
    assert timeout.message.startswith("invalid duration 'xxx")
    assert timeout.message.endswith("xxx' (write e.g. 500ms, 30s, 10m, 1h, 3d or 1h30m)")
    assert "... (99065 characters) ..." in timeout.message
    assert len(timeout.message) < 1100 and len(key.path) < 1100


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("not a url", "expected an http:// or https:// URL with a host, got 'not a url'"),
        ("http://", "expected an http:// or https:// URL with a host, got 'http://'"),
        ("http://[::1", "not a valid URL (Invalid IPv6 URL): 'http://[::1'"),
        ("http://a:99999", "not a valid URL (Port out of range 0-65535): 'http://a:99999'"),
    ],
)
def test_api_base_urls_are_urls(url: str, message: str) -> None:
    # kontent.*_url took any text and sources' api_url any text starting http://: every call
    # of the client then failed, or raised aiohttp's InvalidURL.
    text = (
        "version: 1\n"
        f"kontent: {{delivery_url: '{url}', preview_url: '{url}', management_url: '{url}'}}\n"
        "sources: [{name: s, environment_id: 8d6f0e47-3a5b-4c1d-9e2f-0a1b2c3d4e5f, "
        f"api_url: '{url}'}}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    assert [(i.path, i.message) for i in raised.value.issues] == [
        (f"kontent.{key}", message) for key in ("delivery_url", "preview_url", "management_url")
    ] + [("sources[0].api_url", message)]


def test_a_large_document_stops_composing_at_the_value_bound() -> None:
    # libyaml composed every node before the builder counted: 20 MB of [1,1,...] took a minute
    # and 3 GB. Past 1 MiB of text the composer counts, and stops at the 200,001st value.
    text = "version: 1\nx: [" + "1," * 700_000 + "1]\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    (issue,) = raised.value.issues
    assert issue.message == "the document holds more than 200000 values"
    # The 200,001st node: the mapping, two keys, a value and the list come first.
    assert (issue.line, issue.col) == (2, 5 + 2 * (200_001 - 5 - 1))


def test_a_mapping_overrides_what_a_merge_key_gives_it() -> None:
    # The point of `<<: *base` is overriding some of its keys: each override was reported as
    # "duplicate key 'message' (first on line 4)", as flatten_mapping puts merged pairs first.
    text = (
        "version: 1\nwebhooks: [{name: p, path: /p, verify: false}]\n"
        "actions:\n"
        "  a: &base {type: log, message: hi, timeout: 5s}\n"
        "  b:\n    <<: *base\n    message: bye\n"
        "  other: &other {type: log, message: other, timeout: 7s}\n"
        "  c: {<<: [*other, *base]}\n"
        "rules: [{name: r, do: [a, b, c, other]}]\n"
    )
    config = parse_config(text, env={})
    assert config.actions["b"].options == {"message": "bye"}
    assert config.actions["b"].delivery.timeout_s == 5.0
    # Of several merged mappings the earlier wins, as YAML's merge defines.
    assert config.actions["c"].options == {"message": "other"}
    assert config.actions["c"].delivery.timeout_s == 7.0


def test_an_override_is_checked_at_its_own_line_and_own_duplicates_stay_errors() -> None:
    head = (
        "version: 1\nwebhooks: [{name: p, path: /p, verify: false}]\n"
        "actions:\n  a: &base {type: log, message: hi, timeout: 5s}\n"
    )
    tail = "rules: [{name: r, do: [a, b]}]\n"
    with pytest.raises(ConfigError) as raised:
        parse_config(head + "  b: {<<: *base, timeout: bad}\n" + tail, env={})
    assert [(i.line, i.col, i.message) for i in raised.value.issues] == [
        (5, 27, "invalid duration 'bad' (write e.g. 500ms, 30s, 10m, 1h, 3d or 1h30m)"),
    ]
    with pytest.raises(ConfigError) as raised:
        parse_config(head + "  b: {<<: *base, message: bye, message: again}\n" + tail, env={})
    assert [(i.line, i.col, i.message) for i in raised.value.issues] == [
        (5, 32, "duplicate key 'message' (first on line 5)"),
    ]
