# ruff: noqa: E501  (exact messages, one per line)
"""`sources:` in rules.yaml: `bridge check` accepts a realistic section and reports every
problem of a bad one as `file:line:col: path: message`, like the rest of the config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.config import ConfigError, load_config, parse_config
from bridge.config.model import SourceConfig
from bridge.redaction import secrets_of

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config" / "sources"
ENV_ID = "8d6f0e47-3a5b-4c1d-9e2f-0a1b2c3d4e5f"
ENV = {"KONTENT_WEBHOOK_SECRET": "s3cret", "KONTENT_PREVIEW_KEY": "preview-key"}


def test_check_accepts_a_realistic_sources_section(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(FIXTURES)
    assert main(["check", "realistic.yaml"]) == 0
    assert capsys.readouterr().out == "OK: 1 webhooks, 1 actions, 1 rules, 2 sources\n"


def test_sources_take_their_keys_from_the_environment_entry() -> None:
    config = load_config(FIXTURES / "realistic.yaml", ENV | {"KONTENT_SECURE_KEY": "secure"})
    assert config.sources == (
        SourceConfig(
            name="production",
            environment_id=ENV_ID,
            slot="published",
            interval_s=300.0,
            preview_api_key="preview-key",
            secure_access_key="secure",
        ),
        SourceConfig(
            name="preview",
            environment_id=ENV_ID,
            slot="preview",
            interval_s=30.0,
            preview_api_key="preview-key",
            secure_access_key="secure",
        ),
    )
    assert [s.webhook for s in config.sources] == ["sync:production", "sync:preview"]


def test_check_reports_every_problem_of_a_bad_sources_section(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(FIXTURES)
    assert main(["check", "several_errors.yaml"]) == 1
    err = capsys.readouterr().err
    issues = [line for line in err.splitlines() if line.startswith("several_errors.yaml:")]
    assert issues == [
        "several_errors.yaml:5:11: sources[0].slot: expected 'published' or 'preview', got 'live'",
        "several_errors.yaml:6:5: sources[0].intervall: unknown key 'intervall' (did you mean 'interval'?)",
        f"several_errors.yaml:9:11: sources[1].slot: the preview slot needs a preview_api_key (on the source or under kontent.environments['{ENV_ID}'])",
        "several_errors.yaml:10:15: sources[1].interval: must be at least 1s, got '500ms'",
        "several_errors.yaml:11:11: sources[2].name: duplicate source 'production' (first defined on line 3)",
        "several_errors.yaml:13:14: sources[2].api_url: expected an http:// or https:// URL with a host, got 'deliver.kontent.ai/v2'",
        "several_errors.yaml:14:5: sources[3].environment_id: required key is missing",
    ]


def test_the_commented_example_in_rules_example_yaml_loads(tmp_path: Path) -> None:
    example = (Path(__file__).parent.parent.parent / "rules.example.yaml").read_text()
    lines, inside = [], False
    for line in example.splitlines():
        starts = line.startswith(("# sources:", "# kontent:"))
        inside = starts or (inside and line.startswith("#  "))
        lines.append(line[2:] if inside else line)
    path = tmp_path / "rules.yaml"
    path.write_text("\n".join(lines) + "\n")
    config = load_config(path, {})
    assert [(s.name, s.slot, s.interval_s) for s in config.sources] == [
        ("production", "published", 300.0)
    ]


def test_keys_given_on_a_source_are_redacted_like_the_environment_keys() -> None:
    text = (FIXTURES / "realistic.yaml").read_text()
    text = text.replace(
        "    slot: preview\n", "    slot: preview\n    preview_api_key: own-preview-key\n"
    )
    config = parse_config(text, env=ENV)
    assert config.sources[1].preview_api_key == "own-preview-key"
    assert {"own-preview-key", "preview-key"} <= secrets_of(config)


@pytest.mark.parametrize("env_id", ["../other", "a/b", "a?x=1", "id#frag", "a b", ".."])
def test_an_environment_id_that_is_no_url_segment_is_an_error(env_id: str) -> None:
    # It went into <api_url>/<id>/sync as written: '/', '?' or '..' sent the keys elsewhere.
    text = (
        "version: 1\n"
        f"sources: [{{name: s, environment_id: {json.dumps(env_id)}, "
        "secure_access_key: k}]\n"
    )
    with pytest.raises(ConfigError) as raised:
        parse_config(text, env={})
    assert [(i.path, i.message) for i in raised.value.issues] == [
        (
            "sources[0].environment_id",
            "expected an environment id (letters, digits and '-', as in "
            f"8d6f0e47-3a5b-4c1d-9e2f-0a1b2c3d4e5f), got {env_id!r}",
        )
    ]
