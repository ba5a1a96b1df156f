"""A secret planted the ways a user writes them, provoked out through every surface of a running
bridge (real SQLite store, real HTTP targets that echo what they got, the admin API, the
dashboard, `bridge explain`, `bridge check`, `bridge serve`, the log), and found in none of them.

Each test is a leak the audit found: credentials in an ordinary URL option (user info,
`?code=`, `?sig=`), a build hook echoed with every slash escaped, a long bearer token cut in half
by the read limit, URL credentials quoted by a config error, a token rotated out by a reload
while a call with it was still in flight. bridge/redaction.py says what the policy covers.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bridge.app import create_app
from bridge.cli import main
from bridge.reload import Reloader, ReloadState
from bridge.settings import Settings
from bridge.signatures import sign
from tests.actions.harness import captured_log, explain_json
from tests.admin.harness import eventually
from tests.fakes.server import FakeServer

pytestmark = pytest.mark.timeout(60)

WEBHOOK_SECRET = "webhook-secret-leaks-0001"
ADMIN = "admin-token-leaks-0002"
BEARER = {"Authorization": f"Bearer {ADMIN}"}
URL_PASSWORD = "url-pass-leaks-0003"
FUNCTION_CODE = "fn-code-leaks-0004"
SAS_SIG = "sas-sig-leaks-0005"
HOOK_ID = "5f3a9c0e1d2b4a6f8e7c9d0a"
LONG_TOKEN = "long-token-" + "Ab9" * 330  # an OAuth/JWT-sized bearer token, ~1 KB
BASIC = base64.b64encode(f"hookuser:{URL_PASSWORD}".encode()).decode()
NOTIFICATION = json.dumps(
    {
        "notifications": [
            {
                "data": {"system": {"id": "i-1", "name": "Hello", "codename": "hello"}},
                "message": {"object_type": "content_item", "action": "published"},
            }
        ]
    }
).encode()


class Echo(FakeServer):
    """Answers 500 with the request it got: as JSON (`/json/`), as JSON with every slash
    escaped as PHP writes it (`/php/`), its Authorization header twelve times over (`/rep/`:
    longer than the bridge reads), or, under `/hold/`, the JSON once `release` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.holding = asyncio.Event()

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._echo)

    async def _echo(self, request: web.Request) -> web.Response:
        if request.path.startswith("/hold/"):
            self.holding.set()
            await self.release.wait()
        if request.path.startswith("/rep/"):
            return web.Response(status=500, text=(request.headers["Authorization"] + "\n") * 12)
        echoed = {
            "url": str(request.url),
            "query": dict(request.query),
            "headers": dict(request.headers),
            "body": (await request.read()).decode(),
        }
        text = json.dumps(echoed)
        if request.path.startswith("/php/"):
            text = text.replace("/", "\\/")
        return web.Response(status=500, text=text, content_type="application/json")


def signed_post(body: bytes = NOTIFICATION) -> dict[str, str]:
    signature = sign(body, WEBHOOK_SECRET)
    return {"Content-Type": "application/json", "X-Kontent-ai-Signature": signature}


def database_text(tmp_path: Path) -> str:
    """The SQLite files (WAL included) as text: what a copy of the database holds."""
    files = sorted(tmp_path.glob("bridge.db*"))
    return b"".join(p.read_bytes() for p in files).decode("utf-8", "replace")


def rules(actions: str, do: str) -> str:
    return (
        "version: 1\n"
        "webhooks:\n"
        f"  - {{name: production, path: /webhooks/kontent, secrets: [{WEBHOOK_SECRET}]}}\n"
        "defaults:\n"
        "  retry: {schedule: [1h], give_up_after: 3d}\n"
        f"actions:\n{actions}"
        "rules:\n"
        f"  - {{name: everything, when: {{object_type: content_item}}, do: [{do}]}}\n"
    )


@contextlib.asynccontextmanager
async def bridge(tmp_path: Path, text: str) -> AsyncIterator[httpx.AsyncClient]:
    config = tmp_path / "rules.yaml"
    config.write_text(text)
    settings = Settings(config=config, db=f"sqlite:///{tmp_path}/bridge.db", admin_token=ADMIN)
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


