"""A target's answer is read as a bounded prefix, and the Delivery API's up to a maximum.

The memory tests run the real bridge code in a fresh process (tests/actions/memory_probe.py)
against a local server streaming a 400 MiB answer, and assert on that process's peak RSS growth.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.actions.base import PermanentFailure
from bridge.actions.httputil import READ_LIMIT_BYTES, SDK_MAX_RESPONSE_BYTES, request
from bridge.config import ConfigError, parse_config
from bridge.config.model import KontentConfig
from bridge.delivery.records import RESPONSE_EXCERPT_BYTES
from bridge.delivery.store import Store
from bridge.kontent.client import DeliveryClient
from bridge.runtime import Runtime
from bridge.settings import Settings
from tests.fakes.huge import GzipBomb, HugeAnswer
from tests.fakes.kontent import FakeDelivery, item_json

ROOT = Path(__file__).resolve().parents[2]
HUGE_BYTES = 400 << 20
PEAK_LIMIT_BYTES = 64 << 20
MiB = 1 << 20


async def probe(mode: str, url: str) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.actions.memory_probe",
        mode,
        url,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=100)
    assert process.returncode == 0, err.decode()
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize("content_length", [True, False], ids=["sized", "chunked"])
@pytest.mark.parametrize("status", [200, 500])
async def test_a_huge_target_answer_costs_no_memory_and_is_stored_as_an_excerpt(
    status: int, content_length: bool
) -> None:
    async with HugeAnswer(HUGE_BYTES, status=status, content_length=content_length) as target:
        result = await probe("http", target.url + "/hook")
        await asyncio.wait_for(target.finished.wait(), timeout=30)
    assert result["peak_delta_bytes"] < PEAK_LIMIT_BYTES, result
    assert result["kind"] == ("Success" if status == 200 else "Retry")
    stored = result["stored"]
    assert stored.startswith("xxxx")
    assert len(stored.encode()) <= RESPONSE_EXCERPT_BYTES + 16
    if content_length:
        assert f"{HUGE_BYTES} bytes" in stored
    else:
        assert f"more than {READ_LIMIT_BYTES} bytes" in stored
    # The connection was released after the prefix, not drained: most was never sent.
    assert target.sent_bytes < 64 * MiB


@pytest.mark.parametrize("content_length", [True, False], ids=["sized", "chunked"])
async def test_a_huge_delivery_api_answer_fails_the_job_instead_of_filling_memory(
    content_length: bool,
) -> None:
    prefix = b'{"items": [{"system": {"id": "item-1"}, "elements": {"t": {"value": "'
    async with HugeAnswer(
        HUGE_BYTES, content_type="application/json", prefix=prefix, content_length=content_length
    ) as api:
        result = await probe("delivery", api.url)
        await asyncio.wait_for(api.finished.wait(), timeout=30)
    assert result["kind"] == "PermanentFailure", result
    assert "larger than 33554432 bytes" in result["reason"]
    assert "max_response_bytes" in result["reason"]
    # At most the 32 MiB maximum is held, once, before the answer is refused.
    assert result["peak_delta_bytes"] < 32 * MiB + PEAK_LIMIT_BYTES, result
    assert api.sent_bytes < 32 * MiB + 64 * MiB


async def test_the_read_limit_covers_what_the_store_keeps() -> None:
    assert READ_LIMIT_BYTES >= 2 * RESPONSE_EXCERPT_BYTES


async def test_a_short_answer_is_read_whole(http: aiohttp.ClientSession) -> None:
    async with HugeAnswer(100, status=404, fill=b"nope ") as target:
        with pytest.raises(PermanentFailure) as caught:
            await request(http, "POST", target.url, what="hook")
    assert caught.value.response == ("nope " * 20).strip()


async def test_a_multibyte_character_cut_by_the_limit_is_dropped_not_garbled(
    http: aiohttp.ClientSession,
) -> None:
    huge = HugeAnswer(3 * READ_LIMIT_BYTES, prefix=b"a", fill="é".encode(), content_length=False)
    async with huge as target:
        result = await request(http, "GET", target.url, what="hook")
    assert "\ufffd" not in result.response
    assert result.response.startswith("aéé")


async def test_delivery_answers_up_to_the_maximum_are_read_over_it_refused(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeDelivery() as fake:
        elements = {"body": {"type": "text", "name": "Body", "value": "y" * 5_000}}
        fake.publish("env-1", item_json("big", id="id-1", elements=elements))
        roomy = DeliveryClient(http, fake.url, fake.url, max_response_bytes=64_000)
        tight = DeliveryClient(http, fake.url, fake.url, max_response_bytes=4_000)
        got = await roomy.fetch_item("env-1", "id-1", "en", preview=False)
        with pytest.raises(PermanentFailure, match="larger than 4000 bytes"):
            await tight.fetch_item("env-1", "id-1", "en", preview=False)
    assert got is not None and got["item"]["elements"]["body"]["value"] == "y" * 5_000


@pytest.mark.parametrize(
    ("mode", "kind", "reason"),
    [
        # A 2xx Slack answer too large to read: the message was posted (a retry posts it twice).
        ("slack", "Success", "its answer is larger than the 8388608 bytes read"),
        ("slack_webhook", "Success", "its answer is larger than the 8388608 bytes read"),
        ("algolia", "Retry", "Algolia answered more than 8388608 bytes"),
    ],
)
async def test_sdk_reads_are_bounded_by_the_shared_session(
    mode: str, kind: str, reason: str
) -> None:
    """slack-sdk and algoliasearch read answers whole; the session's response class caps them."""
    prefix = b'{"ok": true, "taskID": 1, "x": "'
    huge = HugeAnswer(
        HUGE_BYTES, content_type="application/json", prefix=prefix, content_length=False
    )
    async with huge as target:
        result = await probe(mode, target.url)
        await asyncio.wait_for(target.finished.wait(), timeout=30)
    assert result["kind"] == kind, result
    assert reason in (result["stored"] if kind == "Success" else result["reason"])
    assert result["peak_delta_bytes"] < SDK_MAX_RESPONSE_BYTES + PEAK_LIMIT_BYTES, result
    assert target.sent_bytes < SDK_MAX_RESPONSE_BYTES + 64 * MiB


