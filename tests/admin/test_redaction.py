"""One redaction policy: no configured secret value leaves the bridge through the admin API, the
dashboard, explain, the logs or the database, whatever a target echoes back."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from aiohttp import web

from bridge import redaction
from bridge.app import create_app
from bridge.cli import main
from bridge.config import load_config
from bridge.logformat import JsonFormatter, TextFormatter
from bridge.redaction import Redactor, is_secret_key
from bridge.reload import Reloader, ReloadState
from bridge.settings import Settings
from bridge.signatures import sign
from tests.admin.harness import eventually
from tests.fakes.server import FakeServer

pytestmark = pytest.mark.timeout(60)

ADMIN_TOKEN = "admin-token-0008-abcdef"
WEBHOOK_SECRET = "webhook-secret-0007"
HTTP_BEARER = "http-bearer-token-0001"
HTTP_API_KEY = "x-api-key-value-0002"
BASIC_USER, BASIC_PASS = "bridge-user", "basic-pass-0003"
BASIC = "Basic " + base64.b64encode(f"{BASIC_USER}:{BASIC_PASS}".encode()).decode()
GITHUB_TOKEN = "ghp-dispatch-token-0004"
FASTLY_TOKEN = "fastly-purge-token-0005"
SLACK_TOKEN = "xoxb-slack-token-0006"
SECRETS = [
    ADMIN_TOKEN,
    WEBHOOK_SECRET,
    HTTP_BEARER,
    HTTP_API_KEY,
    BASIC,
    BASIC_PASS,
    GITHUB_TOKEN,
    FASTLY_TOKEN,
    SLACK_TOKEN,
]


class Echo(FakeServer):
    """Answers with every request header, plainly and in the encodings a target might use;
    under /fail/ with a 500, so failed attempts store the echo too."""

    def routes(self, app: web.Application) -> None:
        app.router.add_route("*", "/{tail:.*}", self._echo)

    async def _echo(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        body = {
            "headers": dict(request.headers),
            "auth_base64": base64.b64encode(auth.encode()).decode(),
            "auth_urlencoded": quote(auth, safe=""),
            "body": (await request.read()).decode(),
        }
        status = 500 if request.path.startswith("/fail/") else 200
        return web.json_response(body, status=status)


def rules(echo: str) -> str:
    return f"""\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["{WEBHOOK_SECRET}"]}}
defaults:
  retry: {{schedule: [1h], give_up_after: 3d}}
actions:
  hook:
    type: http
    url: "{echo}/ok"
    headers: {{Authorization: "Bearer {HTTP_BEARER}", X-Api-Key: "{HTTP_API_KEY}",
               Proxy-Authorization: "{BASIC}"}}
  dispatch: {{type: github_dispatch, repo: a/b, token: "{GITHUB_TOKEN}", api_url: "{echo}/fail",
              debounce: 10ms, max_wait: 10ms}}
  purge: {{type: fastly, service_id: S1, token: "{FASTLY_TOKEN}", keys: k, api_url: "{echo}"}}
  team: {{type: slack, token: "{SLACK_TOKEN}", channel: "#c", base_url: "{echo}/slack/"}}
rules:
  - name: everything
    when: {{object_type: content_item}}
    do: [hook, dispatch, purge, team]
