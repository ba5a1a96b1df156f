"""What a client can send without knowing the token never gets a 5xx: forged cookies, odd ids,
odd CSRF values; a non-ASCII token works; wrong tokens are rate limited (429)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_from_bytes

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette

from bridge.admin.auth import COOKIE_NAME, Guard
from bridge.admin.ratelimit import FailureLimiter
from bridge.delivery.opening import open_store
from tests.admin.conftest import csrf_of
from tests.admin.fakes import FakeStore, row
from tests.admin.hostile import MAX_JOB_ID, TOKEN, hostile_app, postgres_store, seeded_store

pytestmark = pytest.mark.timeout(60)

ODD_IDS = [
    "²",  # str.isdigit() says yes, int() says no
    "٣",  # int() reads an Arabic-Indic three as 3
    "1" * 20,  # over 2**63 - 1: overflows SQLite INTEGER and PostgreSQL BIGINT
    "9" * 5000,  # over Python's 4,300-digit int() limit
    str(MAX_JOB_ID + 1),
    "-1",
    "1e3",
    "0x10",
    "1_0",
    " 1",
    "+1",
    "0",
]
FORGED_COOKIES: list[bytes] = [
    b"\xb2\xb3.abc",  # latin-1 bytes: Starlette decodes them to "²³", which isdigit() accepts
    b"\xb2" * 10 + b"." + b"a" * 64,
    "²³.abc".encode(),
    "٣٣٣٣٣٣٣٣٣٣.abc".encode(),
    b"9" * 5000 + b".abc",
    b"1" * 30 + b"." + b"a" * 64,
    b"\xff\xfe\xfd.\x80\x81",
    "4102444800.é€".encode(),  # a future expiry, a non-ASCII signature
    b"4102444800." + "é".encode() * 64,
    b".",
    b"",
]


def client_for(app: Starlette, address: str = "198.51.100.7", **headers: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=(address, 40000)),
        base_url="http://bridge.test",
        headers=headers,
    )


@pytest.fixture
def fake_app() -> tuple[Starlette, FakeStore]:
    store = FakeStore()
    store.rows = [row(1, "content-team", "retrying")]
    return hostile_app(store), store


@pytest.mark.parametrize("cookie", FORGED_COOKIES)
async def test_forged_session_cookies_are_no_session(
    fake_app: tuple[Starlette, FakeStore], cookie: bytes
) -> None:
    app, store = fake_app
    raw = {b"Cookie": b"bridge_admin=" + cookie}
    async with client_for(app) as client:
        for path in ("/admin", "/admin/", "/admin/jobs/1", "/admin/notifications", "/admin/login"):
            answer = await client.get(path, headers=raw)
            assert answer.status_code == 401, (path, answer.status_code)
            assert 'name="token"' in answer.text  # the sign-in form
        posted = await client.post("/admin/jobs/1/retry", headers=raw, content=b"csrf=x")
        assert posted.status_code == 401
    assert [c for c in store.calls if c[0] != "deliveries"] == []


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def real_app(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Starlette]:
    """The admin over a real, empty store (where a 20-digit id once overflowed the 64-bit
    integer column): SQLite or PostgreSQL."""
    if request.param == "sqlite":
        sqlite = open_store(f"sqlite:///{tmp_path / 'bridge.db'}")
        await sqlite.open()
        try:
            yield hostile_app(sqlite)
        finally:
            await sqlite.close()
        return
    async with postgres_store(hostile=False) as (store, _ids):
        yield hostile_app(store)


async def test_odd_job_ids_are_404_on_every_route(real_app: Starlette) -> None:
    answers = {}
    async with client_for(real_app, Authorization=f"Bearer {TOKEN}") as client:
        signed_in = await client.post("/admin/login", data={"token": TOKEN})
        assert signed_in.status_code == 303
        csrf = csrf_of((await client.get("/admin")).text)
        for job_id in ODD_IDS:
            quoted = quote(job_id, safe="")
            api = await client.get(f"/admin/api/jobs/{quoted}")
            answers[job_id[:30], "api"] = api.status_code
            answers[job_id[:30], "api retry"] = (
                await client.post(f"/admin/api/jobs/{quoted}/retry")
            ).status_code
            answers[job_id[:30], "page"] = (await client.get(f"/admin/jobs/{quoted}")).status_code
            answers[job_id[:30], "page retry"] = (
                await client.post(f"/admin/jobs/{quoted}/retry", data={"csrf": csrf})
            ).status_code
            assert len(api.text) < 400  # a 5,000-digit id is not echoed back whole
    assert {key: code for key, code in answers.items() if code != 404} == {}


async def test_the_largest_job_id_is_found(tmp_path: Path) -> None:
    async with seeded_store(tmp_path) as (store, _ids):
        client = client_for(hostile_app(store), Authorization=f"Bearer {TOKEN}")
        async with client:
            answer = await client.get(f"/admin/api/jobs/{MAX_JOB_ID}")
    assert answer.status_code == 200
    assert answer.json()["job_id"] == MAX_JOB_ID


ODD_QUERIES = [
    {"limit": "²"},
    {"limit": "٣"},
    {"offset": "9" * 5000},
    {"offset": "1" * 20},
    {"limit": " 5"},
    {"action": "bad\x00name"},
    {"action": "x" * 5000},
]


async def test_odd_query_parameters_are_400(real_app: Starlette) -> None:
    answers = {}
    async with client_for(real_app, Authorization=f"Bearer {TOKEN}") as client:
        await client.post("/admin/login", data={"token": TOKEN})
        for query in ODD_QUERIES:
            key = str(query)[:40]
            api = await client.get("/admin/api/deliveries", params=query)
            page = await client.get("/admin/", params=query)
            answers[key, "api"], answers[key, "page"] = api.status_code, page.status_code
    assert {key: code for key, code in answers.items() if code != 400} == {}


async def test_odd_action_and_rule_names_are_404(real_app: Starlette) -> None:
    names = ["nul\x00byte", "x" * 5000, "²", "\x7f", "%ff"]
    async with client_for(real_app, Authorization=f"Bearer {TOKEN}") as client:
        await client.post("/admin/login", data={"token": TOKEN})
        csrf = csrf_of((await client.get("/admin")).text)
        for name in names:
            quoted = quote(name, safe="")
            for verb in ("reset", "disable", "enable"):
                api = await client.post(f"/admin/api/actions/{quoted}/{verb}")
                page = await client.post(f"/admin/actions/{quoted}/{verb}", data={"csrf": csrf})
                assert api.status_code == page.status_code == 404, (name, verb)
            assert (await client.get(f"/admin/api/rules/{quoted}")).status_code == 404
            assert (await client.get(f"/admin/rules/{quoted}")).status_code == 404


@pytest.mark.parametrize("name", ["\n", "a\r\nb", "\n\n", "x\u2028y"])
async def test_a_line_break_in_a_path_still_reaches_the_admin(
    fake_app: tuple[Starlette, FakeStore], name: str
) -> None:
    """Starlette's mount pattern stops at a line break: such a path must still get the admin's
    answers (401 without the token, a JSON 404 with it), not a plain 404 from outside it."""
    app, _store = fake_app
    quoted = quote(name, safe="")
    paths = [f"/admin/api/actions/{quoted}/{verb}" for verb in ("reset", "retry", "enable")]
    async with client_for(app) as anonymous:
        for path in [*paths, f"/admin/api/rules/{quoted}"]:
            method = anonymous.get if "/rules/" in path else anonymous.post
            answer = await method(path)
            assert answer.status_code == 401, (path, answer.status_code, answer.text)
    async with client_for(app, Authorization=f"Bearer {TOKEN}") as client:
        for path in paths:
            answer = await client.post(path)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.json()["error"].startswith("no action named")


@pytest.mark.parametrize("csrf", ["é" * 32, "€", "\udc80", "²" * 32, "0" * 5000])
async def test_a_non_ascii_or_wrong_csrf_value_is_403(
    fake_app: tuple[Starlette, FakeStore], csrf: str
) -> None:
    app, store = fake_app
    async with client_for(app) as client:
        assert (await client.post("/admin/login", data={"token": TOKEN})).status_code == 303
        raw = csrf.encode("utf-8", "surrogatepass")
        for body in (b"csrf=" + quote_from_bytes(raw).encode(), b"csrf=" + raw):
            for path in ("/admin/jobs/1/retry", "/admin/actions/content-team/disable"):
                answer = await client.post(
                    path,
                    content=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
                assert answer.status_code == 403, path
    assert [c for c in store.calls if c[0] != "deliveries"] == []


@pytest.mark.parametrize("source", ["http://[", "http://[::1", "http://]", "https://[x]:1:2"])
async def test_an_origin_that_is_no_url_is_403(
    fake_app: tuple[Starlette, FakeStore], source: str
) -> None:
    """urlsplit refuses an unclosed IPv6 bracket (ValueError): it was a 500 on every POST."""
    app, store = fake_app
    async with client_for(app) as client:
        assert (await client.post("/admin/login", data={"token": TOKEN})).status_code == 303
        csrf = csrf_of((await client.get("/admin")).text)
        for header in ("Origin", "Referer"):
            sign_in = await client.post(
                "/admin/login", data={"token": TOKEN}, headers={header: source}
            )
            assert sign_in.status_code == 403, (header, sign_in.text)
            assert "This form was sent from" in sign_in.text
            for path in ("/admin/jobs/1/retry", "/admin/actions/content-team/enable"):
                answer = await client.post(path, data={"csrf": csrf}, headers={header: source})
                assert answer.status_code == 403, (header, path, answer.text)
    assert [c for c in store.calls if c[0] != "deliveries"] == []


async def test_a_sign_out_from_another_site_is_refused(
    fake_app: tuple[Starlette, FakeStore],
) -> None:
    """Its answer would delete the session cookie whether or not the request carried it."""
    app, _ = fake_app
    async with client_for(app) as client:
        assert (await client.post("/admin/login", data={"token": TOKEN})).status_code == 303
        forged = await client.post("/admin/logout", headers={"Origin": "https://evil.example"})
        assert forged.status_code == 403
        assert "This form was sent from https://evil.example" in forged.text
        assert "set-cookie" not in forged.headers
        assert (await client.get("/admin")).status_code == 200  # still signed in
        own = await client.post("/admin/logout", headers={"Origin": "http://bridge.test"})
        assert own.status_code == 303 and "set-cookie" in own.headers


async def test_a_form_larger_than_the_limit_is_not_read_whole_and_is_a_413(
    fake_app: tuple[Starlette, FakeStore],
) -> None:
    """The sign-in form takes a POST from anyone: its body was read whole (400 MB held in
    memory) before its size was checked. Now reading stops at the limit, and the answer says
    why (it was a 401 or 403, and counted as a wrong token)."""
    app, store = fake_app
    pulled: dict[str, int] = {}

    async def endless(path: str) -> AsyncIterator[bytes]:
        yield b"token=" + TOKEN.encode() + b"&csrf=x&pad="
        for _ in range(1000):  # 64 MB, if all of it were read
            pulled[path] = pulled.get(path, 0) + 1
            yield b"a" * 65536

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    async with client_for(app) as client:
        assert (await client.post("/admin/login", data={"token": TOKEN})).status_code == 303
        for path in ("/admin/login", "/admin/jobs/1/retry"):
            answer = await client.post(path, content=endless(path), headers=form)
            assert answer.status_code == 413, (path, answer.status_code)
            assert "This form is larger than the dashboard reads (16,384 bytes)." in answer.text
            assert pulled[path] <= 2, (path, pulled[path])
        declared = {**form, "Content-Length": str(10**9)}
        refused = await client.post("/admin/login", content=b"token=x", headers=declared)
        assert refused.status_code == 413
    assert [c for c in store.calls if c[0] != "deliveries"] == []


async def test_oversized_sign_in_forms_are_not_counted_as_wrong_tokens(
    fake_app: tuple[Starlette, FakeStore],
) -> None:
    app, _ = fake_app
    padded = {"token": TOKEN, "pad": "a" * 20_000}
    async with client_for(app, "203.0.113.9") as client:
        for _ in range(12):
            assert (await client.post("/admin/login", data=padded)).status_code == 413
        assert (await client.post("/admin/login", data={"token": TOKEN})).status_code == 303


async def test_a_non_ascii_admin_token_authenticates() -> None:
    token = "jeton-ünïcødé-🔑-€"
    store = FakeStore()
    app = hostile_app(store, token=token)
    utf8 = b"Bearer " + token.encode()
    async with client_for(app) as client:
        assert (await client.get("/admin/api/actions", headers={b"Authorization": utf8})).is_success
        latin1 = b"Bearer " + token.encode("utf-8").decode("latin-1").encode("utf-8")
        wrong = await client.get("/admin/api/actions", headers={b"Authorization": latin1})
        assert wrong.status_code == 401  # the same text, double-encoded: not the token
        signed_in = await client.post("/admin/login", data={"token": token})
        assert signed_in.status_code == 303
        assert (await client.get("/admin")).status_code == 200


async def test_failed_sign_ins_are_limited_per_client_with_429(
    fake_app: tuple[Starlette, FakeStore],
) -> None:
    app, _ = fake_app
    async with client_for(app, "203.0.113.9") as attacker, client_for(app) as admin:
        wrong = [
            await attacker.post("/admin/login", data={"token": f"guess-{n}"}) for n in range(10)
        ]
        assert [a.status_code for a in wrong] == [401] * 10
        limited = await attacker.post("/admin/login", data={"token": "guess-10"})
        assert limited.status_code == 429
        assert 1 <= int(limited.headers["retry-after"]) <= 6
        assert "Too many failed sign-ins" in limited.text
        right = await attacker.post("/admin/login", data={"token": TOKEN})
        assert right.status_code == 429  # not even compared: 429s tell a guesser nothing
        assert "set-cookie" not in right.headers
        assert (await admin.post("/admin/login", data={"token": TOKEN})).status_code == 303


async def test_wrong_bearer_tokens_are_limited_too(fake_app: tuple[Starlette, FakeStore]) -> None:
    app, _ = fake_app
    async with client_for(app, "203.0.113.10") as attacker, client_for(app) as other:
        for n in range(10):
            headers = {"Authorization": f"Bearer guess-{n}"}
            assert (await attacker.get("/admin/api/actions", headers=headers)).status_code == 401
        # the sign-in form and the API count against the same bucket
        limited = await attacker.post("/admin/login", data={"token": "guess"})
        assert limited.status_code == 429
        api = await attacker.get("/admin/api/actions", headers={"Authorization": f"Bearer {TOKEN}"})
        assert api.status_code == 429 and api.headers["retry-after"].isdigit()
        assert api.json()["error"].startswith("too many wrong admin tokens")
        missing = await attacker.get("/admin/api/actions")
        assert missing.status_code == 401  # no token is no guess
        ok = await other.get("/admin/api/actions", headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200


def test_the_limiter_drains_per_client() -> None:
    now = [1000.0]
    limiter = FailureLimiter(per_client=3, total=100, window_s=30.0, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after_s("a") is None
        limiter.failed("a")
    assert limiter.retry_after_s("a") == 10  # then one more try per window_s / per_client
    assert limiter.retry_after_s("b") is None
    now[0] += 10.0
    assert limiter.retry_after_s("a") is None
    limiter.failed("a")
    assert limiter.retry_after_s("a") == 10
    limiter.succeeded("a")
    assert limiter.retry_after_s("a") is None  # the right token forgets the client's failures


def test_the_limiter_counts_all_clients_together() -> None:
    limiter = FailureLimiter(per_client=100, total=5, window_s=30.0, clock=lambda: 0.0)
    assert not any(limiter.failed(f"client-{n}") for n in range(4))
    assert limiter.retry_after_s("anyone") is None
    assert limiter.failed("client-4")  # this one filled the total: the caller logs it once
    assert limiter.retry_after_s("anyone") == 6  # everyone waits: 30 s / 5


def test_the_limiter_forgets_the_oldest_clients_when_full() -> None:
    limiter = FailureLimiter(per_client=1, total=10**6, max_clients=3, clock=lambda: 0.0)
    for name in "abcd":
        limiter.failed(name)
    assert limiter.retry_after_s("a") is None  # forgotten to make room for "d"
    assert all(limiter.retry_after_s(n) is not None for n in "bcd")
    with pytest.raises(ValueError):
        FailureLimiter(per_client=0)


def test_guard_compares_any_bytes_without_raising() -> None:
    guard = Guard("jeton-ü")
    assert guard.token_matches("jeton-ü") and guard.token_matches("jeton-ü".encode())
    assert not guard.token_matches("\udc80") and not guard.token_matches("é" * 40)
    session = guard.new_session(now=1000.0)
    assert guard.session_ok(session, now=1001.0)
    assert not guard.csrf_ok(session, "é" * 32)
    assert not guard.session_ok("9" * 5000 + "." + session.partition(".")[2], now=0)
    assert COOKIE_NAME == "bridge_admin"


SESSION = Guard(TOKEN).new_session().encode()
_HEADER_BYTES = st.binary(max_size=60).map(lambda b: b.translate(None, b"\r\n\x00"))


@settings(max_examples=150, derandomize=True, deadline=None, database=None)
@given(
    cookie=st.one_of(st.just(SESSION), _HEADER_BYTES),
    auth=st.one_of(st.just(b"Bearer " + TOKEN.encode()), _HEADER_BYTES.map(b"Bearer ".__add__)),
    segment=st.text(min_size=1, max_size=30),
    body=st.one_of(st.binary(max_size=120), st.text(max_size=60).map(lambda t: f"csrf={t}")),
)
def test_random_credentials_ids_and_forms_never_get_a_5xx(
    cookie: bytes, auth: bytes, segment: str, body: bytes | str
) -> None:
    store = FakeStore()
    store.rows = [row(1, "content-team", "retrying")]
    app = hostile_app(store)
    part = quote(segment, safe="")
    content = body.encode("utf-8", "surrogatepass") if isinstance(body, str) else body

    async def send() -> list[tuple[str, int]]:
        codes = []
        async with client_for(app) as client:
            for method, path in (
                ("GET", f"/admin/jobs/{part}"),
                ("POST", f"/admin/jobs/{part}/retry"),
                ("POST", f"/admin/actions/{part}/reset"),
                ("GET", f"/admin/rules/{part}"),
                ("POST", "/admin/login"),
                ("GET", f"/admin/api/jobs/{part}"),
                ("POST", f"/admin/api/jobs/{part}/retry"),
                ("GET", f"/admin/api/rules/{part}"),
            ):
                headers = {b"Cookie": b"bridge_admin=" + cookie, b"Authorization": auth}
                answer = await client.request(method, path, headers=headers, content=content)
                codes.append((f"{method} {path}", answer.status_code))
        return codes

    assert [c for c in asyncio.run(send()) if c[1] >= 500] == []
