"""Durations as users write them: `500ms`, `30s`, `10m`, `1h`, `3d`, `1h30m`, or plain seconds."""

from __future__ import annotations

import math
import re

# The longest duration anyone means (ten years). Past it a value is a slip (`999999999d`, a
# run of nines, `.inf`): due times and cut-offs computed from it would leave the range every
# timestamp and view can show, and NaN compares false with everything (a timeout never fires).
MAX_DURATION_S = 3650 * 86400.0


class DurationTooLong(ValueError):
    """A duration past MAX_DURATION_S (or NaN), as opposed to one that is not written right."""


_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?(?:ms|s|m|h|d))+")


def parse_duration(value: str | int | float) -> float:
    """Seconds as a float; raises ValueError with a message fit for a config error."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration like 30s, 10m or 1h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        return _bounded(value)
    text = value.strip().replace(" ", "")
    if _NUMBER.fullmatch(text):
        return _bounded(float(text))
    if not _WHOLE.fullmatch(text):
        raise ValueError(
            f"invalid duration {value!r} (write e.g. 500ms, 30s, 10m, 1h, 3d or 1h30m)"
        )
    seconds = sum(float(number) * _UNITS_S[unit] for number, unit in _PART.findall(text))
    return _bounded(seconds)


def _bounded(seconds: float) -> float:
    # Compared before float(): an integer of 400 digits is too large for a float. The value is
    # not echoed, as it is long by definition (and an integer past 4300 digits has no repr).
    if not (isinstance(seconds, int) or math.isfinite(seconds)) or seconds > MAX_DURATION_S:
        raise DurationTooLong("a duration can be at most 3650d (ten years)")
    return float(seconds)


def format_duration(seconds: float) -> str:
    """The shortest exact spelling, for `bridge check` and docs: 90 -> `90s`, 3600 -> `1h`."""
    for unit in ("d", "h", "m", "s"):
        size = _UNITS_S[unit]
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{round(seconds * 1000)}ms"
