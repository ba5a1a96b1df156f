"""The plugin contract: entry points, broken plugins, the example package, docs and tests."""

from __future__ import annotations

import asyncio
import importlib
import logging
import re
import shutil
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from bridge.actions.base import Action, Resources, Retry
from bridge.actions.registry import GROUP, action_types
from bridge.config import parse_config
from tests.actions.conftest import StartBridge
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder

ROOT = Path(__file__).resolve().parents[2]
COMMON_OPTIONS = {"debounce", "max_wait", "retry", "timeout", "ordering", "enabled"}


def builtin_names() -> list[str]:
    return sorted(
        ep.name
        for ep in entry_points(group=GROUP)
        if ep.dist is not None and ep.dist.name == "kontent-bridge"
    )


@pytest.fixture
def fresh_registry(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """sys.path changes are undone and the registry cache is cleared before and after."""
    action_types.cache_clear()
    modules = set(sys.modules)
    yield monkeypatch
    monkeypatch.undo()
    for name in set(sys.modules) - modules:
        if name.startswith(("bridge_discord", "broken_mod", "ok_mod")):
            del sys.modules[name]
    importlib.invalidate_caches()
    action_types.cache_clear()


def test_builtins_are_registered_through_the_entry_point_group() -> None:
    expected = {
        "log", "http", "netlify", "vercel", "cloudflare_pages", "github_dispatch",
        "gitlab_trigger", "slack", "algolia", "fastly", "cloudflare", "varnish", "email",
        "azure_search", "translate", "trello", "bluesky", "mastodon",
    }  # fmt: skip
    assert set(builtin_names()) == expected
    assert expected <= set(action_types())


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_is_documented_and_tested(name: str) -> None:
    docs = (ROOT / "docs" / "actions.md").read_text()
    assert re.search(rf"^## {re.escape(name)}$", docs, re.MULTILINE), (
        f"docs/actions.md has no '## {name}' section"
    )
    assert (ROOT / "tests" / "actions" / f"test_{name}.py").is_file(), (
        f"no tests/actions/test_{name}.py"
    )


@pytest.mark.parametrize("name", builtin_names())
def test_every_builtin_follows_the_contract(name: str) -> None:
    action = action_types()[name]
    options = action.Options
    assert options.model_config.get("extra") == "forbid"
    assert action.summary, f"{name} has no summary"
    names = {f.alias or key for key, f in options.model_fields.items()}
    assert action.secret_options <= names
    assert action.per_event_options <= names
    assert set(action.defaults) <= COMMON_OPTIONS


def write_distribution(site: Path) -> None:
    """A distribution as pip leaves it: a .dist-info with entry points, beside its modules."""
    info = site / "broken_plugin-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[bridge.actions]\nbroken = broken_mod:Broken\nnot_an_action = ok_mod:thing\n"
    )
    (site / "broken_mod.py").write_text("raise ImportError('needs libfoo')\n")
    (site / "ok_mod.py").write_text("thing = 42\n")


def test_a_broken_plugin_is_a_warning_naming_its_package(
    fresh_registry: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_distribution(tmp_path)
    fresh_registry.syspath_prepend(str(tmp_path))
    with caplog.at_level(logging.WARNING, logger="bridge.actions.registry"):
        types = action_types()
    assert "broken" not in types and "not_an_action" not in types
    assert "slack" in types  # the others still load
    assert "'broken' from package 'broken-plugin' failed to load: needs libfoo" in caplog.text
    assert "'not_an_action' (ok_mod:thing) is not an Action subclass" in caplog.text


@pytest.mark.slow
async def test_the_example_plugin_installs_and_runs(
    fresh_registry: pytest.MonkeyPatch,
    tmp_path: Path,
    resources: Resources,
    make_call: MakeCall,
    start_bridge: StartBridge,
) -> None:
    source = tmp_path / "src"
    shutil.copytree(ROOT / "examples" / "bridge-plugin-example", source)
    site = tmp_path / "site"
    pip = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
        str(source),
    )  # fmt: skip
    assert await pip.wait() == 0
    fresh_registry.syspath_prepend(str(site))
    discord: type[Action] = action_types()["discord"]  # type: ignore[type-arg]
    assert discord.secret_options == {"webhook_url"}

    async with Recorder(status=200, body='{"id": "1"}') as hook:
        url = f"{hook.url}/api/webhooks/1/abc"
        events = [make_event(name="One"), make_event(name="Two")]
        result = await discord("discord-news", resources).send(
            make_call(discord, {"webhook_url": url}, events)
        )
        assert result.status == 200
        assert hook.requests[0].json()["content"].count("\n") == 1
        hook.fail_next(429, {"retry_after": 2}, {"Retry-After": "2"})
        with pytest.raises(Retry) as caught:
            await discord("discord-news", resources).send(make_call(discord, {"webhook_url": url}))
    assert caught.value.delay_s == 2

    await run_through_a_rule(start_bridge)


RULES = """\
version: 1
webhooks:
  - {name: production, path: /webhooks/kontent, secrets: [plugin-secret]}
actions:
  discord-news: {type: discord, webhook_url: "HOOK/api/webhooks/1/abc"}
rules:
  - name: announce
    when: {object_type: content_item, action: published}
    do:
      - action: discord-news
        with: {content: "Published **{{ event.name }}** ({{ event.language }})"}
"""


async def run_through_a_rule(start_bridge: StartBridge) -> None:
    """The installed plugin as users meet it: a type in rules.yaml, run by the bridge's worker."""
    body = ROOT / "tests" / "payloads" / "current" / "content_item_published_published.json"
    async with Recorder(status=204, body="") as hook:
        config = parse_config(RULES.replace("HOOK", hook.url))
        async with start_bridge(config, "plugin-secret") as bridge:
            assert (await bridge.post(body.read_bytes()))["jobs"] == 1
            async with asyncio.timeout(30):
                await hook.wait_for(1)
    posted = [r for r in hook.requests if r.path == "/api/webhooks/1/abc"][-1]
    assert posted.json() == {"content": "Published **This changes everything!** (english)"}
