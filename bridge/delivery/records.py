"""How values are written to and read from store rows (shared by the SQLite and PG stores)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from bridge import jsonsafe, redaction
from bridge.events import Event, Notification
from bridge.plan import PlannedJob

RESPONSE_EXCERPT_BYTES = 2048

# Built once: json.dumps with non-default arguments builds a new encoder on every call, and
# encoding is a good part of what accepting a notification costs.
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode
_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str).encode


def _encode_decoded(value: Any) -> str:
    """JSON text of a value decoded from JSON (a notification's raw, an event's fields, rule
    names): orjson's, several times faster, and the same JSON (non-ASCII text is written as
    UTF-8 rather than as \\u escapes). What orjson refuses (an integer past 64 bits) is
    written by the standard encoder. Not for `with:` inputs: orjson writes YAML's dates in
    its own way where the standard encoder calls str()."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return _encode(value)


class EncodeCache:
    """Within one accept: each event and each `with:` mapping is encoded once, however many
    jobs share it (one event matched by three rules is three jobs). Keys are object ids, so a
    cache must not outlive the call that made it."""

    def __init__(self) -> None:
        self.events: dict[int, tuple[str, str]] = {}
        self.inputs: dict[int, tuple[str, str]] = {}


def dumps(value: Any) -> str:
    return _encode(value)


def inputs_hash(inputs: Mapping[str, Any]) -> str:
    """Jobs with equal `with:` inputs may share a debounced call; others are coalesced apart."""
    return hashlib.sha256(_canonical(dict(inputs)).encode()).hexdigest()[:16]


NO_INPUTS = ("{}", inputs_hash({}))


def _event_parts(event: Event, cache: EncodeCache | None) -> tuple[str, str]:
    """(fields JSON, summary) of an event."""
    if cache is not None and (found := cache.events.get(id(event))) is not None:
        return found
    parts = (_encode_decoded(event.fields()), event.summary()[:500])
    if cache is not None:
        cache.events[id(event)] = parts
    return parts


def _inputs_parts(inputs: Mapping[str, Any], cache: EncodeCache | None) -> tuple[str, str]:
    """(JSON, hash) of a rule's `with:` mapping (most rules have none)."""
    if not inputs:
        return NO_INPUTS
    if cache is not None and (found := cache.inputs.get(id(inputs))) is not None:
        return found
    parts = (_encode(dict(inputs)), inputs_hash(inputs))
    if cache is not None:
        cache.inputs[id(inputs)] = parts
    return parts


def excerpt(text: str | None, limit: int = RESPONSE_EXCERPT_BYTES) -> str | None:
    """A bounded excerpt of a response body for the log (UTF-8 bytes, cut on a character).

    Secret values are hidden first (bridge.redaction), so a cut never leaves half a secret."""
    if text is None:
        return None
    text = storable(redaction.redact(text))
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    return data[:limit].decode("utf-8", "ignore") + " [...]"


def storable(text: str) -> str:
    """`text` as every store can keep it: PostgreSQL's TEXT refuses NUL (0x00), and no UTF-8
    holds a lone surrogate; each becomes U+FFFD. A target's answer, and the reasons that quote
    it, may hold either: refused, the outcome would never be recorded and the job would run
    again at every lease expiry."""
    text = jsonsafe.without_lone_surrogates(text)
    return text.replace("\x00", "\ufffd") if "\x00" in text else text


def decode_stored(text: str) -> Any:
    """A JSON column as the standard decoder reads it, by orjson where the two agree (a claim
    decodes each job's event, raw notification and inputs). They differ on an integer past 64
    bits (orjson reads a float: a run of 19 digits goes to the standard decoder) and on what
    orjson refuses (NaN in a row an older version stored, a lone surrogate escape)."""
    if text == "{}":
        return {}
    data = text.encode("utf-8", "surrogatepass")
    if not jsonsafe.has_long_digit_run(data):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


def event_from_row(fields_json: str, raw_json: str | None) -> Event:
    raw = decode_stored(raw_json) if raw_json else {}
    return Event.from_json(decode_stored(fields_json) | {"raw": raw})


