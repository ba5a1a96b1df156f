"""The post image download of `bluesky` and `mastodon` (social.download_image) against a
misbehaving asset host: what cannot change is permanent, what can is retried."""

from __future__ import annotations

import aiohttp
import pytest

from bridge.actions.base import PermanentFailure, Retry
from bridge.actions.social import download_image
from tests.fakes.raw import RawAnswer

PNG = b"\x89PNG\r\n\x1a\n" + b"\1" * 64


def answer(status: int, body: bytes, length: int | None = None) -> bytes:
    head = (
        f"HTTP/1.1 {status} X\r\nContent-Type: image/png\r\nContent-Length: {length or len(body)}"
    )
    return head.encode() + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    ("raw", "reset", "expected", "reason"),
    [
        (
            answer(200, PNG[:20], length=len(PNG)),
            True,
            Retry,
            "the image: the answer broke off: Not enough data",
        ),
        (answer(503, b"busy"), False, Retry, "the image answered 503"),
        (answer(404, b"gone"), False, PermanentFailure, "the image answered 404"),
        (answer(200, PNG * 100), False, PermanentFailure, "the image is unusable"),
    ],
    ids=["reset-mid-body", "503", "404", "too-large"],
)
async def test_an_image_download_fails_as_its_cause_says(
    http: aiohttp.ClientSession, raw: bytes, reset: bool, expected: type[Exception], reason: str
) -> None:
    """Before: a download reset mid-body was permanent ('unusable') and a 404 was retried."""
    async with RawAnswer(raw, reset=reset) as host:
        with pytest.raises(expected, match=reason):
            await download_image(http, host.url + "/hero.png", 1000, "the image")


async def test_an_image_is_downloaded_whole(http: aiohttp.ClientSession) -> None:
    async with RawAnswer(answer(200, PNG)) as host:
        assert await download_image(http, host.url + "/hero.png", 1000, "the image") == (
            PNG,
            "image/png",
        )
