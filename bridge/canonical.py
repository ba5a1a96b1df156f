"""Canonical JSON text: sorted keys, no spaces, ASCII only. Content keys are hashes of it,
stored and compared across versions, so its bytes must never change.

The standard encoder defines those bytes. orjson writes the same text several times faster,
except where the two differ: orjson writes non-ASCII as UTF-8 (the standard encoder as \\u
escapes), floats with an exponent as `1e16` (the standard encoder as `1e+16`), and refuses
integers past 64 bits and values that are not JSON. Those cases go to the standard encoder; a
test holds the two to the same bytes on everything else. The values must be strict JSON, as
bridge.jsonsafe decodes it: orjson would write NaN or Infinity as null.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_standard = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
# A digit followed by an exponent: a float orjson writes differently (a false positive, such as
# "1e" inside a string, only costs the standard encoder).
_EXPONENT = re.compile(rb"[0-9][eE]")


def canonical_json(value: Any) -> str:
    """The canonical text of a strict JSON value (dicts, lists, strings, numbers, booleans)."""
    try:
        # Passthrough: a subclass of str or int (an enum) is the standard encoder's to write.
        text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_PASSTHROUGH_SUBCLASS)
    except TypeError:  # orjson.JSONEncodeError is one: a big int, a non-JSON value
        pass
    else:
        if text.isascii() and _EXPONENT.search(text) is None:
            return text.decode("ascii")
    return _standard(value)