def shown_json(text: Any) -> Any:
    """A JSON column read for the admin's views (never for delivery): a value that no longer
    parses (a row written by hand or by an older version) reads as {"unreadable": excerpt}
    instead of failing every page that lists it."""
    try:
        return json.loads(text)
    except (TypeError, ValueError, RecursionError):
        return {"unreadable": excerpt(str(text), 500)}


def shown_mapping(text: Any) -> Mapping[str, Any]:
    """`shown_json` for a column that holds an object: anything else is {"unreadable": it}."""
    value = shown_json(text)
    return value if isinstance(value, Mapping) else {"unreadable": value}


def shown_event(fields_json: Any, raw_json: Any) -> Event:
    """`event_from_row` for the admin's views: unreadable or odd columns give what they can."""
    fields = shown_mapping(fields_json)
    raw = shown_mapping(raw_json) if raw_json else {}
    try:
        return Event.from_json(dict(fields) | {"raw": raw})
    except (TypeError, ValueError, AttributeError):
        return Event(raw=raw)


# (webhook, object id, language, delivery slot), '' for a null part: what `object_latest` keys.
ObjectKey = tuple[str, str, str, str]
# The most an object's key may hold, in UTF-8 bytes: PostgreSQL refuses index entries over 2,704
# bytes (object_latest's primary key holds all four parts), and a refused insert failed the whole
# accept. Kontent.ai's ids are GUIDs and its codenames at most 60 characters.
MAX_OBJECT_KEY_BYTES = 2000


def object_key(notification: Notification) -> ObjectKey | None:
    """The one object a notification is about, or None (no id, or a key too long to index:
    dedupe by content key alone).

    Kontent.ai delivers in order and a retry repeats what it sent last, so a notification about
    an object is a redelivery only if it repeats the latest one received for that object.
    """
    if len(notification.events) != 1:
        return None
    event = notification.events[0]
    if event.id is None:
        return None
    # The language as sent, not as resolved: a redelivery whose id lookup went otherwise than
    # the first delivery's is still the same object (legacy workflow payloads).
    language = event.language if notification.sent_language is None else notification.sent_language
    key = (notification.webhook or "", event.id, language or "", event.delivery_slot or "")
    if sum(map(len, key)) * 4 > MAX_OBJECT_KEY_BYTES and (
        sum(len(part.encode("utf-8", "surrogatepass")) for part in key) > MAX_OBJECT_KEY_BYTES
    ):
        # No store could index it: such a notification (from a Sync API answer, which nothing
        # else bounds; webhooks refuse it with a 400) is deduped by its content key alone.
        return None
    return key


def notification_params(
    notification: Notification,
    rules: Sequence[str],
    *,
    now: float,
    request_id: str | None,
    cache: EncodeCache | None = None,
) -> dict[str, Any]:
    events = [_event_parts(event, cache) for event in notification.events]
    obj = object_key(notification)
    return {
        "key": notification.key,
        "content_key": notification.key,
        "object_webhook": obj[0] if obj else None,
        "object_id": obj[1] if obj else None,
        "object_language": obj[2] if obj else None,
        "object_slot": obj[3] if obj else None,
        "last_modified": notification.events[0].last_modified if obj else None,
        "object_run": None,  # set by accept_rows when the request holds several for the object
        "webhook": notification.webhook,
        "format": notification.format,
        "received_at": now,
        "request_id": request_id,
        "raw": _encode_decoded(dict(notification.raw)),
        "events": "[" + ",".join(fields for fields, _ in events) + "]",
        "rules": _encode_decoded(list(rules)),
        "summary": "; ".join(summary for _, summary in events)[:500],
    }


@dataclass(frozen=True, slots=True)
class AcceptRows:
    """What both stores write for one accept: notification rows, and what the job rows need."""

    notes: list[dict[str, Any]]
    rules: dict[str, list[str]]  # notification key -> matched rules
    cache: EncodeCache  # one event matched by several rules is encoded once
    occurrences: list[int]  # per job: which copy of its notification in the request it serves
    # Per job, its row (job_params), built with the rest, off the event loop for a large accept,
    # not inside the write transaction: 60,000 of them took 290 ms there.
    jobs: list[dict[str, Any]]


