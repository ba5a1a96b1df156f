"""canonical_json writes exactly the standard encoder's bytes: stored content keys depend on it."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.canonical import canonical_json

standard = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_the_same_bytes_as_the_standard_encoder(value: Any) -> None:
    assert canonical_json(value) == standard(value)


def test_every_ascii_character_and_the_awkward_numbers() -> None:
    every_char = "".join(map(chr, range(128)))
    values = [
        every_char,
        {every_char: every_char, "b": 1, "a": [2]},
        [1e16, 1e-7, 1.5e300, 5e-324, 0.1, -0.0, 100.0, 2**63, 2**64, -(2**63) - 1],
        ["\u00e9", "\ud83d\ude00", "\u2028"],
        {"z": {"y": {"x": [None, True, False]}}},
    ]
    for value in values:
        assert canonical_json(value) == standard(value)
