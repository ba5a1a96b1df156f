"""Searching the delivery log by the delivery id a target saw (`Idempotency-Key: kb-42`).

An operator holding a target's log line has the call's delivery id, not the job id or the
item: `q=kb-2` found nothing (no summary, request id or item field holds it).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.admin.harness import WEBHOOK_PATH, eventually, notification, running_bridge, signed

pytestmark = pytest.mark.timeout(60)

TOKEN = "admin-token-for-delivery-ids"


async def test_q_with_a_delivery_id_finds_the_jobs_of_that_call(tmp_path: Path) -> None:
    async with (
        running_bridge(tmp_path, admin_token=TOKEN) as bridge,
        httpx.AsyncClient(base_url=bridge.url, timeout=30) as client,
    ):
        for n in (1, 2, 3):
            body = notification(n)
            answer = await client.post(WEBHOOK_PATH, content=body, headers=signed(body))
            assert answer.status_code == 200, answer.text
        await bridge.target.wait_for_requests(3)
        auth = {"Authorization": f"Bearer {TOKEN}"}

        async def delivered() -> bool:
            rows = (await client.get("/admin/api/deliveries", headers=auth)).json()["items"]
            return all(r["state"] == "succeeded" for r in rows) and len(rows) == 3

        await eventually(delivered)
        for q in ("kb-2", "KB-2", " kb-2 "):
            found = await client.get("/admin/api/deliveries", params={"q": q}, headers=auth)
            assert [r["job_id"] for r in found.json()["items"]] == [2], (q, found.text)
        for q in ("kb-9", "kb-0", "kb-2x"):
            found = await client.get("/admin/api/deliveries", params={"q": q}, headers=auth)
            assert found.status_code == 200 and found.json()["items"] == [], q
        wrong_action = {"q": "kb-2", "action": "rebuild-site", "state": "dead"}
        found = await client.get("/admin/api/deliveries", params=wrong_action, headers=auth)
        assert found.json()["items"] == []  # the other filters still apply
