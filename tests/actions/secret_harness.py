"""A whole bridge (receiver, SQLite store, workers, admin API) run on one rule, and every place a
secret could be shown collected: the admin API's pages and jobs, the log, `bridge explain`.

Used by the trello, mastodon and bluesky tests: their secrets must appear in none of them,
including the failed attempts, whose reasons and stored requests are shown too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.settings import Settings
from tests.actions import harness
from tests.actions.harness import admin_bridge, captured_log, explain_json, item_system, signed
from tests.admin.harness import eventually

SECRET = "webhook-secret-social-0001"
ADMIN = "admin-token-social-0002"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
ITEM = "11111111-1111-1111-1111-111111111111"


def notification(action: str = "published", step: str = "published") -> bytes:
    system = item_system(ITEM, step=step, last_modified="2026-11-30T10:00:00Z")
    return harness.notification(system, "env-1", action)


@dataclass
class Shown:
    """Every text the bridge showed, by where it was shown."""

    texts: dict[str, str]
    deliveries: list[dict[str, Any]]

    def assert_hidden(self, *secrets: str) -> None:
        for where, text in self.texts.items():
            for secret in secrets:
                assert secret not in text, f"{secret!r} shown in {where}"


@contextlib.asynccontextmanager
async def running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rules: str, env: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("WEBHOOK_SECRET", SECRET)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = tmp_path / "rules.yaml"
    config.write_text(rules)
    settings = Settings(config=config, db=f"sqlite:///{tmp_path}/bridge.db", admin_token=ADMIN)
    async with admin_bridge(settings) as client:
        yield client


async def shown_after(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    rules: str,
    env: dict[str, str],
    done: Callable[[list[dict[str, Any]]], bool],
    body: bytes | None = None,
) -> Shown:
    """Post one signed notification, wait until `done(deliveries)`, collect what is shown."""
    body = body or notification()
    with captured_log() as log:
        async with running(tmp_path, monkeypatch, rules, env) as client:
            answer = await client.post(
                "/webhooks/kontent", content=body, headers=signed(body, SECRET)
            )
            assert answer.status_code == 200, answer.text

            async def deliveries() -> list[dict[str, Any]]:
                page = await client.get("/admin/api/deliveries", headers=BEARER)
                rows: list[dict[str, Any]] = page.json()["items"]
                return rows

            async def finished() -> bool:
                return done(await deliveries())

            await eventually(finished)
            rows = await deliveries()
            texts = {
                path: (await client.get(f"/admin/api/{path}", headers=BEARER)).text
                for path in ("actions", "deliveries", "rules", "notifications")
            }
            for row in rows:
                job = await client.get(f"/admin/api/jobs/{row['job_id']}", headers=BEARER)
                texts[f"job {row['job_id']}"] = job.text
    texts["log"] = log.getvalue()
    texts["explain"] = explain_json(tmp_path / "rules.yaml", body, tmp_path)
    return Shown(texts, rows)
