"""The runtime's swap and resolve, and the app's roles."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import httpx
import pytest

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.log import LogAction
from bridge.app import create_app
from bridge.config import Config, parse_config
from bridge.payloads import parse_body
from bridge.runtime import Runtime, UnknownAction
from bridge.settings import Settings
from tests.receiver.conftest import FakeStore


class Tracked(Action[ActionOptions]):
    """Records every instance and whether it was closed."""

    instances: ClassVar[list[Tracked]] = []
    fail_init: ClassVar[bool] = False

    def __init__(self, name: str, resources: Any) -> None:
        if Tracked.fail_init:
            raise RuntimeError("cannot build")
        super().__init__(name, resources)
        self.closed = asyncio.Event()
        Tracked.instances.append(self)

    async def send(self, call: Call[ActionOptions]) -> Success:
        return Success()

    async def close(self) -> None:
        self.closed.set()


TYPES = {"tracked": Tracked, "log": LogAction}


def config_with(action: str, object_type: str = "content_item") -> Config:
    text = f"""\
version: 1
webhooks: [{{name: w, path: /w, secrets: [s]}}]
defaults: {{timeout: 100ms}}
actions:
  {action}: {{type: tracked}}
rules:
  - {{name: r, when: {{object_type: {object_type}}}, do: [{action}]}}
"""
    return parse_config(text, env={}, types=TYPES)


@pytest.fixture(autouse=True)
def _fresh_tracking() -> None:
    Tracked.instances.clear()
    Tracked.fail_init = False


@pytest.fixture
async def runtime() -> Any:
    runtime = Runtime(Settings())
    await runtime.start(config_with("first"), FakeStore())  # type: ignore[arg-type]
    yield runtime
    await runtime.aclose()


async def test_resolve_gives_the_configured_instance(runtime: Runtime) -> None:
    assert runtime.resolve("first") is Tracked.instances[0]
    with pytest.raises(UnknownAction, match="no action named 'second'"):
        runtime.resolve("second")


async def test_swap_replaces_config_engine_and_actions_together(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("bridge.runtime.MIN_CLOSE_GRACE_S", 0.0)
    old = Tracked.instances[0]
    assert runtime.resolve("first") is old
    await runtime.swap(config_with("second", object_type="asset"))
    assert runtime.resolve("second") is Tracked.instances[1]
    with pytest.raises(UnknownAction):
        runtime.resolve("first")
    body = (
        b'{"notifications": [{"data": {"system": {"id": "x"}}, '
        b'"message": {"object_type": "asset", "action": "created"}}]}'
    )
    assert [job.action for job in runtime.engine.plan(parse_body(body, "w"))] == ["second"]
    assert not old.closed.is_set()  # a call resolved before the swap may still be running
    await asyncio.wait_for(old.closed.wait(), 5)  # closed after the grace period (100 ms)
    assert not Tracked.instances[1].closed.is_set()


async def test_failed_swap_keeps_the_running_set(runtime: Runtime) -> None:
    Tracked.fail_init = True
    with pytest.raises(RuntimeError, match="cannot build"):
        await runtime.swap(config_with("second"))
    assert runtime.resolve("first") is Tracked.instances[0]
    assert [a.name for a in runtime.config.actions.values()] == ["first"]


async def test_aclose_closes_current_and_pending_old_actions(runtime: Runtime) -> None:
    await runtime.swap(config_with("second"))  # the old one waits out its grace period
    await runtime.aclose()
    assert all(instance.closed.is_set() for instance in Tracked.instances)
    assert not runtime.loaded


async def test_worker_role_has_health_but_no_webhooks() -> None:
    store = FakeStore()
    config = parse_config(
        "version: 1\nwebhooks: [{name: w, path: /w, secrets: [s]}]\nactions: {}\nrules: []\n",
        env={},
    )
    app = create_app(Settings(), role="worker", config=config, store=store, workers=False)  # type: ignore[arg-type]
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        assert (await client.get("/healthz")).status_code == 200
        assert (await client.get("/readyz")).status_code == 200
        assert (await client.get("/metrics")).status_code == 200
        assert (await client.post("/w", content=b"{}")).status_code == 404


async def _serving_client(settings: Settings, store: FakeStore) -> Any:
    config = parse_config(
        "version: 1\nwebhooks: [{name: w, path: /w, secrets: [s]}]\n"
        "actions: {audit: {type: log}}\n"
        "rules: [{name: r, when: {object_type: content_item}, do: [audit]}]\n",
        env={},
    )
    return create_app(settings, config=config, store=store, workers=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(("token", "status"), [(None, 404), ("admin-token", 200)])
async def test_admin_is_mounted_only_with_a_token(token: str | None, status: int) -> None:
    app = await _serving_client(Settings(admin_token=token), FakeStore())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        headers = {"Authorization": "Bearer admin-token"}
        response = await client.get("/admin/api/actions", headers=headers)
        assert response.status_code == status
        if token:
            assert [a["name"] for a in response.json()["actions"]] == ["audit"]


async def test_signature_failures_are_counted_in_metrics() -> None:
    from bridge import metrics

    metrics.reset()
    app = await _serving_client(Settings(), FakeStore())
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        headers = {"Content-Type": "application/json", "X-Kontent-ai-Signature": "bad"}
        assert (await client.post("/w", content=b"{}", headers=headers)).status_code == 401
        exposition = (await client.get("/metrics")).text
        assert 'bridge_signature_failures_total{webhook="w"} 1.0' in exposition


def test_start_up_warns_about_unverified_webhooks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from bridge.app import announce

    config = parse_config(
        "version: 1\n"
        "webhooks:\n"
        "  - {name: open, path: /open, secrets: [], verify: false}\n"
        "actions: {}\nrules: []\n",
        env={},
    )
    announce(config, Settings())
    messages = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("webhook 'open' (/open) has verify: false" in m for m in messages)