async def attempted(client: httpx.AsyncClient, count: int) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []

    async def done() -> bool:
        nonlocal rows
        rows = (await client.get("/admin/api/deliveries", headers=BEARER)).json()["items"]
        return len(rows) == count and all(r["last_attempt_at"] for r in rows)

    await eventually(done)
    return rows


async def every_surface(client: httpx.AsyncClient, rows: list[dict[str, object]]) -> dict[str, str]:
    """The admin API's views, every job, and the dashboard's pages, by where they were shown."""
    shown = {
        path: (await client.get(f"/admin/api/{path}", headers=BEARER)).text
        for path in ("actions", "deliveries", "rules", "notifications", "activity", "reload")
    }
    for row in rows:
        job = row["job_id"]
        shown[f"api job {job}"] = (await client.get(f"/admin/api/jobs/{job}", headers=BEARER)).text
    login = await client.post("/admin/login", data={"token": ADMIN, "next": "/admin/"})
    assert login.status_code == 303
    shown["dashboard"] = (await client.get("/admin/")).text
    for row in rows:
        shown[f"page job {row['job_id']}"] = (await client.get(f"/admin/jobs/{row['job_id']}")).text
    return shown


def assert_hidden(shown: dict[str, str], secrets: list[str]) -> None:
    for where, text in shown.items():
        for secret in secrets:
            assert secret not in text, f"{secret[:40]!r} shown in {where}"


async def test_url_credentials_escaped_hooks_and_cut_tokens_reach_no_surface(
    tmp_path: Path,
) -> None:
    async with Echo() as echo:
        actions = (
            # Credentials in an ordinary (not secret) URL option: an Azure Function's code, a
            # SAS signature, basic auth in the user info (aiohttp sends it as Authorization).
            f"  hook: {{type: http, url: 'http://hookuser:{URL_PASSWORD}@{echo.url[7:]}/json/in"
            f"?code={FUNCTION_CODE}&sig={SAS_SIG}&page=2'}}\n"
            f"  build: {{type: netlify, url: '{echo.url}/php/build_hooks/{HOOK_ID}',"
            " debounce: 10ms, max_wait: 10ms}\n"
            f"  crm: {{type: http, url: '{echo.url}/rep/in',"
            f" headers: {{Authorization: 'Bearer {LONG_TOKEN}'}}}}\n"
        )
        text = rules(actions, "hook, build, crm")
        with captured_log() as log:
            async with bridge(tmp_path, text) as client:
                answer = await client.post(
                    "/webhooks/kontent", content=NOTIFICATION, headers=signed_post()
                )
                assert answer.status_code == 200, answer.text
                rows = await attempted(client, 3)
                shown = await every_surface(client, rows)
        got = {r.path.split("/")[1]: r for r in echo.requests}
        assert got["json"].query["code"] == FUNCTION_CODE  # the secrets did go out
        assert got["json"].headers["Authorization"] == f"Basic {BASIC}"
    responses = {str(r["action"]): str(r["last_response"]) for r in rows}
    assert "page" in responses["hook"] and "\\/octet-stream" in responses["build"]  # kept
    assert responses["crm"].startswith("***\n***")
    shown["log"] = log.getvalue()
    shown["explain"] = explain_json(tmp_path / "rules.yaml", NOTIFICATION, tmp_path)
    shown["database"] = database_text(tmp_path)
    assert_hidden(
        shown,
        [URL_PASSWORD, FUNCTION_CODE, SAS_SIG, BASIC, HOOK_ID, LONG_TOKEN[:40], WEBHOOK_SECRET],
    )


BROKEN = (
    "  search: {type: azure_search, endpoint: 'https://svc.search.windows.net/?api-key=azure-key"
    "-leaks-0006', index: articles, api_key: azure-key-leaks-0006}\n"
    "  algolia: {type: algolia, app_id: APP, api_key: algolia-key-leaks-0007, index: i,"
    " hosts: ['https://app:algolia-key-leaks-0007@proxy.example/path']}\n"
)


