"""The admin API's operator calls through a whole bridge: real SQLite store, workers, a fake
Slack speaking its wire protocol, an HTTP target, uvicorn on 127.0.0.1.

What an operator does at 2 a.m.: see the cause (Slack's own error, not "HTTP 200"), see that
dead jobs are outstanding, search the log, retry exactly the failed jobs, replay chosen
notifications to chosen actions after a preview, read the activity and the last reload.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from bridge.app import create_app
from bridge.receiver import rejections
from bridge.settings import Settings
from bridge.signatures import sign
from tests.admin.harness import eventually
from tests.fakes.server import Recorder
from tests.fakes.slack import FakeSlack

pytestmark = pytest.mark.timeout(60)

TOKEN = "operations-admin-token-0123456789"
SECRET = "operations-webhook-secret"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SLACK_ERROR = "Slack chat.postMessage failed: channel_not_found (permanent: not retried)"


def rules(slack: FakeSlack, hook_url: str, debounce: str | None = None) -> str:
    coalesce = f"\n    debounce: {debounce}" if debounce else ""
    return f"""\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["{SECRET}"]
actions:
  content-team:
    type: slack
    token: xoxb-test
    channel: "#content"
    base_url: "{slack.api_url}"
    retry: {{schedule: [30m], give_up_after: 3d}}
  rebuild-site:
    type: http
    url: "{hook_url}?ref=main&access_token=hook-query-secret"
    headers: {{Authorization: "Bearer hook-header-secret", X-Build: "nightly-build-7"}}
    retry: {{schedule: [30m], give_up_after: 3d}}{coalesce}
rules:
  - name: announce
    when: {{object_type: content_item, action: published}}
    do:
      - action: content-team
        with: {{text: "Published {{{{ event.name }}}}"}}
  - name: rebuild
    when: {{object_type: content_item}}
    do: [rebuild-site]
