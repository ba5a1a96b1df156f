"""From a request body to Notifications: the strict JSON decoder, then the current or the legacy
parser, whichever format the payload is in.

A module of its own so that both parsers sit below it: bridge/legacy.py builds on bridge/events.py,
and only this module needs to know them both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bridge import jsonsafe
from bridge.events import Notification, PayloadError, _json_type, parse_current
from bridge.legacy import parse_legacy


def parse_body(body: bytes, webhook: str | None = None) -> list[Notification]:
    """Decode and parse a raw request body; every failure is a PayloadError with a reason.

    The decoder (bridge/jsonsafe.py) refuses what could not be stored or re-encoded later."""
    try:
        payload = jsonsafe.loads(body)
    except jsonsafe.UnsafeJSON as exc:
        raise PayloadError(str(exc)) from None
    return parse_payload(payload, webhook)


def parse_payload(payload: Any, webhook: str | None = None) -> list[Notification]:
    if not isinstance(payload, dict):
        raise PayloadError(f"payload must be a JSON object, not {_json_type(payload)}")
    if "notifications" in payload:
        if legacy := sorted({"data", "message"} & payload.keys()):
            # Read as either format, one of the two lists of changes would be dropped unseen.
            raise PayloadError(
                "payload has both 'notifications' (current format) and "
                f"{' and '.join(repr(k) for k in legacy)} (legacy format): send one format"
            )
        return list(parse_current(payload["notifications"], webhook))
    if "message" in payload and "data" in payload:
        return list(parse_legacy(payload, webhook))
    raise PayloadError(
        "payload has neither 'notifications' (current format) "
        "nor 'data' and 'message' (legacy format)"
    )


class UnknownWebhook(LookupError):
    """A command named a webhook the config does not have; the message lists those it has."""


def receiving_webhook(configured: Sequence[str], requested: str | None) -> str | None:
    """The webhook a payload is parsed as (rules can match `webhook:`): the one requested, else
    the first configured, as `bridge explain` and `bridge test` assume."""
    if requested is None:
        return configured[0] if configured else None
    if requested not in configured:
        known = ", ".join(configured) or "none"
        raise UnknownWebhook(f"no webhook named {requested!r} (configured: {known})")
    return requested
