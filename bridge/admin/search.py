"""Searching the delivery log: by text, codename, name, item id, request id, rule, state, time.

`delivery_search` parses the query parameters the dashboard's search form (and the API's
`/deliveries`) send into one `DeliverySearch`; `search_deliveries` answers it. When the store
has a `search_deliveries(search, limit=, offset=)` query (W5a: the SQL one), that runs;
otherwise the newest `SCAN_ROWS` rows of the log are filtered here, reading a job's events and
request id only for rows the cheap filters kept. The dashboard says when a search was cut to
that window (`SearchPage.scanned_all`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from bridge.admin.context import FILTERS, AdminContext, BadRequest
from bridge.admin.params import job_id, plain_name, shown
from bridge.config.durations import parse_duration
from bridge.delivery.policy import DELIVERY_ID_PREFIX, delivery_id

STATES = ("pending", "running", "retrying", "succeeded", "dead")
SCAN_ROWS = 5000
PAGE_ROWS = 500
MAX_TEXT = 200


@dataclass(frozen=True, slots=True)
class DeliverySearch:
    action: str | None = None
    filter: str = "all"
    q: str | None = None  # any of: name, codename, item id, request id, summary
    codename: str | None = None
    name: str | None = None
    item_id: str | None = None
    request_id: str | None = None
    rule: str | None = None
    state: str | None = None
    since: float | None = None
    until: float | None = None

    @property
    def narrowed(self) -> bool:
        """Whether anything beyond the action and the All/Failures tabs is asked for."""
        return any(
            getattr(self, f.name) is not None
            for f in fields(self)
            if f.name not in ("action", "filter")
        )

    @property
    def needs_detail(self) -> bool:
        return any(
            v is not None for v in (self.q, self.codename, self.name, self.item_id, self.request_id)
        )


@dataclass(frozen=True, slots=True)
class SearchPage:
    rows: list[Any]
    scanned_all: bool  # False: only the newest SCAN_ROWS jobs were searched


def delivery_search(params: Mapping[str, str], now: float) -> DeliverySearch:
    """The search a query string asks for; BadRequest (400) naming the parameter otherwise."""
    value = params.get("filter") or "all"
    if value not in FILTERS:
        raise BadRequest(f"filter must be one of {', '.join(FILTERS)}, got {shown(value)}")
    state = _text(params, "state")
    if state is not None and state not in STATES:
        raise BadRequest(f"state must be one of {', '.join(STATES)}, got {shown(state)}")
    since, until = _time(params, "since", now), _time(params, "until", now)
    if since is not None and until is not None and since > until:
        raise BadRequest("since must be before until")
    return DeliverySearch(
        action=_name(params, "action"),
        filter=value,
        q=_text(params, "q"),
        codename=_text(params, "codename"),
        name=_text(params, "name"),
        item_id=_text(params, "item_id"),
        request_id=_text(params, "request_id"),
        rule=_name(params, "rule"),
        state=state,
        since=since,
        until=until,
    )


def _text(params: Mapping[str, str], key: str) -> str | None:
    raw = (params.get(key) or "").strip()
    if not raw:
        return None
    if len(raw) > MAX_TEXT or not plain_name(raw):
        raise BadRequest(f"{key} must be at most {MAX_TEXT} characters of text, got {shown(raw)}")
    return raw


def _name(params: Mapping[str, str], key: str) -> str | None:
    raw = params.get(key) or None
    if raw is not None and not plain_name(raw):
        raise BadRequest(f"{key} must be a {key} name, got {shown(raw)}")
    return raw


def _time(params: Mapping[str, str], key: str, now: float) -> float | None:
    """`2026-12-02T01:30` (UTC unless it names a zone) or a duration back from now (`2h`)."""
    raw = (params.get(key) or "").strip()
    if not raw:
        return None
    try:
        return now - parse_duration(raw)
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(
            f"{key} must be a time such as 2026-12-02T01:30 (UTC) or a duration back from now "
            f"such as 2h, got {shown(raw)}"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


async def search_deliveries(
    ctx: AdminContext, search: DeliverySearch, *, limit: int, offset: int
) -> SearchPage:
    store = ctx.store
    if (first_job := _delivery_job(search.q)) is not None:
        rows = [row for row in await _delivery(ctx, first_job) if _row_matches(search, row)]
        rows = [row for row in rows if search.action is None or row.action == search.action]
        return SearchPage(rows[offset : offset + limit], True)
    if not search.narrowed:
        rows = await store.deliveries(
            action=search.action, filter=search.filter, limit=limit, offset=offset
        )
        return SearchPage(list(rows), True)
    own = getattr(store, "search_deliveries", None)
    if own is not None:
        return SearchPage(list(await own(search, limit=limit, offset=offset)), True)
    found: list[Any] = []
    scanned, cursor = 0, 0
    while scanned < SCAN_ROWS and len(found) < offset + limit:
        rows = await store.deliveries(
            action=search.action, filter=search.filter, limit=PAGE_ROWS, offset=cursor
        )
        for row in rows:
            if _row_matches(search, row) and await _detail_matches(ctx, search, row):
                found.append(row)
        scanned += len(rows)
        cursor += PAGE_ROWS
        if len(rows) < PAGE_ROWS:
            return SearchPage(found[offset : offset + limit], True)
    return SearchPage(found[offset : offset + limit], len(found) >= offset + limit)


def _delivery_job(q: str | None) -> int | None:
    """The first job of the call `q` names when it is a delivery id as a target saw it
    (`Idempotency-Key: kb-42`), else None: a bare number is searched as text."""
    text = (q or "").strip()
    if text[: len(DELIVERY_ID_PREFIX)].lower() != DELIVERY_ID_PREFIX:
        return None
    return job_id(text)


async def _delivery(ctx: AdminContext, first_job: int) -> list[Any]:
    """The jobs of the call named after `first_job`: those it sent (a debounced batch has
    several), or, before it was first claimed, that job."""
    call = delivery_id(first_job)
    size, rows = await ctx.store.batch_jobs(call, limit=PAGE_ROWS)
    if size:
        return list(rows)
    job = await ctx.store.job(first_job)
    if job is None or job.row.delivery_id not in (None, call):  # it went out in another call
        return []
    return [job.row]


def _row_matches(search: DeliverySearch, row: Any) -> bool:
    if search.rule is not None and row.rule != search.rule:
        return False
    if search.state is not None and row.state != search.state:
        return False
    if search.since is not None and row.created_at < search.since:
        return False
    return search.until is None or row.created_at <= search.until


async def _detail_matches(ctx: AdminContext, search: DeliverySearch, row: Any) -> bool:
    if not search.needs_detail:
        return True
    job = await ctx.store.job(row.job_id)
    if job is None:
        return False
    events = list(job.events)

    def any_event(field: str, wanted: str) -> bool:
        return any(str(getattr(e, field, None) or "").lower() == wanted.lower() for e in events)

    if search.codename is not None and not any_event("codename", search.codename):
        return False
    if search.item_id is not None and not any_event("id", search.item_id):
        return False
    if search.name is not None and not any(
        search.name.lower() in str(getattr(e, "name", None) or "").lower() for e in events
    ):
        return False
    if search.request_id is not None and (job.request_id or "") != search.request_id:
        return False
    if search.q is None:
        return True
    needle = search.q.lower()
    haystack = [str(row.summary or ""), str(job.request_id or "")]
    for e in events:
        haystack += [str(getattr(e, f, None) or "") for f in ("id", "name", "codename")]
    return any(needle in text.lower() for text in haystack)