def test_bridge_check_hides_the_url_credentials_its_errors_quote(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The config does not load, so no secret of it is known: the errors quote the options."""
    config = tmp_path / "rules.yaml"
    config.write_text(rules(BROKEN, "search, algolia"))
    assert main(["check", str(config)]) == 1
    err = capsys.readouterr().err
    assert "the endpoint takes no path or query" in err and "Algolia hosts take no path" in err
    assert "api-key=***" in err and "https://***@proxy.example/path" in err
    assert "leaks-000" not in err, err


def test_bridge_serve_hides_them_when_its_config_does_not_load(tmp_path: Path) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(rules(BROKEN, "search, algolia"))
    env = {
        **os.environ,
        "BRIDGE_CONFIG": str(config),
        "BRIDGE_DB": f"sqlite:///{tmp_path}/bridge.db",
        "BRIDGE_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "serve"], env=env, capture_output=True, text=True,
        timeout=30, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    assert "the endpoint takes no path or query" in done.stderr
    assert "leaks-000" not in done.stderr + done.stdout, done.stderr


async def test_a_token_rotated_out_by_a_reload_stays_hidden_in_a_call_still_running(
    tmp_path: Path,
) -> None:
    """The call began with the old token; the target answers after the reload, echoing it."""
    old, new = "old-token-leaks-0008", "new-token-leaks-0009"
    async with Echo() as echo:

        def config(token: str) -> str:
            action = (
                f"  crm: {{type: http, url: '{echo.url}/hold/in',"
                f" headers: {{Authorization: 'Bearer {token}'}}, timeout: 30s}}\n"
            )
            return rules(action, "crm")

        async with bridge(tmp_path, config(old)) as client:
            answer = await client.post(
                "/webhooks/kontent", content=NOTIFICATION, headers=signed_post()
            )
            assert answer.status_code == 200
            await asyncio.wait_for(echo.holding.wait(), 20)
            path = tmp_path / "rules.yaml"
            path.write_text(config(new))
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            assert await Reloader(path, runtime, state=ReloadState()).reload("test")
            echo.release.set()
            rows = await attempted(client, 1)
            shown = await every_surface(client, rows)
        assert echo.requests[0].headers["Authorization"] == f"Bearer {old}"
    assert "***" in str(rows[0]["last_response"])
    shown["database"] = database_text(tmp_path)
    assert_hidden(shown, [old, new])


def test_explain_hides_url_credentials_of_every_option(tmp_path: Path) -> None:
    """`bridge explain` showed an `http` url whole, user info and ?token= included (the admin
    API hid them with a patch of its own)."""
    config = tmp_path / "rules.yaml"
    config.write_text(
        rules(
            "  hook: {type: http, url: 'https://u:explain-pass-0010@h.example/in"
            "?access_token=explain-token-0011&code=explain-code-0012'}\n",
            "hook",
        )
    )
    out = io.StringIO()
    payload = tmp_path / "payload.json"
    payload.write_bytes(NOTIFICATION)
    with contextlib.redirect_stdout(out):
        assert main(["explain", str(config), str(payload)]) == 0
    text = out.getvalue()
    assert "https://***@h.example/in?access_token=***&code=***" in text, text


async def test_a_failed_reload_hides_the_url_credentials_its_errors_quote(tmp_path: Path) -> None:
    """The running config stays and the new one never loaded: the admin API's reload view, the
    dashboard's banner and the log show its errors, each quoting the option it refused."""
    good = rules("  audit: {type: log}\n", "audit")
    with captured_log() as log:
        async with bridge(tmp_path, good) as client:
            path = tmp_path / "rules.yaml"
            path.write_text(rules(BROKEN, "search, algolia"))
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            assert not await Reloader(path, runtime).reload("test")
            shown = await every_surface(client, [])  # the dashboard's banner lists the errors
    shown["log"] = log.getvalue()
    assert "the endpoint takes no path or query" in shown["reload"]
    assert "api-key=***" in shown["reload"] and "api-key=***" in shown["dashboard"]
    assert "https://***@proxy.example" in shown["log"]
    assert_hidden(shown, ["azure-key-leaks-0006", "algolia-key-leaks-0007"])
