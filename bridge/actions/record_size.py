"""Making a search record fit the engine's size limit, instead of skipping it.

A record that is too large cannot simply be skipped: the index would keep the item's previous
version, searchable and stale, while the job reports success. So the largest fields give way
first, each only as far as needed: a long text is cut (ending in "…"), a list keeps its first
elements, anything else is dropped. Identity fields (`objectID`, `id`, `codename`, `language`,
`type`) are never touched; when the record still does not fit, the caller deletes the old record
and fails the job.

Sizes are those of the JSON the Algolia SDK sends (`json.dumps` with its defaults, so non-ASCII
characters count as their `\\uXXXX` escapes): an upper bound of what the engine measures.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROTECTED_FIELDS = frozenset({"objectID", "id", "codename", "language", "type"})
ELLIPSIS = "…"


def json_size(value: Any) -> int:
    """Bytes of `value` as the SDK serialises it (ASCII-only, so characters are bytes)."""
    return len(json.dumps(value))


@dataclass(frozen=True, slots=True)
class Fitted:
    """The record as it will be sent (None: it cannot fit), its sizes, and what was cut."""

    record: dict[str, Any] | None
    original_bytes: int
    final_bytes: int
    changes: tuple[str, ...] = ()

    def describe(self) -> str:
        return f"{', '.join(self.changes)}; {self.original_bytes} -> {self.final_bytes} bytes"


def fit_record(
    record: Mapping[str, Any], max_bytes: int, protected: frozenset[str] = PROTECTED_FIELDS
) -> Fitted:
    """`record` unchanged when it fits; otherwise shrunk largest field first, or None."""
    original = size = json_size(dict(record))
    if size <= max_bytes:
        return Fitted(dict(record), original, size)
    work = dict(record)
    changes: list[str] = []
    while size > max_bytes:
        candidates = [(json_size(v), k) for k, v in work.items() if k not in protected]
        if not candidates:
            return Fitted(None, original, size, tuple(changes))
        field_bytes, name = max(candidates)
        budget = field_bytes - (size - max_bytes)  # what this field may still take
        value = work[name]
        shrunk = _shrink(value, budget)
        if shrunk is None:
            del work[name]
            changes.append(f"{name} dropped")
        else:
            work[name] = shrunk
            if isinstance(value, str):
                changes.append(f"{name} truncated")
            else:
                changes.append(f"{name} kept {len(shrunk)} of {len(value)}")
        size = json_size(work)
    return Fitted(work, original, size, tuple(changes))


def _shrink(value: Any, budget: int) -> Any:
    """The longest prefix of a text or list within `budget` bytes, or None (drop the field)."""
    if isinstance(value, str):
        n = _longest(len(value), lambda n: value[:n] + ELLIPSIS, budget)
        return None if n == 0 else value[:n] + ELLIPSIS
    if isinstance(value, list):
        n = _longest(len(value), lambda n: value[:n], budget)
        return None if n == 0 else value[:n]
    return None


def _longest(length: int, prefix: Callable[[int], Sequence[Any] | str], budget: int) -> int:
    """The largest n < length whose prefix(n) fits in budget (0 when none does)."""
    low, high = 0, length - 1  # a prefix as long as the value would not have shrunk it
    while low < high:
        middle = (low + high + 1) // 2
        if json_size(prefix(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return low