"""


def notification(n: int) -> bytes:
    item = {
        "data": {"system": {"id": f"item-{n}", "name": f"Article {n}", "codename": f"article_{n}"}},
        "message": {"object_type": "content_item", "action": "published"},
    }
    return json.dumps({"notifications": [item]}).encode()


@dataclass
class Running:
    api: httpx.AsyncClient
    slack: FakeSlack
    hook: Recorder
    config: Path

    async def send(self, n: int, request_id: str) -> None:
        body = notification(n)
        headers = {
            "Content-Type": "application/json",
            "X-Kontent-ai-Signature": sign(body, SECRET),
            "X-Request-Id": request_id,
        }
        answer = await self.api.post("/webhooks/kontent", content=body, headers=headers)
        assert answer.status_code == 200, answer.text

    async def get(self, path: str, **params: Any) -> Any:
        answer = await self.api.get(f"/admin/api{path}", params=params, headers=AUTH)
        assert answer.status_code == 200, answer.text
        return answer.json()

    async def post(self, path: str, params: Any = None, status: int = 200) -> Any:
        answer = await self.api.post(f"/admin/api{path}", params=params, headers=AUTH)
        assert answer.status_code == status, answer.text
        return answer.json()

    async def rows(self, **params: Any) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.get("/deliveries", **params))["items"]
        return items

    async def state_of(self, job_id: int) -> str:
        return str((await self.get(f"/jobs/{job_id}"))["state"])


@asynccontextmanager
async def running(tmp_path: Path, debounce: str | None = None) -> AsyncIterator[Running]:
    rejections.clear()
    async with FakeSlack() as slack, Recorder() as hook:
        config = tmp_path / "rules.yaml"
        config.write_text(rules(slack, hook.url + "/build", debounce))
        settings = Settings(config=config, db=f"sqlite:///{tmp_path}/bridge.db", admin_token=TOKEN)
        app = create_app(settings)
        server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
        )
        task = asyncio.create_task(server.serve())
        try:
            async with asyncio.timeout(20):
                while not server.started:
                    if task.done():
                        task.result()
                    await asyncio.sleep(0.02)
            port = server.servers[0].sockets[0].getsockname()[1]
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as api:
                yield Running(api, slack, hook, config)
        finally:
            server.should_exit = True
            await task


async def dead_slack_job(bridge: Running) -> int:
    """One notification whose Slack message fails with channel_not_found (HTTP 200, ok: false):
    permanent, so the job is dead at once; the build hook succeeds."""
    bridge.slack.error_next("channel_not_found")
    await bridge.send(1, "req-first")

    async def dead() -> bool:
        rows = await bridge.rows(action="content-team", state="dead")
        return len(rows) == 1

    await eventually(dead)
    job_id: int = (await bridge.rows(action="content-team"))[0]["job_id"]
    return job_id


async def test_slacks_error_is_the_cause_on_the_action_and_the_row(tmp_path: Path) -> None:
    async with running(tmp_path) as bridge:
        job_id = await dead_slack_job(bridge)
        actions = {a["name"]: a for a in (await bridge.get("/actions"))["actions"]}
        slack = actions["content-team"]
        assert slack["health"] == "dead"
        assert slack["latest_error"] | {"at": None} == {
            "job_id": job_id,
            "state": "dead",
            "status": 200,
            "error": SLACK_ERROR,
            "cause": f"{SLACK_ERROR} (HTTP 200)",
            "at": None,
        }
        assert actions["rebuild-site"]["latest_error"] is None
        [row] = await bridge.rows(action="content-team")
        assert (row["last_status"], row["last_error"]) == (200, SLACK_ERROR)


async def test_dead_jobs_outstanding_are_not_working_after_a_later_success(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as bridge:
        dead_id = await dead_slack_job(bridge)
        await bridge.send(2, "req-second")  # Slack answers ok this time
        await bridge.slack.wait_for(2)

        async def two_rows() -> bool:
            rows = await bridge.rows(action="content-team", state="succeeded")
            return len(rows) == 1

        await eventually(two_rows)
        slack = next(
            a for a in (await bridge.get("/actions"))["actions"] if a["name"] == "content-team"
        )
        assert slack["health"] == "dead"  # a later job succeeded, but one lies dead
        assert slack["dead"] == 1
        assert slack["latest_error"]["job_id"] == dead_id
        metrics = (await bridge.api.get("/metrics")).text
        assert 'bridge_action_health{action="content-team",health="dead"} 1.0' in metrics
        assert 'bridge_action_health{action="content-team",health="working"} 0.0' in metrics


async def test_bulk_retry_previews_then_retries_exactly_the_dead_jobs(tmp_path: Path) -> None:
    async with running(tmp_path) as bridge:
        dead_id = await dead_slack_job(bridge)
        url = "/actions/content-team/retry"
        preview = await bridge.post(url, {"state": "dead", "dry_run": "true"})
        assert preview == {
            "action": "content-team",
            "state": "dead",
            "dry_run": True,
            "jobs": [dead_id],
            "count": 1,
        }
        assert await bridge.state_of(dead_id) == "dead"  # the preview changed nothing
        assert (await bridge.post(url, {"state": "failing"}))["message"] == (
            "content-team has no retrying job: nothing to retry"
        )
        done = await bridge.post(url, {"state": "dead"})
        assert done["message"] == "1 job of content-team queued to run again now"
        assert (done["jobs"], done["unchanged"]) == ([dead_id], [])
        await bridge.slack.wait_for(2)

        async def succeeded() -> bool:
            return await bridge.state_of(dead_id) == "succeeded"

        await eventually(succeeded)
        assert bridge.slack.messages[-1]["text"] == "Published Article 1"


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        (
            "/actions/content-team/retry",
            {"state": "broken"},
            400,
            "state must be one of dead, failing, all, got 'broken'",
        ),
        (
            "/actions/content-team/retry",
            {"dry_run": "maybe"},
            400,
            "dry_run must be true or false, got 'maybe'",
        ),
        ("/actions/nope/retry", {}, 404, "no action named 'nope'"),
        (
            "/replay",
            {},
            400,
            "since is required (a time such as 2026-12-02T01:30 (UTC) or a duration back from "
            "now such as 2h) unless notification names one",
        ),
        ("/replay", {"since": "1h", "action": "nope"}, 400, "no action named 'nope'"),
        ("/replay", {"since": "1h", "rule": "nope"}, 400, "no rule named 'nope'"),
        ("/replay", {"since": "1h", "until": "2h"}, 400, "since must be before until"),
        (
            "/replay",
            {"notification": "no-such-key"},
            404,
            "no stored notification 'no-such-key' in that range",
        ),
    ],
)
async def test_bad_operator_calls_say_why(
    tmp_path: Path, path: str, params: dict[str, str], status: int, message: str
) -> None:
    async with running(tmp_path) as bridge:
        answer = await bridge.post(path, params, status=status)
        assert answer == {"error": message}


async def test_the_log_is_searched_by_each_field(tmp_path: Path) -> None:
    async with running(tmp_path) as bridge:
        await dead_slack_job(bridge)
        await bridge.send(2, "req-second")
        await bridge.hook.wait_for(2)
        await bridge.slack.wait_for(2)

        async def all_done() -> bool:
            rows = await bridge.rows()
            return len(rows) == 4 and all(r["state"] in ("succeeded", "dead") for r in rows)

        await eventually(all_done)

        async def found(**params: str) -> list[tuple[str, str]]:
            return [(r["action"], r["state"]) for r in await bridge.rows(**params)]

        assert await found(codename="article_2") == [
            ("rebuild-site", "succeeded"),
            ("content-team", "succeeded"),
        ] or await found(codename="article_2") == [
            ("content-team", "succeeded"),
            ("rebuild-site", "succeeded"),
        ]
        assert sorted(await found(item_id="item-1")) == [
            ("content-team", "dead"),
            ("rebuild-site", "succeeded"),
        ]
        assert len(await found(request_id="req-second")) == 2
        assert await found(rule="announce", state="dead") == [("content-team", "dead")]
        assert len(await found(q="ARTICLE 1")) == 2
        assert await found(name="Article", until="2020-01-01T00:00") == []
        assert len(await found(since="1h")) == 4
        bad = await bridge.api.get(
            "/admin/api/deliveries", params={"state": "broken"}, headers=AUTH
        )
        assert bad.status_code == 400
        assert bad.json() == {
            "error": "state must be one of pending, running, retrying, succeeded, dead, "
            "got 'broken'"
        }


async def test_replay_previews_then_creates_only_the_chosen_actions_jobs(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as bridge:
        await bridge.send(1, "req-first")
        await bridge.send(2, "req-second")
        await bridge.hook.wait_for(2)
        await bridge.slack.wait_for(2)
        preview = await bridge.post(
            "/replay", {"since": "1h", "action": "rebuild-site", "dry_run": "true"}
        )
        assert preview["dry_run"] is True
        assert (preview["notifications"], preview["count"]) == (2, 2)
        assert preview["per_action"] == {"rebuild-site": 2}
        assert {j["rule"] for j in preview["jobs"]} == {"rebuild"}
        assert preview["request_id"] is None
        before = len(await bridge.rows())
        assert before == 4  # the preview created nothing

        done = await bridge.post("/replay", {"since": "1h", "action": "rebuild-site"})
        assert done["count"] == 2 and done["request_id"].startswith("replay-")
        assert done["created"] == 2 and "not_created" not in done
        created = await bridge.rows(request_id=done["request_id"])
        assert sorted(r["action"] for r in created) == ["rebuild-site", "rebuild-site"]
        await bridge.hook.wait_for(4)
        assert len(bridge.slack.messages) == 2  # Slack was not sent anything again

        key = preview["jobs"][0]["notification_key"]
        one = await bridge.post("/replay", {"notification": key, "rule": "announce"})
        assert (one["notifications"], one["count"], one["per_action"]) == (
            1,
            1,
            {"content-team": 1},
        )


async def test_activity_counts_deliveries_failures_and_rejected_requests(tmp_path: Path) -> None:
    async with running(tmp_path) as bridge:
        await dead_slack_job(bridge)
        await bridge.hook.wait_for(1)
        forged = await bridge.api.post(
            "/webhooks/kontent",
            content=notification(9),
            headers={"Content-Type": "application/json", "X-Kontent-ai-Signature": "bm90LWl0"},
        )
        assert forged.status_code == 401

        async def delivered() -> bool:
            body = await bridge.get("/activity", window="1h")
            count: int = sum(b["delivered"] for b in body["actions"]["rebuild-site"])
            return count == 1

        await eventually(delivered)
        body = await bridge.get("/activity", window="1h")
        assert (body["window"], body["bucket_s"]) == ("1h", 300)
        slack = body["actions"]["content-team"]
        assert len(slack) == 12
        assert sum(b["failed"] for b in slack) == 1
        assert sum(b["delivered"] for b in slack) == 0
        [webhook] = body["rejections"]
        assert webhook["webhook"] == "production"
        assert webhook["counts"] == {"401": 1}
        assert webhook["latest"][0]["status"] == 401
        assert webhook["latest"][0]["reason"]
        bad = await bridge.api.get("/admin/api/activity", params={"window": "2w"}, headers=AUTH)
        assert bad.json() == {"error": "window must be one of 1h, 6h, 24h, 3d, got '2w'"}


async def test_a_rejected_reload_and_its_errors_are_shown(tmp_path: Path) -> None:
    async with running(tmp_path) as bridge:
        first = await bridge.get("/reload")
        assert (first["loaded"], first["last_reload_ok"], first["errors"]) == (True, True, [])
        bridge.config.write_text(
            bridge.config.read_text().replace("do: [rebuild-site]", "do: [rebuild-sight]")
        )

        async def rejected() -> bool:
            return (await bridge.get("/reload"))["last_reload_ok"] is False

        await eventually(rejected)
        after = await bridge.get("/reload")
        assert len(after["errors"]) == 1
        assert "unknown action 'rebuild-sight' (did you mean 'rebuild-site'?)" in after["errors"][0]
        assert after["last_success_at"] == first["last_success_at"]


async def test_the_job_shows_its_rendered_inputs_and_its_call(tmp_path: Path) -> None:
    async with running(tmp_path) as bridge:
        job_id = await dead_slack_job(bridge)
        job = await bridge.get(f"/jobs/{job_id}")
        rendered = job["rendered_inputs"]
        assert rendered["inputs"]["text"] == "Published Article 1"
        assert rendered["inputs"]["token"] == "***"
        assert rendered["error"] is None
        assert [r["number"] for r in job["requests"]] == [1]
        assert job["call"] == []  # a call of one job lists nothing more


async def test_each_attempt_keeps_the_request_it_sent_with_secrets_hidden(
    tmp_path: Path,
) -> None:
    async with running(tmp_path) as bridge:
        bridge.hook.fail_next(502, "upstream down")
        await bridge.send(1, "req-first")
        await bridge.hook.wait_for(1)

        async def retrying() -> bool:
            return len(await bridge.rows(action="rebuild-site", state="retrying")) == 1

        await eventually(retrying)
        [row] = await bridge.rows(action="rebuild-site")
        job = await bridge.get(f"/jobs/{row['job_id']}")
        [attempt] = job["requests"]
        sent = attempt["request"]
        assert sent["method"] == "POST"
        assert sent["url"] == f"{bridge.hook.url}/build?ref=main&access_token=***"
        assert sent["headers"]["Authorization"] == "***"
        assert sent["headers"]["X-Build"] == "***"  # every http header value is a secret
        assert sent["requests_sent"] == 1
        body = json.loads(sent["body"])
        assert [e["id"] for e in body["events"]] == ["item-1"]
        text = json.dumps(job)
        assert "hook-header-secret" not in text and "hook-query-secret" not in text
        # the dashboard's job page reads the same stored request
        page = await bridge.api.post("/admin/login", data={"token": TOKEN, "next": "/admin"})
        assert page.status_code == 303
        html = (await bridge.api.get(f"/admin/jobs/{row['job_id']}")).text
        assert "hook-header-secret" not in html
        assert "X-Build" in html

        # an SDK-based action (Slack) is recorded at the session's trace, its token hidden
        [slack] = await bridge.rows(action="content-team")
        slack_job = await bridge.get(f"/jobs/{slack['job_id']}")
        [slack_attempt] = slack_job["requests"]
        slack_sent = slack_attempt["request"]
        assert (slack_sent["method"], slack_sent["url"]) == (
            "POST",
            f"{bridge.slack.api_url}chat.postMessage",
        )
        assert slack_sent["headers"]["Authorization"] == "***"
        assert json.loads(slack_sent["body"])["text"] == "Published Article 1"
        assert slack_sent["requests_sent"] == 1
        assert bridge.slack.token not in json.dumps(slack_job)


async def test_a_coalesced_call_lists_every_job_and_event_it_carried(tmp_path: Path) -> None:
    async with running(tmp_path, debounce="1s") as bridge:
        await bridge.send(1, "req-first")
        await bridge.send(2, "req-second")
        [call] = await bridge.hook.wait_for(1)
        assert [e["id"] for e in call.json()["events"]] == ["item-1", "item-2"]

        async def delivered() -> bool:
            rows = await bridge.rows(action="rebuild-site", state="succeeded")
            return len(rows) == 2

        await eventually(delivered)
        rows = await bridge.rows(action="rebuild-site")
        job = await bridge.get(f"/jobs/{rows[0]['job_id']}")
        assert [(c["job_id"], c["rule"]) for c in job["call"]] == [
            (rows[1]["job_id"], "rebuild"),
            (rows[0]["job_id"], "rebuild"),
        ]
        assert [c["events"] for c in job["call"]] == [
            ["content_item published 'Article 1'"],
            ["content_item published 'Article 2'"],
        ]
        [attempt] = job["requests"]
        assert [e["id"] for e in json.loads(attempt["request"]["body"])["events"]] == [
            "item-1",
            "item-2",
        ]