async def test_a_bounded_session_still_reads_ordinary_answers_whole(
    http: aiohttp.ClientSession,
) -> None:
    async with HugeAnswer(SDK_MAX_RESPONSE_BYTES, fill=b"z") as target:
        resp = await http.get(target.url)
        body = await resp.read()
        resp.release()
    assert body == b"z" * SDK_MAX_RESPONSE_BYTES


CONFIG = """\
version: 1
webhooks:
  - {name: production, path: /webhooks/kontent, secrets: [s3cret]}
kontent:
  max_response_bytes: 4000
actions:
  note: {type: log}
rules:
  - {name: all, when: {object_type: content_item}, do: [note]}
"""


async def test_kontent_max_response_bytes_is_configurable(sqlite_store: Store) -> None:
    config = parse_config(CONFIG)
    assert config.kontent.max_response_bytes == 4000
    default = parse_config(CONFIG.replace("  max_response_bytes: 4000\n", "  environments: {}\n"))
    assert default.kontent == KontentConfig(max_response_bytes=32 << 20)
    runtime = Runtime(Settings())
    await runtime.start(config, sqlite_store)
    try:
        kontent = runtime.resolve("note").resources.kontent
        assert kontent is not None and kontent.max_response_bytes == 4000
    finally:
        await runtime.aclose()


def test_kontent_max_response_bytes_must_be_a_positive_whole_number() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.replace("4000", "-1"))
    assert "kontent.max_response_bytes: expected a whole number of at least 1" in str(caught.value)


async def test_a_compressed_answer_is_bounded_after_decompression() -> None:
    """1 GiB of zeros in about 1 MB of gzip: the limit counts inflated bytes."""
    async with GzipBomb(1 << 30, status=500) as target:
        result = await probe("http", target.url + "/hook")
        await asyncio.wait_for(target.finished.wait(), timeout=30)
    assert result["kind"] == "Retry", result
    assert result["peak_delta_bytes"] < PEAK_LIMIT_BYTES, result
    assert f"more than {READ_LIMIT_BYTES} bytes" in result["stored"]
    assert target.sent_bytes < 1 << 20  # most of the compressed answer was never sent
