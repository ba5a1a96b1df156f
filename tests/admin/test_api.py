from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from tests.admin.conftest import TOKEN
from tests.admin.fakes import FakeStore

ENDPOINTS = [
    ("GET", "/admin/api/actions"),
    ("GET", "/admin/api/deliveries"),
    ("GET", "/admin/api/jobs/1"),
    ("POST", "/admin/api/jobs/2/retry"),
    ("POST", "/admin/api/actions/rebuild-site/reset"),
    ("POST", "/admin/api/actions/rebuild-site/disable"),
    ("POST", "/admin/api/actions/rebuild-site/enable"),
    ("GET", "/admin/api/rules"),
    ("GET", "/admin/api/rules/announce"),
    ("GET", "/admin/api/notifications"),
    ("GET", "/admin/api/openapi.json"),
]


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_call_needs_the_token(
    make_client: Callable[..., httpx.AsyncClient], store: FakeStore, method: str, path: str
) -> None:
    async with make_client() as anonymous:
        missing = await anonymous.request(method, path)
        wrong = await anonymous.request(method, path, headers={"Authorization": "Bearer nope"})
        basic = await anonymous.request(method, path, headers={"Authorization": f"Basic {TOKEN}"})
        right = await anonymous.request(method, path, headers={"Authorization": f"Bearer {TOKEN}"})
    for answer in (missing, wrong, basic):
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Bearer")
        assert TOKEN not in answer.text
    assert right.status_code == 200, right.text
    mutations = [c for c in store.calls if c[0] != "deliveries"]
    assert len(mutations) == (1 if method == "POST" else 0)


@pytest.mark.parametrize(("method", "path"), [*ENDPOINTS, ("GET", "/admin"), ("GET", "/admin/")])
async def test_without_a_configured_token_the_admin_is_off(
    make_client: Callable[..., httpx.AsyncClient], store: FakeStore, method: str, path: str
) -> None:
    async with make_client(token=None) as client:
        answer = await client.request(method, path, headers={"Authorization": "Bearer "})
    assert answer.status_code == 404
    assert store.calls == []


async def test_actions_show_health_counts_and_redacted_options(api: httpx.AsyncClient) -> None:
    answer = await api.get("/admin/api/actions")
    actions = {a["name"]: a for a in answer.json()["actions"]}
    assert list(actions) == ["content-team", "rebuild-site"]
    failing = actions["rebuild-site"]
    assert failing["health"] == "failing"
    assert failing["pending"] == 2
    assert failing["failing_since"] == "2023-11-14T21:58:20Z"
    assert failing["options"] == {"url": "https://hooks.example/build", "webhook_url": "***"}
    assert actions["content-team"]["options"] == {"channel": "#content", "token": "***"}
    assert "xoxb-very-secret" not in answer.text


async def test_a_configured_action_the_store_never_saw_is_ready(
    make_client: Callable[..., httpx.AsyncClient], store: FakeStore
) -> None:
    store.states.pop("content-team")
    async with make_client(Authorization=f"Bearer {TOKEN}") as client:
        actions = (await client.get("/admin/api/actions")).json()["actions"]
    fresh = next(a for a in actions if a["name"] == "content-team")
    assert fresh["health"] == "ready"
    assert fresh["last_attempt_at"] is None


async def test_deliveries_pass_filter_action_and_paging_to_the_store(
    api: httpx.AsyncClient, store: FakeStore
) -> None:
    answer = await api.get(
        "/admin/api/deliveries",
        params={"filter": "active_failures", "action": "rebuild-site", "limit": 5, "offset": 0},
    )
    body = answer.json()
    assert store.calls[-1] == ("deliveries", ("rebuild-site", "active_failures", 5, 0))
    assert [d["job_id"] for d in body["items"]] == [2]
    assert body["items"][0]["last_response"] == "Bad gateway from upstream"
    everything = (await api.get("/admin/api/deliveries")).json()["items"]
    assert [d["job_id"] for d in everything] == [3, 2, 1]  # newest first


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"filter": "broken"}, "filter must be one of all, failures, active_failures"),
        ({"limit": "ten"}, "limit must be a whole number"),
        ({"limit": "0"}, "limit must be between 1 and 500"),
        ({"offset": "-1"}, "offset must be between 0"),
    ],
)
async def test_bad_query_parameters_get_a_clear_400(
    api: httpx.AsyncClient, params: dict[str, str], reason: str
) -> None:
    answer = await api.get("/admin/api/deliveries", params=params)
    assert answer.status_code == 400
    assert reason in answer.json()["error"]


async def test_a_job_shows_every_attempt_and_the_latest_response(
    api: httpx.AsyncClient, store: FakeStore
) -> None:
    from bridge.delivery.model import AttemptRow

    store.attempts[2] = tuple(
        AttemptRow(
            n, 1_700_000_000.0 + n, 1_700_000_001.0 + n, "retry", 502, "Bad gateway", None, "d2"
        )
        for n in (1, 2)
    )
    job = (await api.get("/admin/api/jobs/2")).json()
    assert job["job_id"] == 2
    assert job["state"] == "retrying"
    assert [a["number"] for a in job["attempt_log"]] == [1, 2]
    assert job["latest_response"]["status"] == 502
    assert job["latest_response"]["response"] == "Bad gateway from upstream"
    assert job["events"][0]["name"] == "Hello"
    assert job["inputs"] == {"text": "hi", "token": "***"}
    assert job["request_id"] == "req-1"


