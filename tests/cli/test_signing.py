"""`bridge sign` / `bridge send` against Kontent.ai's own signature check and the bridge's.

`official_accepts` ports webhook-helper-js 4.0.0 `isSignatureValid` (lib/signatures/
signature-helper.ts): the payload's runs of line breaks become CRLF (`/[\\r\\n]+/g`), that text
is hashed with HMAC-SHA256 and compared to the header. The port is checked first against the
helper's own test vector, so the other tests test against what the helper really does.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from aiohttp import web

from bridge.cli import main
from bridge.delivery.store import Store
from bridge.signatures import verify

pytestmark = pytest.mark.timeout(60)

PAYLOADS = Path(__file__).parents[1] / "payloads"

# test/signatures/signature.spec.ts in kontent-ai/webhook-helper-js.
HELPER_SECRET = "hx3snVrI9E2Lgpi1LaL+WfiPWCh88OjI7Bv/3ihq+Qo="
HELPER_SIGNATURE = "k97ud4G3+Bo58p4LDJQY8SK81AThPMIDlZQjyWJbOgI="
HELPER_PAYLOAD = {
    "notifications": [
        {
            "data": {
                "system": {
                    "id": "74fda2ec-5f05-45e6-801c-0b041697256c",
                    "name": "This changes everything!",
                    "codename": "this_changes_everything_",
                    "collection": "default",
                    "workflow": "default",
                    "workflow_step": "published",
                    "language": "default",
                    "type": "product_update",
                    "last_modified": "2025-11-26T10:12:53.4900599Z",
                },
            },
            "message": {
                "environment_id": "2db94c54-294a-016e-81d4-826f7e4a11d8",
                "object_type": "content_item",
                "action": "workflow_step_changed",
                "delivery_slot": "preview",
                "action_context": {
                    "previous_workflow": "default",
                    "previous_workflow_step": "draft",
                },
            },
        },
    ],
}


def official_accepts(payload: str, secret: str, signature: str) -> bool:
    normalised = re.sub(r"[\r\n]+", "\r\n", payload)
    digest = hmac.digest(secret.encode(), normalised.encode(), hashlib.sha256)
    expected = base64.b64encode(digest).decode()
    return len(expected) == len(signature) and hmac.compare_digest(expected, signature)


def test_the_port_accepts_the_helpers_own_vector() -> None:
    payload = json.dumps(HELPER_PAYLOAD, indent=2)  # JSON.stringify(rawPayload, null, 2)
    assert official_accepts(payload, HELPER_SECRET, HELPER_SIGNATURE)
    assert not official_accepts(payload, "wrong_secret_key_here", HELPER_SIGNATURE)
    # The helper hashes the CRLF form only: the LF bytes as they are do not give its signature.
    raw = base64.b64encode(
        hmac.digest(HELPER_SECRET.encode(), payload.encode(), hashlib.sha256)
    ).decode()
    assert raw != HELPER_SIGNATURE


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_sign_gives_what_the_helper_accepts(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    payload = tmp_path / "payload.json"
    text = json.dumps(HELPER_PAYLOAD, indent=2)
    payload.write_bytes(text.encode())
    code, out = _run(capsys, "sign", "--secret", HELPER_SECRET, str(payload))
    assert (code, out) == (0, HELPER_SIGNATURE + "\n")
    code, out = _run(capsys, "sign", "--raw", "--secret", HELPER_SECRET, str(payload))
    assert code == 0 and not official_accepts(text, HELPER_SECRET, out.strip())


Captured = list[tuple[dict[str, str], bytes]]


@pytest.fixture
async def capture() -> AsyncIterator[tuple[str, Captured]]:
    received: Captured = []

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.json_response({"accepted": 1})

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}/hook", received
    await runner.cleanup()


def _lf_file(tmp_path: Path, source: Path) -> Path:
    """The fixture with LF line breaks and a blank line (runs collapse to one CRLF)."""
    text = source.read_text().replace("\r\n", "\n").replace("\n", "\n\n", 1)
    path = tmp_path / source.name
    path.write_bytes(text.encode())
    return path


@pytest.mark.parametrize(
    ("fixture", "legacy"),
    [
        ("current/content_item_workflow_step_changed_preview.json", False),
        ("legacy/content_item_variant_publish.json", True),
    ],
)
async def test_send_is_accepted_by_the_helper_and_by_the_bridge(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    capture: tuple[str, Captured],
    sqlite_store: Store,
    fixture: str,
    legacy: bool,
) -> None:
    url, received = capture
    path = _lf_file(tmp_path, PAYLOADS / fixture)
    argv = ["send", url, str(path), "--secret", "s3cret", *(["--legacy"] if legacy else [])]
    code = await asyncio.to_thread(main, argv)
    capsys.readouterr()
    assert code == 0
    [(headers, body)] = received
    header = "X-KC-Signature" if legacy else "X-Kontent-ai-Signature"
    signature = headers[header]
    assert b"\r\n" in body and b"\n\n" not in body and b"\r\n\r\n" not in body
    assert json.loads(body) == json.loads(path.read_bytes())
    assert official_accepts(body.decode(), "s3cret", signature)
    assert verify(body, signature, ["s3cret"])
    await _the_receiver_accepts(sqlite_store, body, header, signature, legacy)


async def _the_receiver_accepts(
    store: Store, body: bytes, header: str, signature: str, legacy: bool
) -> None:
    """The bridge's own webhook endpoint, in-process, answers 2xx to exactly what was sent."""
    from bridge.app import create_app
    from bridge.config import parse_config
    from bridge.settings import Settings

    rules = (
        "version: 1\nwebhooks:\n  - {name: p, path: /hook, secrets: [s3cret]}\n"
        "actions:\n  audit: {type: log}\nrules:\n"
        "  - {name: all, when: {object_type: content_item}, do: [audit]}\n"
    )
    app = create_app(Settings(), config=parse_config(rules), store=store, workers=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bridge") as client:
            headers = {"Content-Type": "application/json; charset=utf-8", header: signature}
            response = await client.post("/hook", content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == (2 if legacy else 1)


async def test_send_raw_posts_the_bytes_as_they_are(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], capture: tuple[str, Captured]
) -> None:
    url, received = capture
    path = _lf_file(tmp_path, PAYLOADS / "current/content_item_published_published.json")
    argv = ["send", "--raw", url, str(path), "--secret", "s3cret"]
    assert await asyncio.to_thread(main, argv) == 0
    capsys.readouterr()
    [(headers, body)] = received
    assert body == path.read_bytes()
    assert verify(body, headers["X-Kontent-ai-Signature"], ["s3cret"])
    assert not official_accepts(body.decode(), "s3cret", headers["X-Kontent-ai-Signature"])
