"""A real `bridge serve` against targets that fail as real ones do: each failure's cause reads
the same in the admin API's job, `bridge deliveries` (text and --json), the attempt's log line
and the alert, with no token anywhere, and is retried or dead as docs/operations.md says.

The bridge runs as a process (SQLite in a temporary directory, workers on, SSL_CERT_FILE naming
a CA made by the openssl CLI, so an expired or misnamed certificate is told apart from an
untrusted one); its targets are servers on loopback (tests/fakes/misbehaving.py, the Slack fake,
aiosmtpd). The browser test screenshots the overview and a job page into test-artifacts/.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.signatures import sign
from tests.fakes.misbehaving import Misbehaving, certificates
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.replicas.harness import free_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

ROOT = Path(__file__).parents[2]
ADMIN_TOKEN = "failure-views-admin-token-0123"
SECRET = "failure-views-webhook-secret"
URL_TOKEN = "url-token-5f0c0ffee0000a1b"
HEADER_TOKEN = "header-token-9d8c7b6a5f4e3d2c"
STALLED_500 = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000\r\n\r\nhello"


def answer(status: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


@dataclass
class Scenario:
    url: str
    log: Path
    db: str
    expected: dict[str, tuple[str, str]]  # action -> (state, the reason every view shows)


@asynccontextmanager
async def scenario(tmp_path: Path, log_format: str = "json") -> AsyncIterator[Scenario]:
    certs = certificates(tmp_path / "certs")
    async with AsyncExitStack() as stack:

        async def serve(*args: Any, **kwargs: Any) -> Misbehaving:
            return await stack.enter_async_context(Misbehaving(*args, **kwargs))

        self_signed = await serve("answer", tls=(certs.self_signed, certs.self_signed_key))
        expired = await serve("answer", tls=(certs.expired, certs.key))
        wrong_name = await serve("answer", tls=(certs.wrong_name, certs.key))
        not_tls = await serve("not_tls")
        silent = await serve("silent")
        stalled = await serve("stall", STALLED_500)
        redirect = await serve(
            "answer",
            answer("301 Moved", b"", f"Location: https://other.example/h?token={URL_TOKEN}"),
        )
        expired_token = b'{"error":"invalid_token","error_description":"The access token expired"}'
        unauthorized = await serve("answer", answer("401 Unauthorized", expired_token))
        limited = await serve("answer", answer("429 Too Many Requests", b"", "Retry-After: 120"))
        slack = await stack.enter_async_context(FakeSlack())
        smtp = await stack.enter_async_context(FakeSMTP())
        smtp.mailbox.refuse.add("nobody@example.test")
        refused_port = free_port()

        def port(target: Misbehaving) -> str:
            return target.url.rsplit(":", 1)[1]

        actions = {
            "tls-self": f"{self_signed.url}/hook",
            "tls-expired": f"{expired.url}/hook",
            "tls-name": f"{wrong_name.url}/hook",
            "tls-plain": f"{not_tls.url}/hook",
            "tls-stuck": f"https://127.0.0.1:{port(silent)}/hook",
            "dns": "https://nonexistent.invalid/hook",
            "refused": f"http://127.0.0.1:{refused_port}/hook",
            "silent": f"{silent.url}/hook",
            "stalled": f"{stalled.url}/hook",
            "moved": f"{redirect.url}/hook",
            "limited": f"{limited.url}/hook",
        }
        lines = [f'  {name}: {{type: http, url: "{url}"}}' for name, url in actions.items()]
        lines.append(
            f'  denied: {{type: http, url: "{unauthorized.url}/hook?access_token={URL_TOKEN}",'
            f' headers: {{Authorization: "Bearer {HEADER_TOKEN}"}}}}'
        )
        lines.append(
            f'  team: {{type: slack, token: "{slack.token}", channel: "#nowhere",'
            f' base_url: "{slack.api_url}"}}'
        )
        lines.append(
            f"  mail: {{type: email, host: 127.0.0.1, port: {smtp.port},"
            " from: bridge@example.test, to: [nobody@example.test]}"
        )
        lines.append("  alert-log: {type: log}")
        names = [*actions, "denied", "team", "mail"]
        config = tmp_path / "rules.yaml"
        config.write_text(
            "version: 1\n"
            f'webhooks: [{{name: production, path: /webhooks/kontent, secrets: ["{SECRET}"]}}]\n'
            "defaults: {retry: {schedule: [1h], give_up_after: 3d}, timeout: 2s}\n"
            "actions:\n" + "\n".join(lines) + "\n"
            "rules:\n  - {name: all, when: {object_type: content_item}, do: [" + ", ".join(names)
            + "]}\nalerts: [alert-log]\n"
        )  # fmt: skip
        p = port
        expected = {
            "tls-self": ("retrying", f"tls-self: TLS certificate of 127.0.0.1:{p(self_signed)} "
                         "rejected: self-signed certificate (issued by no CA the bridge trusts)"),
            "tls-expired": ("retrying", f"tls-expired: TLS certificate of 127.0.0.1:{p(expired)} "
                            "rejected: certificate has expired"),
            "tls-name": ("retrying", f"tls-name: TLS certificate of 127.0.0.1:{p(wrong_name)} "
                         "rejected: IP address mismatch, certificate is not valid for "
                         "'127.0.0.1'"),
            "tls-plain": ("retrying", f"tls-plain: 127.0.0.1:{p(not_tls)} does not speak TLS "
                          "(an https:// URL on a plain-HTTP port?)"),
            "tls-stuck": ("retrying", f"timed out after 2s: the connection to 127.0.0.1:"
                          f"{p(silent)} was not set up (TCP connect or TLS handshake)"),
            "dns": ("retrying", "dns unreachable: the name nonexistent.invalid does not resolve "
                    "(DNS: "),
            "refused": ("retrying", f"refused unreachable: 127.0.0.1:{refused_port} refused the "
                        "connection (nothing listens on that port)"),
            "silent": ("retrying", f"timed out after 2s: 127.0.0.1:{p(silent)} took the request "
                       "but sent no answer"),
            "stalled": ("retrying", "stalled answered 500: hello"),
            "moved": ("dead", "moved redirected (301); configure the final URL: "
                      "https://other.example/h?token=*** (permanent: not retried)"),
            "limited": ("retrying", "limited answered 429 (Retry-After: 120 s)"),
            "denied": ("dead", "denied answered 401: invalid_token: The access token expired "
                       "(permanent: not retried)"),
            "team": ("dead", "Slack chat.postMessage failed: channel_not_found (permanent: not "
                     "retried)"),
            "mail": ("dead", "SMTP refused every recipient: nobody@example.test: 550 5.1.1 No "
                     "such user here (permanent: not retried)"),
        }  # fmt: skip
        bridge_port = free_port()
        log = tmp_path / "bridge.log"
        db = f"sqlite:///{tmp_path}/bridge.db"
        env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")} | {
            "BRIDGE_DB": db,
            "BRIDGE_ADMIN_TOKEN": ADMIN_TOKEN,
            "BRIDGE_LOG_FORMAT": log_format,
            "SSL_CERT_FILE": str(certs.ca),
            "PYTHONPATH": str(ROOT),
        }
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bridge", "serve", "--config", str(config),
                "--host", "127.0.0.1", "--port", str(bridge_port),
                env=env, stdout=out, stderr=out, cwd=str(tmp_path),
            )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{bridge_port}"
            await _ready_and_notified(url, process, log)
            yield Scenario(url, log, db, expected)
        finally:
            process.terminate()
            await process.wait()


def read(path: Path) -> str:
    return path.read_text()


async def _ready_and_notified(url: str, process: asyncio.subprocess.Process, log: Path) -> None:
    body = json.dumps({"notifications": [{
        "data": {"system": {"id": "item-1", "name": "Article 1", "codename": "a_1"}},
        "message": {"object_type": "content_item", "action": "published"},
    }]}).encode()  # fmt: skip
    headers = {"Content-Type": "application/json", "X-Kontent-ai-Signature": sign(body, SECRET)}
    async with aiohttp.ClientSession() as http:
        deadline = time.monotonic() + 30
        while True:
            assert process.returncode is None, read(log)
            try:
                async with http.get(f"{url}/readyz") as ready:
                    if ready.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            assert time.monotonic() < deadline, read(log)
            await asyncio.sleep(0.1)
        async with http.post(f"{url}/webhooks/kontent", data=body, headers=headers) as posted:
            assert posted.status == 200, await posted.text()


async def jobs_once_attempted(scene: Scenario) -> dict[str, dict[str, Any]]:
    """action -> its job as the admin API gives it, once every action's job has an attempt."""
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with aiohttp.ClientSession(headers=auth) as http:
        deadline = time.monotonic() + 30
        while True:
            async with http.get(f"{scene.url}/admin/api/deliveries?limit=100") as listed:
                items = (await listed.json())["items"]
            done = {i["action"]: i for i in items if i["attempts"] >= 1}
            if set(scene.expected) <= set(done):
                break
            assert time.monotonic() < deadline, (set(scene.expected) - set(done), items)
            await asyncio.sleep(0.1)
        jobs = {}
        for action in scene.expected:
            async with http.get(f"{scene.url}/admin/api/jobs/{done[action]['job_id']}") as got:
                jobs[action] = await got.json()
        return jobs


