"""Permanent is permanent: what no retry can fix dies at once, so a FIFO queue moves on.

Through the whole bridge (receiver, SQLite store, workers) and a real HTTP target: a CR/LF
rendered into a header and a body that cannot be encoded (a lone surrogate) each kill their job
on the first attempt, and the next job of the FIFO action is delivered. On the code before this
change both were retried on the schedule and held every later job. A 429 whose Retry-After is
longer than the give-up window keeps the job waiting for the capped delay instead of killing it.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
import pytest
from pydantic import ValidationError

from bridge.actions.base import Call, Item, PermanentFailure, Resources
from bridge.actions.email import EmailAction, EmailOptions, address_problem
from bridge.actions.httputil import header_problem
from bridge.app import create_app
from bridge.delivery.model import DeliveryRow
from bridge.delivery.store import Store
from bridge.events import Event, Notification
from bridge.plan import PlannedJob
from bridge.runtime import Runtime
from bridge.settings import Settings
from bridge.signatures import sign
from tests.admin.harness import eventually
from tests.fakes.server import Recorder

pytestmark = pytest.mark.timeout(60)

SECRET = "permanent-secret"
WAIT_S = 20.0

RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["{secret}"]}}
actions:
  hook:
    type: http
    url: "{url}/hook"
    retry: {{schedule: [1m], give_up_after: 1d{extra}}}
rules:
  - name: announce
    when: {{object_type: content_item, action: published}}
    do:
      - action: hook
        with:
          headers: {{X-Title: "{{{{ event.name }}}}"}}
          body: "{{{{ event.name }}}}"
"""


@dataclass
class Running:
    http: httpx.AsyncClient
    runtime: Runtime

    @property
    def store(self) -> Store:
        assert self.runtime.store is not None
        return self.runtime.store

    async def rows(self) -> list[DeliveryRow]:
        return sorted(await self.store.deliveries(limit=50), key=lambda row: row.job_id)

    async def post(self, name: str) -> None:
        item = {
            "data": {"system": {"id": f"id-{name!r}", "name": name, "codename": "c"}},
            "message": {"object_type": "content_item", "action": "published"},
        }
        body = json.dumps({"notifications": [item]}).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Kontent-ai-Signature": sign(body, SECRET),
        }
        answer = await self.http.post("/webhooks/kontent", content=body, headers=headers)
        assert answer.status_code == 200, answer.text


@asynccontextmanager
async def running(tmp_path: Path, target: Recorder, extra: str = "") -> AsyncIterator[Running]:
    config = tmp_path / "rules.yaml"
    config.write_text(RULES.format(secret=SECRET, url=target.url, extra=extra))
    app = create_app(Settings(config=config, db=f"sqlite:///{tmp_path}/bridge.db"))
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://bridge.test") as http,
    ):
        yield Running(http, app.state.runtime)


async def delivered(target: Recorder, count: int) -> None:
    async with asyncio.timeout(WAIT_S):
        await target.wait_for(count)


async def test_a_crlf_header_dies_at_once_and_the_next_fifo_job_is_delivered(
    tmp_path: Path,
) -> None:
    async with Recorder() as target, running(tmp_path, target) as bridge:
        await bridge.post("Breaking\r\nX-Injected: yes")
        await bridge.post("Next in line")
        await delivered(target, 1)

        async def settled() -> bool:
            rows = await bridge.rows()
            return [row.state for row in rows] == ["dead", "succeeded"]

        await eventually(settled)
        dead, done = await bridge.rows()
    assert dead.attempts == 1
    assert "header 'X-Title' holds a line break ('\\r' at position 8)" in (dead.last_error or "")
    assert dead.last_status is None  # nothing was sent
    assert done.attempts == 1
    assert len(target.requests) == 1
    assert target.requests[0].headers["X-Title"] == "Next in line"
    assert "X-Injected" not in target.requests[0].headers


async def test_an_unencodable_body_dies_at_once_and_the_next_fifo_job_is_delivered(
    tmp_path: Path,
) -> None:
    async with Recorder() as target, running(tmp_path, target) as bridge:
        # A lone surrogate, as JSON's "\ud800" escape decodes; stored by the store as any event.
        notes = [_note(1, "broken \ud800 name"), _note(2, "fine")]
        jobs = [PlannedJob("hook", "announce", n.key, n.events[0], {}) for n in notes]
        await bridge.store.accept(notes, jobs, request_id="req")
        await delivered(target, 1)

        async def settled() -> bool:
            return [row.state for row in await bridge.rows()] == ["dead", "succeeded"]

        await eventually(settled)
        dead, _ = await bridge.rows()
    assert dead.attempts == 1
    error = dead.last_error or ""
    assert "cannot be encoded as UTF-8 after rendering" in error, error
    assert target.requests[0].text == "fine"


def _note(n: int, name: str) -> Notification:
    raw = {"data": {"system": {"id": f"item-{n}", "name": name}}}
    event = Event(
        object_type="content_item",
        action="published",
        id=f"item-{n}",
        name=name,
        webhook="production",
        raw=raw,
    )
    return Notification(f"key-{n}", "production", "current", raw, (event,))


