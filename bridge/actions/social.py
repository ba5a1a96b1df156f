"""What the posting actions (`bluesky`, `mastodon`) share: one post per item of a call, and the
download of the post's image with the bridge's bounded session.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import aiohttp

from bridge.actions.base import ActionOptions, Call, PermanentFailure, Retry, Success
from bridge.actions.httputil import (
    BodyTooLarge,
    check_origin,
    check_templated_origins,
    classify,
    failure_reason,
    read_at_most,
    read_prefix,
)
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
            if not 200 <= resp.status < 300:  # the shared rules: a 404 image is gone for good
                classify(resp.status, resp.headers, await read_prefix(resp), what=what)
            mime = resp.content_type or "application/octet-stream"
            data = await read_at_most(resp, max_bytes)
    except BodyTooLarge as exc:  # the same image is as large on every attempt
        raise PermanentFailure(f"{what} is unusable: {exc}") from exc
    except (TimeoutError, aiohttp.ClientError) as exc:  # a reset or cut-off download included
        raise Retry(failure_reason(what, exc)) from exc
    return data, mime