def cli(scene: Scenario, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")}
    env |= {"BRIDGE_DB": scene.db, "PYTHONPATH": str(ROOT), "COLUMNS": "400"}
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "deliveries", *args, "--limit", "100"],
        env=env, capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return done.stdout


def matches(reason: str, expected: str) -> bool:
    return reason.startswith(expected) if expected.endswith("(DNS: ") else reason == expected


async def test_every_view_says_the_same_cause_and_no_token(tmp_path: Path) -> None:
    """Before: 'tls-expired unreachable: ClientConnectorCertificateError: Cannot connect to
    host 127.0.0.1:N ssl:True [SSLCertVerificationError: (1, "[SSL: CERTIFICATE_VERIFY_F…'
    (the cause past the CLI's column), 'timed out after 2s' for a TLS handshake that never
    came, a request never answered and a 500 whose body stalled alike, 'denied answered 401'
    in the alert with no word of why, and Slack's answer shown as Python."""
    async with scenario(tmp_path) as scene:
        jobs = await jobs_once_attempted(scene)
        await asyncio.sleep(0.5)  # the dead jobs' alerts are jobs of their own: let them run
        log_lines = [json.loads(line) for line in scene.log.read_text().splitlines() if line]
        listed = {job["action"]: job for job in json.loads(cli(scene, "--json"))}
        text = cli(scene)
    for action, (state, reason) in scene.expected.items():
        job = jobs[action]
        assert job["state"] == state, (action, job["state"], job["last_error"])
        assert matches(job["last_error"], reason), (action, job["last_error"])
        assert job["attempt_log"][0]["error"] == job["last_error"]
        assert listed[action]["last_error"] == job["last_error"]
        assert job["last_error"] in text, (action, text)
        [line] = [entry for entry in log_lines if entry.get("delivery_id") == job["delivery_id"]
                  and entry["logger"] == "bridge.delivery.workers"]  # fmt: skip
        assert job["last_error"] in line["message"], (action, line)
        if state == "dead":  # the alert quotes the same reason
            alerts = [
                e["message"] for e in log_lines if f"action '{action}' gave up" in e["message"]
            ]
            assert len(alerts) == 1 and job["last_error"] in alerts[0], (action, alerts)
    assert jobs["stalled"]["last_status"] == 500  # the status came: it decides
    assert jobs["team"]["last_response"] == '{"ok": false, "error": "channel_not_found"}'
    everything = scene.log.read_text() + json.dumps(jobs) + text
    assert URL_TOKEN not in everything and HEADER_TOKEN not in everything
    sent = jobs["denied"]["attempt_log"][0]["request"]
    assert sent["headers"]["Idempotency-Key"] == jobs["denied"]["delivery_id"]  # not a secret


