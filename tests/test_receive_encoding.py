"""What the receive path's faster encoding must keep: dedupe keys byte for byte, stored JSON
that decodes to what was received, and values orjson refuses still stored."""

from __future__ import annotations

import json

import pytest

from bridge.delivery import records
from bridge.payloads import parse_body

pytestmark = pytest.mark.timeout(30)

# Non-ASCII and astral text, a float the two encoders write differently (1e+16 / 1e16), an
# integer past 64 bits, DEL (escaped by the standard encoder only).
BODY = (
    '{"notifications":[{"data":{"system":{"id":"e113e464-bba0-4aa4-a84f-000000000001",'
    '"name":"Caf\\u00e9 \\ud83d\\ude00 \u00fcber","codename":"cafe","type":"article",'
    '"last_modified":"2026-11-22T10:00:00Z"},"score":1e16,"ratio":0.1,'
    '"big":123456789012345678901234567890,"del":"\\u007f"},'
    '"message":{"environment_id":"e","object_type":"content_item","action":"published",'
    '"delivery_slot":"published"}}]}'
).encode()
# The key this body had before the receive path was optimised (commit 852a27f): stored keys
# recognise redeliveries, so a change of encoding would make every redelivery look new.
KEY = "2239a78dbd2ebd2eabf1af9e8adc5952f9b8ae48878d1eaed61cc06a27b31665"


def test_dedupe_keys_are_unchanged() -> None:
    [notification] = parse_body(BODY, "production")
    assert notification.key == KEY


def test_stored_notification_json_decodes_to_what_was_received() -> None:
    [notification] = parse_body(BODY, "production")
    values = records.notification_params(notification, ["r1"], now=1.0, request_id="req")
    assert json.loads(values["raw"]) == notification.raw  # the big int took the fallback
    assert json.loads(values["rules"]) == ["r1"]
    [fields] = json.loads(values["events"])
    assert fields["name"] == "Caf\u00e9 \U0001f600 \u00fcber"
    assert fields == notification.events[0].fields()


def test_values_orjson_refuses_are_written_by_the_standard_encoder() -> None:
    value = {"big": 2**70, "text": "\u00fcber"}
    assert json.loads(records._encode_decoded(value)) == value
    assert records._encode_decoded({"a": [1, "b"]}) == '{"a":[1,"b"]}'
