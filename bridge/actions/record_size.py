"""Making a search record fit the engine's size limit, instead of skipping it.

A record that is too large cannot simply be skipped: the index would keep the item's previous
version, searchable and stale, while the job reports success. So it is cut, in two steps, each
only as far as needed, to keep what makes the record findable:

1. Long texts are cut **fairly**: one length, as long as the record allows, caps every long
   text wherever it is (an element's words, each content block's `text`), so a body and the
   blocks beside it all keep their beginnings, and every text shorter than that stays whole.
   A text is cut after a whole word and ends in "…", the mark a reader of the record sees; a
   text is never cut below `MIN_TEXT_CHARS`. Tokens, printable ASCII without a space
   (codenames, URLs, ids, dates: facet values and links that a cut would corrupt), are never
   cut, unless longer than `MAX_TOKEN_CHARS`, which none of those is; text without spaces in
   other scripts (Japanese, say) is text, and is cut between characters.
2. Only when texts at that length still do not fit, whole fields give way, largest first: a
   list keeps its first elements (the blocks nearest the item, the first values), anything else
   is dropped.

Identity fields (`objectID`, or Azure's key field, `id`, `codename`, `language`, `type`) are
never touched; when the record still does not fit, the caller deletes the old record and fails
the job. What was cut is the job's response and a warning in the log (`Fitted.describe`);
nothing is added to the record, since a typed index refuses a field it does not declare.

Sizes are those of the JSON the Algolia SDK sends (`json.dumps` with its defaults, so non-ASCII
characters count as their `\\uXXXX` escapes): an upper bound of what the engine measures.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

PROTECTED_FIELDS = frozenset({"objectID", "id", "codename", "language", "type"})
ELLIPSIS = "…"
MIN_TEXT_CHARS = 32  # a few words: below that a text says nothing, and its field gives way
MAX_TOKEN_CHARS = 2048  # longer than any URL or identifier Kontent.ai gives
_TOKEN = re.compile(r"[!-~]*")  # printable ASCII, no space
_PARTIAL_WORD = re.compile(r"(?<=\S)\s+\S+$")  # the word a cut would split, and the space before


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
    """`record` unchanged when it fits; otherwise its texts cut fairly, then its largest fields
    shrunk or dropped, or None when even that leaves it too large."""
    original = size = json_size(dict(record))
    if size <= max_bytes:
        return Fitted(dict(record), original, size)
    work, changes = _cut_texts(dict(record), max_bytes, protected)
    size = json_size(work)
    if size <= max_bytes:
        return Fitted(work, original, size, tuple(changes))
    # Texts at their shortest do not fit: fields give way, chosen on the cut record; then the
    # texts of what is left are cut again, fairly, into the room the fields made.
    kept, given_way = dict(record), list[str]()
    while size > max_bytes:
        candidates = [(json_size(v), k) for k, v in work.items() if k not in protected]
        if not candidates:
            return Fitted(None, original, size, tuple(changes + given_way))
        field_bytes, name = max(candidates)
        value = work[name]
        prefix = _prefix(value, field_bytes - (size - max_bytes))  # what it may still take
        if prefix is None:
            del work[name], kept[name]
            given_way.append(f"{name} dropped")
        else:
            work[name], kept[name] = prefix, kept[name][: len(prefix)]
            given_way.append(f"{name} kept {len(prefix)} of {len(value)}")
        size = json_size(work)
    work, changes = _cut_texts(kept, max_bytes, protected)
    return Fitted(work, original, json_size(work), tuple(changes + given_way))


def _cut_texts(
    record: dict[str, Any], max_bytes: int, protected: frozenset[str]
) -> tuple[dict[str, Any], list[str]]:
    """The record with every long text capped at the longest length that makes it fit (or at
    MIN_TEXT_CHARS when none does), and a note per field that lost words."""
    free = {k: v for k, v in record.items() if k not in protected}
    longest = max((len(t) for t in _texts(free)), default=0)
    if longest <= MIN_TEXT_CHARS:
        return record, []

    def capped(cap: int) -> dict[str, Any]:
        return record | {k: _cap(v, cap) for k, v in free.items()}

    cap = MIN_TEXT_CHARS
    if json_size(capped(cap)) <= max_bytes:  # then find the longest cap that still fits
        cap = _largest(cap, longest - 1, lambda n: json_size(capped(n)) <= max_bytes)
    work = capped(cap)
    changes = []
    for name, value in free.items():
        cut = _changed(value, work[name])
        if not cut:
            continue
        if isinstance(value, str):
            changes.append(f"{name} cut to {len(work[name]) - 1} of {len(value)} characters")
        else:
            changes.append(f"{name}: {cut} text(s) cut to at most {cap} characters")
    return work, changes


def _cuttable(text: str) -> bool:
    return len(text) > MAX_TOKEN_CHARS or not _TOKEN.fullmatch(text)


def _texts(value: Any) -> list[str]:
    """Every cuttable text in `value`, depth first, in order."""
    if isinstance(value, str):
        return [value] if _cuttable(value) else []
    if isinstance(value, Mapping):
        return [text for part in value.values() for text in _texts(part)]
    if isinstance(value, list):
        return [text for part in value for text in _texts(part)]
    return []


def _changed(before: Any, after: Any) -> int:
    """How many texts `_cap` changed (the two values have the same shape)."""
    if isinstance(before, str):
        return int(before != after)
    if isinstance(before, Mapping):
        return sum(_changed(v, after[k]) for k, v in before.items())
    if isinstance(before, list):
        return sum(_changed(a, b) for a, b in zip(before, after, strict=True))
    return 0


def _cap(value: Any, cap: int) -> Any:
    if isinstance(value, str):
        return _cut(value, cap) if len(value) > cap and _cuttable(value) else value
    if isinstance(value, Mapping):
        return {k: _cap(v, cap) for k, v in value.items()}
    if isinstance(value, list):
        return [_cap(v, cap) for v in value]
    return value


def _cut(text: str, cap: int) -> str:
    """At most `cap` characters and the ellipsis, ending after a whole word when there is one."""
    head = text[:cap]
    if not text[cap].isspace() and (partial := _PARTIAL_WORD.search(head)):
        head = head[: partial.start()]
    return head.rstrip() + ELLIPSIS


def _prefix(value: Any, budget: int) -> list[Any] | None:
    """The longest prefix of a list within `budget` bytes, or None (drop the field)."""
    if not isinstance(value, list):
        return None
    n = _longest(len(value), lambda n: value[:n], budget)
    return None if n == 0 else value[:n]


def _longest(length: int, prefix: Callable[[int], Sequence[Any]], budget: int) -> int:
    """The largest n < length whose prefix(n) fits in budget (0 when none does)."""
    # A prefix as long as the value would not have shrunk it: at most length - 1.
    return _largest(0, length - 1, lambda n: json_size(prefix(n)) <= budget)


def _largest(low: int, high: int, fits: Callable[[int], bool]) -> int:
    """The largest n in (low, high] that fits, by bisection, else `low` (once `fits` fails
    for some n it fails for every larger one)."""
    while low < high:
        middle = (low + high + 1) // 2
        if fits(middle):
            low = middle
        else:
            high = middle - 1
    return low
