"""What the posting actions (`bluesky`, `mastodon`) share: one post per item of a call, and the
download of the post's image with the bridge's bounded session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

from bridge.actions.base import ActionOptions, Call, PermanentFailure, Retry, Success
from bridge.actions.httputil import check_origin, check_templated_origins, read_at_most
from bridge.events import Event

OptionsT = TypeVar("OptionsT", bound=ActionOptions)


async def post_each(
    call: Call[OptionsT], image_option: str, post: Callable[[OptionsT, Event], Awaitable[str]]
) -> Success:
    """Each item's post, once every rendered image URL keeps its template's origin."""
    check_templated_origins(call, image_option)
    template = call.templates.get(image_option)
    for item in call.items:
        value = getattr(item.options, image_option)
        if isinstance(template, str) and value:
            check_origin(template, value, option=image_option)
    lines = [await post(item.options, item.event) for item in call.items]
    return Success(status=200, response="; ".join(lines))


async def download_image(
    http: aiohttp.ClientSession, url: str, max_bytes: int, what: str
) -> tuple[bytes, str]:
    """The image and its media type; `what` names it in failures ("the image")."""
    try:
        async with http.get(url, allow_redirects=False) as resp:
            if resp.status != 200:
                raise Retry(f"{what} answered {resp.status}", status=resp.status)
            mime = resp.content_type or "application/octet-stream"
            data = await read_at_most(resp, max_bytes)
    except aiohttp.ClientPayloadError as exc:  # BodyTooLarge among them
        raise PermanentFailure(f"{what} is unusable: {exc}") from exc
    except (TimeoutError, aiohttp.ClientError) as exc:
        raise Retry(f"{what} is unreachable: {type(exc).__name__}") from exc
    return data, mime