def accept_rows(
    notifications: Sequence[Notification],
    jobs: Sequence[PlannedJob],
    *,
    now: float,
    request_id: str | None,
) -> AcceptRows:
    rules = rules_by_notification(jobs)
    cache = EncodeCache()
    notes = [
        notification_params(n, rules.get(n.key, []), now=now, request_id=request_id, cache=cache)
        for n in notifications
    ]
    job_rows = [job_params(job, now=now, request_id=request_id, cache=cache) for job in jobs]
    mark_runs(notes)
    return AcceptRows(notes, rules, cache, job_occurrences(notifications, jobs), job_rows)


def note_object(values: Mapping[str, Any]) -> ObjectKey | None:
    """The object a notification row is about (`notification_params`' values), or None."""
    if values["object_id"] is None:
        return None
    return (
        values["object_webhook"],
        values["object_id"],
        values["object_language"],
        values["object_slot"],
    )


def mark_runs(notes: Sequence[dict[str, Any]]) -> None:
    """`object_run` of each row about an object the request names more than once: a hash of
    the object's content keys in request order (one repeating the one before it left out, as a
    redelivery within the request). `object_latest.run` keeps it, so that when Kontent.ai
    retries the whole request, the object's earlier notifications in it are recognised too,
    and not only the one that became its latest (migration 0006)."""
    chains: dict[ObjectKey, list[str]] = {}
    for values in notes:
        obj = note_object(values)
        if obj is not None:
            chain = chains.setdefault(obj, [])
            if not chain or chain[-1] != values["content_key"]:
                chain.append(values["content_key"])
    runs = {obj: run_key(chain) for obj, chain in chains.items() if len(chain) > 1}
    if runs:
        for values in notes:
            obj = note_object(values)
            if obj is not None:
                values["object_run"] = runs.get(obj)


def run_key(content_keys: Sequence[str]) -> str:
    """One value for a sequence of content keys (legacy keys run to 2 KiB: hashed, not joined)."""
    return hashlib.sha256("\n".join(content_keys).encode("utf-8", "surrogatepass")).hexdigest()


def job_occurrences(notifications: Sequence[Notification], jobs: Sequence[PlannedJob]) -> list[int]:
    """For each job, the copy (1, 2, ...) of its notification in this request it was planned for.

    A request may hold one notification twice (the second a redelivery) or, for an object that
    went back to an earlier state, twice as two changes. The planner plans each copy's jobs in
    notification order, so a key's jobs fall into one equal group per copy, and a store keeps
    the groups of the copies it accepted. Jobs not planned per copy (their number not a
    multiple of the copies) are all group 1: kept once the key is accepted.
    """
    copies: dict[str, int] = {}
    for notification in notifications:
        copies[notification.key] = copies.get(notification.key, 0) + 1
    if all(count == 1 for count in copies.values()):
        return [1] * len(jobs)
    planned: dict[str, int] = {}
    for job in jobs:
        planned[job.notification_key] = planned.get(job.notification_key, 0) + 1
    seen: dict[str, int] = {}
    found = []
    for job in jobs:
        key = job.notification_key
        count, total = copies.get(key, 1), planned[key]
        group = total // count if total % count == 0 else total
        index = seen.get(key, 0)
        seen[key] = index + 1
        found.append(index // group + 1)
    return found


def notification_from_row(
    key: str, webhook: str | None, format: str, raw_json: str, events_json: str
) -> Notification:
    raw = json.loads(raw_json)
    events = tuple(Event.from_json(fields | {"raw": raw}) for fields in json.loads(events_json))
    return Notification(key, webhook, "legacy" if format == "legacy" else "current", raw, events)


def job_params(
    job: PlannedJob, *, now: float, request_id: str | None, cache: EncodeCache | None = None
) -> dict[str, Any]:
    event, summary = _event_parts(job.event, cache)
    inputs, hashed = _inputs_parts(job.inputs, cache)
    return {
        "action": job.action,
        "rule": job.rule,
        "notification_key": job.notification_key,
        "event": event,
        "inputs": inputs,
        "inputs_hash": hashed,
        "request_id": request_id,
        "summary": summary,
        "now": now,
    }


def rules_by_notification(jobs: Sequence[PlannedJob]) -> dict[str, list[str]]:
    """Which rules matched each notification, in rule order, each once."""
    found: dict[str, list[str]] = {}
    for job in jobs:
        rules = found.setdefault(job.notification_key, [])
        if job.rule not in rules:
            rules.append(job.rule)
    return found
