"""What the Delivery API's answers mean: which status retries, which is permanent, and which
answer says "the item is not there".

"Not there" is decided only by Kontent.ai's own answers, because it deletes search records: an
empty item listing, or a 404 carrying Kontent.ai's error object with error code 100 ("The
requested content item '...' was not found."). Any other 404 (an HTML page from a wrong host, an
empty body, someone else's JSON, Kontent.ai's code 1 for a route that does not exist) and any
200 without the listing's shape (of items, or of used-in) mean a wrong `delivery_url` or
`preview_url`: they retry, loudly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bridge import jsonsafe
from bridge.failures import PermanentFailure, Retry
from bridge.httpread import RETRYABLE_4XX, Body, retry_after_s

# Kontent.ai's error_code for "The requested content item '...' was not found."
ITEM_NOT_FOUND = 100
# The Delivery API's "this answer is stale": a more recent version exists but is not served yet.
STALE_CONTENT = "X-Stale-Content"


def api_name(environment_id: str, preview: bool) -> str:
    """How a failure names the API: which one and the environment, never the key."""
    api = "Preview Delivery API" if preview else "Delivery API"
    return f"{api} (environment {environment_id})"


def url_setting(preview: bool) -> str:
    """The setting a wrong host's answer points the operator at."""
    return "kontent.preview_url" if preview else "kontent.delivery_url"


def check_status(
    what: str, status: int, headers: Mapping[str, str], body: Body, preview: bool
) -> None:
    """Raise for any answer but 200, except Kontent.ai's own "content item not found"."""
    text = body.excerpt()
    if status == 404:
        if body.complete and _is_item_not_found(body.text):
            return
        raise Retry(
            f"{what} answered 404 without Kontent.ai's 'content item not found' error: "
            f"check {url_setting(preview)}",
            status=status,
            response=text,
        )
    if status in (401, 403):
        raise PermanentFailure(
            f"{what} refused access ({status}): check the key configured for this environment",
            status=status,
            response=text,
        )
    if status == 429 or status >= 500 or status in RETRYABLE_4XX or 200 <= status < 300:
        # The shared rules (408/409/425 too); a 2xx other than 200 carries no listing.
        raise Retry(
            f"{what} answered {status}",
            delay_s=retry_after_s(headers),
            status=status,
            response=text,
        )
    if 300 <= status < 400 and (where := headers.get("Location")):
        raise PermanentFailure(
            f"{what} redirected ({status}); check {url_setting(preview)}: it points at {where}",
            status=status,
            response=text,
        )
    raise PermanentFailure(f"{what} answered {status}", status=status, response=text)


def check_fresh(what: str, headers: Mapping[str, str]) -> None:
    """Retry a 200 that says it is stale (`X-Stale-Content: 1`).

    The bridge asks with `X-KC-Wait-For-Loading-New-Content`, so the API should wait for the
    new version; when it answers stale anyway, a record or purge built from that answer would
    hold the version before the change that triggered it, and report success.
    """
    if headers.get(STALE_CONTENT, "").strip() == "1":
        raise Retry(
            f"{what} answered with stale content ({STALE_CONTENT}: 1): the newer version is not "
            "served yet",
            delay_s=retry_after_s(headers),
            status=200,
        )


def _is_item_not_found(text: str) -> bool:
    """Kontent.ai's error object (message, request_id, error_code, specific_code), code 100."""
    try:
        error = jsonsafe.loads(text.encode())
    except ValueError:
        return False
    if not isinstance(error, dict):
        return False
    code, specific = error.get("error_code"), error.get("specific_code")
    return (
        isinstance(error.get("message"), str)
        and "request_id" in error
        and isinstance(specific, int)
        and not isinstance(code, bool)
        and code == ITEM_NOT_FOUND
    )


def one_variant(
    data: dict[str, Any], language: str | None, *, listed: str | None, what: str, preview: bool
) -> dict[str, Any] | None:
    """The item of a listing filtered on `system.id == listed` (`items`, empty when there is
    none) or, when `listed` is None, of `/items/{codename}`.

    Only Kontent.ai's own shapes count: an entry that is not an item, another item than the
    one asked for, or a `system`, `elements` or `modular_content` that is not an object is a
    wrong host answering, so it retries; read as "not there" it would delete the record, and
    read as content it crashed the record mapping.
    """
    if listed is not None:
        items = data.get("items")
        if not isinstance(items, list):
            raise Retry(
                f"{what} answered 200 without an item listing: check {url_setting(preview)}"
            )
        if not items:
            return None
        item = items[0]
    else:
        item = data.get("item")
        if not isinstance(item, dict):
            raise Retry(f"{what} answered 200 without a content item: check {url_setting(preview)}")
    linked = data.get("modular_content")
    problem = _item_problem(item, "the item") or _linked_problem(linked)
    if problem is None and listed is not None:
        found = item["system"].get("id")
        if not isinstance(found, str) or found.lower() != listed.lower():
            problem = f"another item than {listed} (system.id {found!r})"
    if problem:
        raise Retry(f"{what} answered 200 with {problem}: check {url_setting(preview)}")
    system = item["system"]
    if language and system.get("language") not in (None, language):
        return None
    return {"item": item, "modular_content": linked or {}}


def _item_problem(item: Any, name: str) -> str | None:
    """What keeps `item` from being a content item object, or None."""
    if not isinstance(item, dict):
        return f"{name} not an object"
    if not isinstance(item.get("system"), dict):
        return f"{name} without a system object"
    if not isinstance(item.get("elements", {}), dict):
        return f"{name}'s elements not an object"
    return None


def _linked_problem(linked: Any) -> str | None:
    if not linked:  # absent, null, or empty (of whatever JSON type): no linked items
        return None
    if not isinstance(linked, dict):
        return "modular_content not an object"
    for codename, item in linked.items():
        problem = _item_problem(item, f"modular_content[{codename!r}]")
        if problem:
            return problem
    return None
