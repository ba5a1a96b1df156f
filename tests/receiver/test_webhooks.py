"""The bad-input matrix of issue 2, and the happy paths, through the ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from bridge.signatures import sign
from tests.receiver.conftest import JSON, SEED, URL, Client, FakeStore, signed


async def test_seed_payload_is_accepted(
    client: httpx.AsyncClient, store: FakeStore, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}
    [(notifications, jobs, request_id)] = store.calls
    assert notifications[0].events[0].codename == "this_changes_everything"
    assert [(j.action, j.rule) for j in jobs] == [("audit", "content")]
    assert request_id == response.headers["X-Request-Id"]


async def test_kontent_request_id_is_kept(
    client: httpx.AsyncClient, store: FakeStore, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    headers = signed(body) | {"request-id": "kontent-42"}
    response = await client.post(URL, content=body, headers=headers)
    assert response.headers["X-Request-Id"] == "kontent-42"
    assert store.calls[0][2] == "kontent-42"


async def test_redelivery_is_a_duplicate(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    await client.post(URL, content=body, headers=signed(body))
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.json() == {"accepted": 0, "duplicates": 1, "jobs": 0}


async def test_legacy_payload_with_legacy_header(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes("legacy/content_item_variant_publish.json")
    response = await client.post(URL, content=body, headers=signed(body, legacy=True))
    assert response.status_code == 200
    assert response.json() == {"accepted": 2, "duplicates": 0, "jobs": 2}


async def test_dotnet_middlewares_header_choice_is_accepted(
    client: httpx.AsyncClient, store: FakeStore, payload_bytes: Callable[[str], bytes]
) -> None:
    """Both headers, only X-KC-Signature valid: kontent-ai/dotnet's SignatureMiddleware accepts
    it (its ModernSignatureHeaderTakesPrecedenceOverLegacy test), so the bridge must too."""
    body = payload_bytes("official/dotnet_publish_webhook.json")
    headers = signed(body, legacy=True) | {"X-Kontent-ai-Signature": "invalid-fallback"}
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}
    assert store.calls[0][0][0].events[0].object_type == "content_item"
    headers["X-KC-Signature"] = sign(body, "guessed-secret")
    assert (await client.post(URL, content=body, headers=headers)).status_code == 401


async def test_signature_under_a_rotated_secret(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    response = await client.post(URL, content=body, headers=signed(body, "old-secret"))
    assert response.status_code == 200


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(None, id="missing"),
        pytest.param("bm90IGEgc2lnbmF0dXJl", id="invalid"),
        pytest.param(sign(b'{"notifications": []}', "new-secret"), id="stale-other-body"),
        pytest.param(sign(b"", "guessed-secret"), id="wrong-secret"),
        pytest.param("", id="empty"),
    ],
)
async def test_bad_signatures_are_401(
    client: httpx.AsyncClient,
    store: FakeStore,
    payload_bytes: Callable[[str], bytes],
    signature: str | None,
) -> None:
    body = payload_bytes(SEED)
    headers = {"Content-Type": JSON}
    if signature is not None:
        headers["X-Kontent-ai-Signature"] = signature
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "invalid signature"}
    assert store.calls == []


async def test_non_ascii_signature_header_is_401(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    headers = [(b"Content-Type", JSON.encode()), (b"X-Kontent-ai-Signature", "sïgnature".encode())]
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401


async def test_unverified_webhook_needs_no_signature(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    response = await client.post("/webhooks/local", content=body, headers={"Content-Type": JSON})
    assert response.status_code == 200
    assert response.json()["accepted"] == 1


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        pytest.param(b'{"notifications": [', "body is not valid JSON", id="malformed-json"),
        pytest.param(b'{"hello": "world"}', "payload has neither", id="wrong-shape"),
        pytest.param(b'{"notifications": "x"}', "'notifications' must be an array", id="not-array"),
        pytest.param(b"[1, 2]", "payload must be a JSON object", id="array"),
        pytest.param(b'{"notifications": [\xff\xfe]}', "body is not valid UTF-8", id="non-utf8"),
        pytest.param(b"", "body is not valid JSON", id="empty-body"),
    ],
)
async def test_malformed_payloads_are_400_with_a_reason(
    client: httpx.AsyncClient, store: FakeStore, body: bytes, reason: str
) -> None:
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 400
    assert response.json()["error"].startswith(reason)
    assert store.calls == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded"])
async def test_wrong_content_type_is_415(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes], content_type: str | None
) -> None:
    body = payload_bytes(SEED)
    headers = {"X-Kontent-ai-Signature": sign(body, "new-secret")}
    if content_type:
        headers["Content-Type"] = content_type
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 415
    assert response.json() == {"error": "content type must be application/json"}


@pytest.mark.parametrize("content_type", ["application/json", "Application/JSON; charset=UTF-8"])
async def test_json_content_types_with_parameters(
    client: httpx.AsyncClient, payload_bytes: Callable[[str], bytes], content_type: str
) -> None:
    body = payload_bytes(SEED)
    headers = signed(body) | {"Content-Type": content_type}
    assert (await client.post(URL, content=body, headers=headers)).status_code == 200


async def test_oversized_body_with_content_length_is_refused_before_reading(
    client_for: Client,
) -> None:
    client = await client_for(max_body_bytes=1024)
    pulled: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for index in range(100):
            pulled.append(index)
            yield b" " * 1024

    headers = {"Content-Type": JSON, "Content-Length": str(100 * 1024)}
    response = await client.post(URL, content=body(), headers=headers)
    assert response.status_code == 413
    assert "limit of 1024 bytes" in response.json()["error"]
    assert len(pulled) <= 1  # the app answered without reading the body


async def test_oversized_body_without_content_length_stops_at_the_limit(
    client_for: Client, store: FakeStore
) -> None:
    client = await client_for(max_body_bytes=4096)
    pulled: list[int] = []

    async def body() -> AsyncIterator[bytes]:
        for index in range(1000):
            pulled.append(index)
            yield b" " * 1024

    response = await client.post(URL, content=body(), headers={"Content-Type": JSON})
    assert response.status_code == 413
    assert len(pulled) < 10  # stopped after the limit, not after 1 MB
    assert store.calls == []


async def test_body_at_the_limit_is_read(
    client_for: Client, payload_bytes: Callable[[str], bytes]
) -> None:
    body = payload_bytes(SEED)
    client = await client_for(max_body_bytes=len(body))
    assert (await client.post(URL, content=body, headers=signed(body))).status_code == 200


async def test_bad_content_length_is_400(client: httpx.AsyncClient) -> None:
    headers = [("Content-Type", JSON), ("Content-Length", "lots")]
    request = client.build_request("POST", URL, content=b"{}", headers=headers)
    response = await client.send(request)
    assert response.status_code == 400


async def test_empty_notifications_array_is_accepted_without_the_store(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    body = b'{"notifications": []}'
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"accepted": 0, "duplicates": 0, "jobs": 0}
    assert store.calls == []


async def test_batch_of_1000_notifications_is_one_store_call(
    client: httpx.AsyncClient, store: FakeStore, seed_batch: Callable[[int], bytes]
) -> None:
    body = seed_batch(1000)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"accepted": 1000, "duplicates": 0, "jobs": 1000}
    assert len(store.calls) == 1


async def test_store_unavailable_is_503_with_retry_after(
    client: httpx.AsyncClient, store: FakeStore, payload_bytes: Callable[[str], bytes]
) -> None:
    store.unavailable = True
    body = payload_bytes(SEED)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "30"
    assert response.json() == {"error": "store unavailable, retry later"}


async def test_a_bug_is_a_json_500_without_detail(
    client: httpx.AsyncClient, store: FakeStore, payload_bytes: Callable[[str], bytes]
) -> None:
    store.broken = True
    body = payload_bytes(SEED)
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 500
    assert response.json() == {"error": "internal error"}
    assert "X-Request-Id" in response.headers


async def test_unknown_path_is_404_and_get_is_405(client: httpx.AsyncClient) -> None:
    response = await client.post("/webhooks/nope", content=b"{}", headers={"Content-Type": JSON})
    assert response.status_code == 404
    assert response.json() == {"error": "no webhook is configured at this path"}
    response = await client.get(URL)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


async def test_healthz_and_readyz(client: httpx.AsyncClient, store: FakeStore) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    store.unavailable = True
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["store unreachable: database is locked"]
    assert (await client.get("/healthz")).status_code == 200


async def test_readyz_names_a_store_failure_that_has_no_message(
    client: httpx.AsyncClient, store: FakeStore
) -> None:
    store.ping_error = TimeoutError()  # what asyncio.wait_for raises when the probe hangs
    response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reasons"] == ["store unreachable: no answer within 2 s"]


async def test_a_body_with_a_utf8_byte_order_mark_is_accepted_as_the_same_notification(
    client: httpx.AsyncClient, store: FakeStore, payload_bytes: Callable[[str], bytes]
) -> None:
    """A BOM before the JSON (what .NET's serialisers write) is skipped, as .NET's reader
    skips it; the signature covers the bytes as sent, BOM included, and the notification's
    dedupe key is the same as without it, so a redelivery without the BOM is a duplicate."""
    plain = payload_bytes(SEED)
    body = b"\xef\xbb\xbf" + plain
    response = await client.post(URL, content=body, headers=signed(body))
    assert response.status_code == 200
    assert response.json() == {"accepted": 1, "duplicates": 0, "jobs": 1}
    assert store.calls[0][0][0].events[0].codename == "this_changes_everything"
    unsigned_bom = await client.post(URL, content=body, headers=signed(plain))
    assert unsigned_bom.status_code == 401
    again = await client.post(URL, content=plain, headers=signed(plain))
    assert again.json() == {"accepted": 0, "duplicates": 1, "jobs": 0}