"""


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


@asynccontextmanager
async def bridge(tmp_path: Path, echo: str) -> AsyncIterator[httpx.AsyncClient]:
    config = tmp_path / "rules.yaml"
    config.write_text(rules(echo))
    settings = Settings(
        config=config, db=f"sqlite:///{tmp_path}/bridge.db", admin_token=ADMIN_TOKEN
    )
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        yield client


async def post(client: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    headers["X-Kontent-ai-Signature"] = sign(NOTIFICATION, WEBHOOK_SECRET)
    answer = await client.post("/webhooks/kontent", content=NOTIFICATION, headers=headers)
    assert answer.status_code == 200, answer.text


async def attempted(api: httpx.AsyncClient, count: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    async def all_attempted() -> bool:
        nonlocal rows
        answer = await api.get("/admin/api/deliveries", headers=BEARER)
        rows = answer.json()["items"]
        return len(rows) == count and all(r["last_attempt_at"] for r in rows)

    await eventually(all_attempted)
    return rows


BEARER = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def test_echoed_secrets_reach_neither_the_api_the_dashboard_nor_the_database(
    tmp_path: Path,
) -> None:
    pages: dict[str, str] = {}
    async with Echo() as echo, bridge(tmp_path, echo.url) as client:
        await post(client)
        rows = await attempted(client, 4)
        pages["deliveries"] = (await client.get("/admin/api/deliveries", headers=BEARER)).text
        login = await client.post("/admin/login", data={"token": ADMIN_TOKEN, "next": "/admin"})
        assert login.status_code == 303
        for row in rows:
            job = row["job_id"]
            pages[f"api {job}"] = (await client.get(f"/admin/api/jobs/{job}", headers=BEARER)).text
            pages[f"page {job}"] = (await client.get(f"/admin/jobs/{job}")).text
            assert "Attempt 1" in pages[f"page {job}"]
        pages["overview"] = (await client.get("/admin/")).text
    sent = [r.headers.get("Authorization", "") for r in echo.requests]
    assert f"Bearer {HTTP_BEARER}" in sent and f"Bearer {SLACK_TOKEN}" in sent  # they did go out
    stored = {row["action"]: row["last_response"] or "" for row in rows}
    # The echoes were kept, with the secrets hidden; Slack's echo is no Slack answer, so that
    # 200 is a message posted with a note instead (actions.md, Slack), and keeps no echo at all.
    assert stored.pop("team").startswith("accepted: Slack answered 200, but"), stored
    assert all("***" in response for response in stored.values()), stored
    assert "headers" in stored["hook"] and stored["dispatch"]
    database = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("bridge.db*")))  # noqa: ASYNC240
    assert b"Idempotency-Key" in database  # the echo is in the file, only without secrets
    for secret in SECRETS:
        encodings = {
            secret,
            quote(secret, safe=""),
            base64.b64encode(secret.encode()).decode(),
            base64.b64encode(f"Bearer {secret}".encode()).decode()[8:-4],  # the echoed header
        }
        for name, body in pages.items():
            for form in encodings:
                assert form not in body, (secret, form, name)
        assert secret.encode() not in database, secret


WITH_INPUTS = {"json": {"key": "plain-key-0009", "X-Api-Key": "xak-input-0010", "text": "hello"}}
SHOWN = {"key": "***", "X-Api-Key": "***", "text": "hello"}


def with_config(tmp_path: Path) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\n"
        "webhooks:\n"
        f"  - {{name: production, path: /webhooks/kontent, secrets: [{WEBHOOK_SECRET}]}}\n"
        "actions:\n"
        "  hook: {type: http, url: 'http://127.0.0.1:9/hook', timeout: 1s,"
        " retry: {schedule: [1h]}}\n"
        "rules:\n"
        "  - name: r\n"
        "    when: {object_type: content_item}\n"
        f"    do: [{{action: hook, with: {json.dumps(WITH_INPUTS)}}}]\n"
    )
    return path


async def explained_inputs(tmp_path: Path) -> Mapping[str, Any]:
    """`bridge explain --json`, as a person runs it."""
    payload = tmp_path / "payload.json"
    payload.write_bytes(NOTIFICATION)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["explain", str(with_config(tmp_path)), str(payload), "--json"]) == 0
    printed = json.loads(out.getvalue())
    [do] = [d for d in _all(printed, "do") for d in d]
    inputs: Mapping[str, Any] = do["inputs"]
    return inputs


def _all(value: Any, key: str) -> list[Any]:
    """Every value under `key` anywhere in a JSON document."""
    found = []
    if isinstance(value, dict):
        found += [value[key]] if key in value else []
        for item in value.values():
            found += _all(item, key)
    elif isinstance(value, list):
        for item in value:
            found += _all(item, key)
    return found


async def api_inputs(tmp_path: Path) -> Mapping[str, Any]:
    settings = Settings(
        config=with_config(tmp_path), db=f"sqlite:///{tmp_path}/b.db", admin_token=ADMIN_TOKEN
    )
    app = create_app(settings, workers=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://b") as client,
    ):
        await post(client)
        [row] = (await client.get("/admin/api/deliveries", headers=BEARER)).json()["items"]
        job = (await client.get(f"/admin/api/jobs/{row['job_id']}", headers=BEARER)).json()
    inputs: Mapping[str, Any] = job["inputs"]
    return inputs


async def json_log_inputs(tmp_path: Path) -> Mapping[str, Any]:
    line = _logged(JsonFormatter(Redactor()), {"inputs": WITH_INPUTS})
    inputs: Mapping[str, Any] = json.loads(line)["inputs"]
    return inputs


async def text_log_inputs(tmp_path: Path) -> Mapping[str, Any]:
    line = _logged(TextFormatter(Redactor()), {"inputs": WITH_INPUTS})
    inputs: Mapping[str, Any] = json.loads(json.loads(line.split("inputs=", 1)[1]))
    return inputs


def _logged(formatter: logging.Formatter, extra: dict[str, Any]) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    logger = logging.getLogger("bridge.test.redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("rendered", extra=extra)
    finally:
        logger.removeHandler(handler)
    return out.getvalue().strip()


Output = Callable[[Path], Any]


@pytest.mark.parametrize(
    "output",
    [explained_inputs, api_inputs, json_log_inputs, text_log_inputs],
    ids=["explain", "api", "json-log", "text-log"],
)
async def test_with_inputs_are_redacted_identically_everywhere(
    tmp_path: Path, output: Output
) -> None:
    assert (await output(tmp_path))["json"] == SHOWN


@pytest.mark.parametrize(
    "key",
    [
        "token", "api_key", "apiKey", "X-Api-Key", "key", "password", "Authorization",
        "Proxy-Authorization", "Cookie", "Set-Cookie", "client_secret", "webhook_secret",
        "accessToken", "X-Auth-Token", "private_key", "secure_access_key", "basic_auth",
    ],
)  # fmt: skip
def test_credential_names(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["keys", "xkey", "xkey_header", "channel", "text", "author", "object_id", "monkey", "url"],
)
def test_ordinary_names(key: str) -> None:
    assert not is_secret_key(key)


@pytest.mark.parametrize(
    "shown",
    [
        "tok%2Fen%20with%20space-1",  # URL-encoded, upper-case hex
        "tok%2fen%20with%20space-1",  # lower-case hex
        "tok%2Fen+with+space-1",  # form encoding
        "tok/en%20with%20space-1",  # a path's encoding
        base64.b64encode(b"tok/en with space-1").decode(),
        base64.urlsafe_b64encode(b"tok/en with space-1").decode().rstrip("="),
    ],
)
def test_common_encodings_of_a_secret_are_hidden(shown: str) -> None:
    assert Redactor(["tok/en with space-1"]).redact(f"echo: {shown}!") == "echo: ***!"


def test_basic_auth_and_secret_urls_are_hidden_by_their_parts() -> None:
    config = SimpleNamespace(
        webhooks=[],
        kontent=SimpleNamespace(environments={}),
        actions={
            "mail": SimpleNamespace(
                action_class=object, options={"username": "mailer", "password": "smtp-pass-1"}
            ),
            "hook": SimpleNamespace(
                action_class=SimpleNamespace(secret_options=frozenset({"url"})),
                options={"url": "https://api.netlify.example/build_hooks/5f3a9c"},
            ),
        },
        rules=[],
    )
    found = redaction.secrets_of(config)  # type: ignore[arg-type]
    redactor = Redactor(found)
    basic = base64.b64encode(b"mailer:smtp-pass-1").decode()
    assert redactor.redact(f"AUTH PLAIN {basic}") == "AUTH PLAIN ***"
    assert redactor.redact("POST /build_hooks/5f3a9c HTTP/1.1") == "POST *** HTTP/1.1"
    assert redactor.redact("Bearer-less smtp-pass-1.") == "Bearer-less ***."


async def test_the_redactor_learns_the_secrets_of_a_reloaded_config(tmp_path: Path) -> None:
    path = with_config(tmp_path)
    swapped: list[Any] = []

    class Runtime:
        async def swap(self, config: Any) -> None:
            swapped.append(config)

    path.write_text(path.read_text().replace(WEBHOOK_SECRET, "rotated-secret-0011"))
    reloader = Reloader(path, Runtime(), state=ReloadState(), extra_secrets=("reload-admin-012",))
    assert await reloader.reload("test")
    assert swapped
    logged = redaction.redact("rotated-secret-0011 reload-admin-012 plain-key-0009")
    assert logged == "*** *** ***"


def test_secrets_of_a_loaded_config_cover_with_values_env_keys_and_settings(
    tmp_path: Path,
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\n"
        "webhooks:\n"
        f"  - {{name: production, path: /webhooks/kontent, secrets: [{WEBHOOK_SECRET}]}}\n"
        "kontent:\n"
        "  environments:\n"
        "    env-1: {preview_api_key: preview-key-0013}\n"
        "actions:\n"
        "  hook: {type: http, url: 'https://h.example/x', headers: {X-Custom: header-val-0014}}\n"
        "  mail: {type: email, host: smtp.example.com, from: a@b.example, to: [c@d.example],\n"
        "         username: mailer, password: smtp-pass-0015}\n"
        "rules:\n"
        "  - name: r\n"
        "    when: {object_type: content_item}\n"
        "    do:\n"
        "      - {action: hook, with: {json: {api_key: with-key-0016, text: '{{ event.name }}'}}}\n"
        "      - mail\n"
    )
    config = load_config(path, {})
    settings = SimpleNamespace(
        admin_token=ADMIN_TOKEN, db="postgresql://bridge:db-pass-0017@db.example/bridge"
    )
    found = redaction.secrets_of(config, redaction.settings_secrets(settings))
    assert {
        WEBHOOK_SECRET,
        "preview-key-0013",
        "header-val-0014",  # `headers` is a secret option of `http`
        "smtp-pass-0015",
        base64.b64encode(b"mailer:smtp-pass-0015").decode(),
        "with-key-0016",
        ADMIN_TOKEN,
        "db-pass-0017",
    } <= found
    assert not any("{{" in value for value in found)  # templates are not secret values