async def test_the_dashboard_shows_each_cause_and_the_text_log_says_it_too(
    tmp_path: Path,
) -> None:
    from tests.admin.browsing import ARTIFACTS, DESKTOP, chromium, sign_in

    async with scenario(tmp_path, log_format="text") as scene:
        jobs = await jobs_once_attempted(scene)
        expired = jobs["tls-expired"]
        text_log = scene.log.read_text()
        assert f"delivery {expired['delivery_id']} failed (attempt 1): " in text_log
        assert expired["last_error"] in text_log
        async with chromium() as browser:
            page = await browser.new_page(viewport=DESKTOP)
            await sign_in(page, scene.url, ADMIN_TOKEN)
            await page.goto(f"{scene.url}/admin?filter=active_failures&limit=100")
            shown = await page.inner_text("body")
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=ARTIFACTS / "failure-causes-deliveries.png", full_page=True)
            await page.goto(f"{scene.url}/admin/jobs/{expired['job_id']}")
            job_page = await page.inner_text("body")
            await page.screenshot(path=ARTIFACTS / "failure-causes-job.png", full_page=True)
    for action, (_, reason) in scene.expected.items():
        shown_reason = jobs[action]["last_error"]
        assert matches(shown_reason, reason)
        assert shown_reason.split(" (permanent")[0][:60] in shown, (action, shown_reason)
    assert expired["last_error"] in job_page