@pytest.mark.parametrize("job_id", ["99", "abc"])
async def test_an_unknown_job_is_404(api: httpx.AsyncClient, job_id: str) -> None:
    assert (await api.get(f"/admin/api/jobs/{job_id}")).status_code == 404
    assert (await api.post(f"/admin/api/jobs/{job_id}/retry")).status_code == 404


async def test_retry_reset_disable_enable_reach_the_store(
    api: httpx.AsyncClient, store: FakeStore
) -> None:
    assert (await api.post("/admin/api/jobs/2/retry")).json() == {"job_id": 2, "retried": True}
    reset = await api.post("/admin/api/actions/rebuild-site/reset")
    assert reset.json() == {"action": "rebuild-site", "reset": True}
    disabled = await api.post("/admin/api/actions/rebuild-site/disable")
    assert disabled.json() == {"action": "rebuild-site", "enabled": False}
    assert store.states["rebuild-site"].enabled is False
    await api.post("/admin/api/actions/rebuild-site/enable")
    assert store.calls == [
        ("retry_job", 2),
        ("reset_action", "rebuild-site"),
        ("set_enabled", ("rebuild-site", False)),
        ("set_enabled", ("rebuild-site", True)),
    ]


async def test_an_unknown_action_is_404_and_the_store_is_untouched(
    api: httpx.AsyncClient, store: FakeStore
) -> None:
    answer = await api.post("/admin/api/actions/nope/reset")
    assert answer.status_code == 404
    assert answer.json() == {"error": "no action named 'nope'"}
    assert store.calls == []


async def test_rules_carry_match_counts_and_recent_matches(
    api: httpx.AsyncClient, store: FakeStore
) -> None:
    from bridge.delivery.model import RuleStats

    store.stats["announce"] = RuleStats(matched=7, last_matched_at=1_700_000_000.0)
    rules = (await api.get("/admin/api/rules")).json()["rules"]
    assert rules == [
        {
            "name": "announce",
            "actions": ["content-team"],
            "stop": False,
            "matched": 7,
            "last_matched_at": "2023-11-14T22:13:20Z",
        }
    ]
    detail = (await api.get("/admin/api/rules/announce")).json()
    assert (detail["name"], detail["matched"]) == ("announce", 7)
    assert detail["last_matched_at"] == "2023-11-14T22:13:20Z"
    assert [m["job_id"] for m in detail["matches"]] == [1, 2, 3]
    assert (await api.get("/admin/api/rules/unknown")).status_code == 404


async def test_notifications_list_the_rules_they_matched(
    api: httpx.AsyncClient, store: FakeStore
) -> None:
    from bridge.delivery.model import NotificationRow

    store.notes = [
        NotificationRow(
            "k1", "production", 1_700_000_000.0, "req-1", "a", ["announce"], {"x": 1}, 7
        ),
        NotificationRow("k2", "production", 1_699_999_000.0, "req-0", "b", [], None, 70_000),
    ]
    body = (await api.get("/admin/api/notifications", params={"limit": 1})).json()
    assert body["limit"] == 1
    assert body["items"] == [
        {
            "key": "k1",
            "webhook": "production",
            "received_at": "2023-11-14T22:13:20Z",
            "request_id": "req-1",
            "summary": "a",
            "rules": ["announce"],
            "raw": {"x": 1},
            "raw_chars": 7,
        }
    ]
    second = (await api.get("/admin/api/notifications", params={"offset": 1})).json()["items"]
    assert (second[0]["raw"], second[0]["raw_chars"]) == (None, 70_000)  # left out of a page
    one = (await api.get("/admin/api/notifications/k1")).json()
    assert (one["key"], one["raw"]) == ("k1", {"x": 1})
    missing = await api.get("/admin/api/notifications/nope")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]


async def test_openapi_lists_every_route(api: httpx.AsyncClient) -> None:
    spec = (await api.get("/admin/api/openapi.json")).json()
    assert set(spec["paths"]) == {
        "/actions",
        "/actions/{name}/reset",
        "/actions/{name}/disable",
        "/actions/{name}/enable",
        "/actions/{name}/retry",
        "/activity",
        "/deliveries",
        "/reload",
        "/sources",
        "/replay",
        "/jobs/{job_id}",
        "/jobs/{job_id}/retry",
        "/rules",
        "/rules/{name}",
        "/notifications",
        "/notifications/{key}",
        "/openapi.json",
    }


async def test_a_store_that_is_not_open_yet_is_503(
    make_client: Callable[..., httpx.AsyncClient],
) -> None:
    from types import SimpleNamespace

    from starlette.applications import Starlette

    from bridge import admin

    app = Starlette(
        routes=admin.routes(
            SimpleNamespace(config=None), lambda: None, SimpleNamespace(admin_token=TOKEN)
        )
    )
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        answer = await client.get(
            "/admin/api/actions", headers={"Authorization": f"Bearer {TOKEN}"}
        )
    assert answer.status_code == 503
