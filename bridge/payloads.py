"""From a request body to Notifications: the strict JSON decoder, then the current or the legacy
parser, whichever format the payload is in.

A module of its own so that both parsers sit below it: bridge/legacy.py builds on bridge/events.py,
and only this module needs to know them both.
"""

from __future__ import annotations

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
        return list(parse_current(payload["notifications"], webhook))
    if "message" in payload and "data" in payload:
        return list(parse_legacy(payload, webhook))
    raise PayloadError(
        "payload has neither 'notifications' (current format) "
        "nor 'data' and 'message' (legacy format)"
    )
