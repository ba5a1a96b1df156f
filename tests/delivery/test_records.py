"""Stored JSON columns decode as the standard decoder reads them, whichever decoder runs."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings

from bridge.delivery.records import decode_stored
from tests.strategies import json_values


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_the_same_values_as_the_standard_decoder(value: Any) -> None:
    for text in (json.dumps(value), json.dumps(value, ensure_ascii=False)):
        decoded = decode_stored(text)
        assert decoded == json.loads(text)
        assert repr(decoded) == repr(json.loads(text))  # an int stays an int


def test_what_orjson_refuses_still_decodes() -> None:
    """Rows an older version stored: NaN, a lone surrogate escape, an integer past 64 bits."""
    for text in ('{"a": NaN}', '["\\ud800"]', '{"id": 123456789012345678901234567890}'):
        assert repr(decode_stored(text)) == repr(json.loads(text))
