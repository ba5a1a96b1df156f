"""Action types of our own, so config tests do not depend on which built-ins are installed."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import pytest
from pydantic import model_validator

from bridge.actions.base import Action, ActionOptions
from bridge.actions.log import LogAction
from bridge.config import Config, load_config

FIXTURES = Path(__file__).parent.parent / "fixtures" / "config"


class NotifyOptions(ActionOptions):
    text: str
    channel: str = "#general"
    token: str | None = None
    count: int = 1
    tags: list[str] = []


class Notify(Action[NotifyOptions]):
    Options = NotifyOptions
    secret_options = frozenset({"token"})


class HookOptions(ActionOptions):
    url: str


class BuildHook(Action[HookOptions]):
    Options = HookOptions
    defaults: ClassVar[Mapping[str, Any]] = {"debounce": "60s", "max_wait": "10m"}


class PairOptions(ActionOptions):
    webhook_url: str | None = None
    channel: str | None = None

    @model_validator(mode="after")
    def _one_target(self) -> PairOptions:
        if not (self.webhook_url or self.channel):
            raise ValueError("set webhook_url, or channel")
        return self


class Pair(Action[PairOptions]):
    Options = PairOptions


TYPES: dict[str, type[Action]] = {  # type: ignore[type-arg]
    "notify": Notify,
    "build_hook": BuildHook,
    "pair": Pair,
    "log": LogAction,
}

Loader = Callable[..., Config]


@pytest.fixture
def load(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Loader:
    """`load(yaml_text, env={...})`: writes rules.yaml in a fresh directory and loads it, so
    messages read `rules.yaml:line:col: ...`."""
    monkeypatch.chdir(tmp_path)

    def load(text: str, env: Mapping[str, str] | None = None, name: str = "rules.yaml") -> Config:
        Path(name).write_text(textwrap.dedent(text), encoding="utf-8")
        return load_config(name, env or {}, types=TYPES)

    return load


@pytest.fixture
def load_fixture(monkeypatch: pytest.MonkeyPatch) -> Loader:
    """`load_fixture("unset_env.yaml")` from tests/fixtures/config, named by its file name."""
    monkeypatch.chdir(FIXTURES)

    def load(name: str, env: Mapping[str, str] | None = None) -> Config:
        assert os.path.exists(name), name
        return load_config(name, env or {}, types=TYPES)

    return load


@pytest.fixture
def action_types() -> dict[str, type[Action]]:  # type: ignore[type-arg]
    """The test action types, for tests that call parse_config themselves."""
    return TYPES
