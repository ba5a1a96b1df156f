"""Hot reload: valid files swap in whole, invalid ones change nothing and say why, by line."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge import metrics
from bridge.app import create_app
from bridge.config import load_config
from bridge.delivery.store import Store
from bridge.reload import Reloader, ReloadState
from bridge.runtime import Runtime
from bridge.settings import Settings
from bridge.signatures import sign

SECRET = "reload-secret-value"
OLD = f"""\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["{SECRET}"]
actions:
  audit: {{type: log}}
rules:
  - name: content
    when: {{object_type: content_item}}
    do: [audit]
"""
NEW = (
    OLD
    + """\
  - name: content-v2
    when: {object_type: content_item}
    do: [audit-v2]
"""
).replace(
    "actions:\n  audit: {type: log}\n", "actions:\n  audit: {type: log}\n  audit-v2: {type: log}\n"
)
BROKEN = NEW.replace("do: [audit-v2]", "do: [audit-v3]")


def write(path: Path, text: str) -> None:
    """Replace the file's content (an editor saving)."""
    path.write_text(text)


class Recorder:
    """A runtime that only records swaps (for the reloader's own behaviour)."""

    def __init__(self) -> None:
        self.configs: list[Any] = []
        self.swapped = asyncio.Event()

    async def swap(self, config: Any) -> None:
        self.configs.append(config)
        self.swapped.set()


def reload_metrics() -> dict[str, float]:
    text = metrics.current().exposition().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("bridge_config_"):
            name, value = line.rsplit(" ", 1)
            values[name] = float(value)
    return values


@pytest.fixture(autouse=True)
def fresh_metrics() -> None:
    metrics.reset()


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(OLD)
    return path


async def test_a_valid_file_is_swapped_in(rules_file: Path) -> None:
    runtime = Recorder()
    reloader = Reloader(rules_file, runtime, state=ReloadState())
    write(rules_file, NEW)
    assert await reloader.reload() is True
    [config] = runtime.configs
    assert [r.name for r in config.rules] == ["content", "content-v2"]
    assert reloader.state.ok is True and reloader.state.loaded is True
    assert reload_metrics()["bridge_config_last_reload_successful"] == 1.0


async def test_an_invalid_file_keeps_the_running_config_and_logs_each_error_by_line(
    rules_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runtime = Recorder()
    reloader = Reloader(rules_file, runtime, state=ReloadState())
    reloader.mark_loaded()
    write(rules_file, BROKEN)
    with caplog.at_level(logging.ERROR, logger="bridge.reload"):
        assert await reloader.reload() is False
    assert runtime.configs == []
    assert reloader.state.loaded is True  # the old config still runs: still ready
    assert reloader.state.ok is False
    [error] = reloader.state.errors
    assert error.startswith(f"{rules_file}:15:")
    assert "audit-v3" in error
    assert any(error in r.getMessage() for r in caplog.records)
    values = reload_metrics()
    assert values["bridge_config_last_reload_successful"] == 0.0
    assert values["bridge_config_last_reload_timestamp_seconds"] > 0


async def test_the_watcher_reloads_once_the_new_content_is_stable(rules_file: Path) -> None:
    runtime = Recorder()
    reloader = Reloader(rules_file, runtime, state=ReloadState())
    assert await reloader.poll_once() is None  # nothing changed
    write(rules_file, NEW)
    assert await reloader.poll_once() is None  # changed: wait one poll for the writer to finish
    assert await reloader.poll_once() is True
    assert await reloader.poll_once() is None  # already loaded
    write(rules_file, BROKEN)
    await reloader.poll_once()
    assert await reloader.poll_once() is False
    assert await reloader.poll_once() is None  # a bad file is reported once, not every second
    assert len(runtime.configs) == 1


async def test_sighup_reloads(rules_file: Path) -> None:
    runtime = Recorder()
    reloader = Reloader(rules_file, runtime, interval_s=3600, state=ReloadState())
    reloader.start()
    try:
        assert reloader._signal_installed, "SIGHUP handler not installed: sending it would kill us"
        write(rules_file, NEW)
        os.kill(os.getpid(), signal.SIGHUP)
        await asyncio.wait_for(runtime.swapped.wait(), 10)
    finally:
        await reloader.stop()
    assert [r.name for r in runtime.configs[0].rules] == ["content", "content-v2"]


def notification(n: int) -> bytes:
    item = {
        "data": {"system": {"id": f"item-{n}", "name": f"Item {n}", "codename": f"item_{n}"}},
        "message": {"object_type": "content_item", "action": "published"},
    }
    return json.dumps({"notifications": [item]}).encode()


async def test_reloads_while_notifications_arrive_lose_nothing_and_never_mix_configs(
    rules_file: Path, sqlite_store: Store
) -> None:
    app = create_app(
        Settings(config=rules_file),
        config=load_config(rules_file),
        store=sqlite_store,
        workers=False,
    )
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        runtime: Runtime = app.state.runtime
        reloader = Reloader(rules_file, runtime, state=ReloadState())
        stop = asyncio.Event()
        answers: list[int] = []
        sent = asyncio.Event()

        async def send() -> None:
            n = 0
            while not stop.is_set() or n < 20:
                body = notification(n)
                headers = {
                    "Content-Type": "application/json",
                    "X-Kontent-ai-Signature": sign(body, SECRET),
                }
                answer = await client.post("/webhooks/kontent", content=body, headers=headers)
                answers.append(answer.status_code)
                sent.set()
                await asyncio.sleep(0)  # the in-process transport would otherwise hog the loop
                n += 1

        sender = asyncio.create_task(send())
        for text, expected in ((NEW, True), (BROKEN, False), (OLD, True), (NEW, True)):
            for _ in range(5):  # let some notifications in under the current config
                sent.clear()
                await sent.wait()
            write(rules_file, text)
            assert await reloader.reload() is expected
        stop.set()
        await sender
        rows = await sqlite_store.notifications(limit=len(answers) + 10)
        stored = await sqlite_store.count_notifications(since=0)
        assert [r.name for r in runtime.config.rules] == ["content", "content-v2"]
    assert set(answers) == {200}
    assert len(rows) == stored == len(answers)  # none lost
    matched = {tuple(sorted(r.rules)) for r in rows}
    assert matched <= {("content",), ("content", "content-v2")}  # never half a config
    assert matched == {("content",), ("content", "content-v2")}  # both really served


async def test_the_app_watches_its_config_file(rules_file: Path, sqlite_store: Store) -> None:
    from bridge.reload import reload_state
    from tests.admin.harness import eventually

    app = create_app(Settings(config=rules_file), store=sqlite_store, workers=False)
    async with app.router.lifespan_context(app):
        runtime: Runtime = app.state.runtime
        assert reload_metrics()["bridge_config_last_reload_successful"] == 1.0
        write(rules_file, NEW)
        await eventually(lambda: len(runtime.config.rules) == 2, timeout_s=10)
        write(rules_file, BROKEN)
        await eventually(lambda: reload_state.ok is False, timeout_s=10)
        assert [r.name for r in runtime.config.rules] == ["content", "content-v2"]
        assert reload_metrics()["bridge_config_last_reload_successful"] == 0.0
        assert reload_state.loaded is True