@pytest.mark.parametrize(("extra", "cap_s"), [("", 3600.0), (", max_retry_after: 2h", 7200.0)])
async def test_a_retry_after_longer_than_the_give_up_window_waits_capped_not_dead(
    tmp_path: Path, extra: str, cap_s: float
) -> None:
    async with Recorder() as target, running(tmp_path, target, extra) as bridge:
        target.fail_next(429, "slow down", {"Retry-After": "400000"})  # 4.6 days > give_up 1d
        await bridge.post("Rate limited")
        await delivered(target, 1)

        async def attempted() -> bool:
            rows = await bridge.rows()
            return bool(rows) and rows[0].attempts == 1 and rows[0].state != "running"

        await eventually(attempted)
        (row,) = await bridge.rows()
    assert row.state == "retrying", row.last_error
    assert row.last_status == 429
    assert row.next_attempt_at is not None and row.last_attempt_at is not None
    assert row.next_attempt_at - row.last_attempt_at == pytest.approx(cap_s, abs=5.0)


# -- the checks behind them, one by one --------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "problem"),
    [
        ("X-Title", "a\r\nX-Evil: 1", "header 'X-Title' holds a line break ('\\r' at position 1)"),
        ("X-Title", "a\nb", "header 'X-Title' holds a line break ('\\n' at position 1)"),
        ("X-Title", "a\x00b", "header 'X-Title' holds a control character ('\\x00' at position 1)"),
        ("X-Title", "\ud800", "header 'X-Title' holds a lone surrogate ('\\ud800' at position 0)"),
        ("X-Title:Y", "v", "header name 'X-Title:Y' is not an HTTP token"),
        ("X Title", "v", "header name 'X Title' is not an HTTP token"),
        ("X-Title", "tab\tand ünïcode €", None),
    ],
)
def test_header_problems(name: str, value: str, problem: str | None) -> None:
    found = header_problem(name, value)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem)


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("ops@example.com", True),
        ("Ops Team <ops@example.com>", True),
        ('"Doe, J" <j@example.com>', True),
        ("not an address", False),
        ("ops@", False),
        ("@example.com", False),
        ("ops@example.com\r\nBcc: all@example.com", False),
        ("a@example.com, b@example.com", False),
        ("", False),
    ],
)
def test_address_problems(address: str, ok: bool) -> None:
    assert (address_problem(address) is None) is ok


def _email_call(**options: object) -> Call[EmailOptions]:
    values = {"host": "127.0.0.1", "port": 9, "from": "bridge@example.com", "to": ["a@b.example"]}
    # As rendered templates would set them: literal values like these are refused at load.
    rendered = {("sender" if key == "from" else key): value for key, value in options.items()}
    parsed = EmailOptions.model_validate(values).model_copy(update=rendered)
    return Call("kb-1", "mail", parsed, (Item(Event(object_type="content_item"), parsed),))


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"subject": "Hi\r\nBcc: everyone@example.com"}, "option 'subject' holds '\\r'"),
        ({"to": ["not an address"]}, "option 'to[0]' is not one email address"),
        ({"from": "bridge@example.com\nBcc: x@y.example"}, "option 'from' is not one email"),
    ],
)
async def test_an_email_that_can_never_be_sent_is_permanent_before_connecting(
    options: dict[str, object], reason: str
) -> None:
    # Port 9 on loopback: were anything sent, the failure would be a connection error (Retry).
    action = EmailAction("mail", Resources(http=None))  # type: ignore[arg-type]
    with pytest.raises(PermanentFailure) as failure:
        await action.send(_email_call(**options))
    assert reason in failure.value.reason


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"subject": "Hi\r\nBcc: everyone@example.com"}, "option 'subject' holds '\\r'"),
        ({"to": ["not an address"]}, "option 'to[0]' is not one email address"),
        ({"from": "bridge@example.com\nBcc: x@y.example"}, "option 'from' is not one email"),
    ],
)
def test_a_literal_email_that_can_never_be_sent_is_refused_at_load(
    options: dict[str, object], reason: str
) -> None:
    # It loaded, and every job of the action then failed for good.
    values = {"host": "127.0.0.1", "from": "bridge@example.com", "to": ["a@b.example"]}
    with pytest.raises(ValidationError, match=re.escape(reason)):
        EmailOptions.model_validate(values | options)
    templated = {
        key: "{{ event.name }}" if key != "to" else ["{{ event.name }}"] for key in options
    }
    EmailOptions.model_validate(values | templated)  # rendered values are checked at send


async def test_the_header_check_agrees_with_aiohttp_on_every_ascii_character() -> None:
    """Whatever the check lets through, aiohttp sends; whatever aiohttp refuses (its ValueError,
    retried for days before), the check refuses first."""
    values = [f"a{chr(code)}b" for code in range(128)] + ["é", "€", "\u2028", "日本"]
    async with Recorder() as target, aiohttp.ClientSession() as http:
        for value in values:
            problem = header_problem("X-Value", value)
            try:
                async with http.post(f"{target.url}/h", headers={"X-Value": value}) as answer:
                    await answer.read()
                refused = False
            except ValueError:
                refused = True
            if refused:
                assert problem is not None, repr(value)
            if problem is None:
                assert not refused, repr(value)
