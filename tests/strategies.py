"""Hypothesis strategies the tests share."""

from __future__ import annotations

from hypothesis import strategies as st

# JSON values as a strict decoder keeps them: no NaN or Infinity, integers past 64 bits included
# (where orjson and the standard library part ways).
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
