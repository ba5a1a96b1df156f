"""Real processes for the replica test and bench/scale.py: `bridge serve` replicas, an HTTP sink
that records every call an `http` action makes, and concurrent signed senders.

Everything listens on 127.0.0.1 only and every loop is bounded.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bridge.signatures import sign

ROOT = Path(__file__).resolve().parents[2]
SECRET = "replica-secret"
WEBHOOK_PATH = "/webhooks/kontent"
STARTUP_TIMEOUT_S = 30.0


# -- the sink ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SinkCall:
    path: str
    key: str  # the Idempotency-Key header: the delivery id
    ns: tuple[int, ...]  # the notification numbers of the events the call carried
    at: float  # time.monotonic() at arrival


@dataclass
class Sink:
    """Answers 200 to everything and records who called with what."""

    delay_s: float = 0.0  # how long each call takes, so that calls are in flight at a kill
    calls: list[SinkCall] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def start(self) -> None:
        app = web.Application(client_max_size=256 * 1024 * 1024)  # debounced batches are big
        app.router.add_post("/{name}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        ns = tuple(int(e["codename"].removeprefix("item_")) for e in body["events"])
        key = request.headers.get("Idempotency-Key", "")
        self.calls.append(SinkCall(request.path, key, ns, time.monotonic()))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        self._changed.set()
        return web.json_response({"ok": True})

    def on(self, path: str) -> list[SinkCall]:
        return [call for call in self.calls if call.path == path]

    def delivered(self, path: str) -> set[int]:
        return {n for call in self.on(path) for n in call.ns}

    async def wait_for(self, path: str, wanted: Iterable[int], timeout_s: float) -> set[int]:
        """Wait until every wanted notification reached `path`; returns those still missing."""
        wanted = set(wanted)
        deadline = time.monotonic() + timeout_s
        while missing := wanted - self.delivered(path):
            left = deadline - time.monotonic()
            if left <= 0:
                return missing
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), timeout=min(left, 1.0))
            except TimeoutError:
                continue
        return set()


# -- configuration -----------------------------------------------------------------------------
def write_config(
    directory: Path,
    sink_url: str,
    *,
    debounce: str = "1s",
    max_wait: str = "3s",
    timeout: str = "2s",
    parallel: int = 8,
) -> Path:
    """Three http actions: `ordered` (fifo) on articles (every third item), `debounced` and
    `parallel` (unordered, `parallel` calls at a time) on every item."""
    path = directory / "rules.yaml"
    path.write_text(
        f"""\
version: 1
webhooks:
  - name: production
    path: {WEBHOOK_PATH}
    secrets: ["${{KONTENT_WEBHOOK_SECRET}}"]
defaults:
  retry: {{schedule: [1s, 2s], give_up_after: 1h}}
  timeout: {timeout}
actions:
  ordered: {{type: http, url: "{sink_url}/ordered"}}
  debounced: {{type: http, url: "{sink_url}/debounced", debounce: {debounce}, max_wait: {max_wait}}}
  parallel: {{type: http, url: "{sink_url}/parallel", ordering: none, concurrency: {parallel}}}
rules:
  - name: articles-in-order
    when: {{object_type: content_item, type: article}}
    do: [ordered]
  - name: every-item
    when: {{object_type: content_item}}
    do: [debounced, parallel]
""",
        encoding="utf-8",
    )
    return path


# -- replicas ----------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Replica:
    process: asyncio.subprocess.Process
    url: str
    log: Path

    @property
    def webhook(self) -> str:
        return f"{self.url}{WEBHOOK_PATH}"

    def kill(self) -> None:
        """SIGKILL: no graceful stop, no lease released: the others must take over."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), timeout=15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()


async def start_replica(
    db_url: str, config: Path, log_dir: Path, index: int, role: str = "serve"
) -> Replica:
    port = free_port()
    log = log_dir / f"replica-{index}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_")} | {
        "BRIDGE_DB": db_url,
        "BRIDGE_LOG_FORMAT": "text",
        "BRIDGE_LOG_LEVEL": "warning",
        "KONTENT_WEBHOOK_SECRET": SECRET,
        "PYTHONPATH": str(ROOT),
    }
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", role, "--config", str(config),
            "--host", "127.0.0.1", "--port", str(port),
            env=env, stdout=out, stderr=out, cwd=str(log_dir),
        )  # fmt: skip
    return Replica(process, f"http://127.0.0.1:{port}", log)


async def wait_ready(replica: Replica, session: aiohttp.ClientSession) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if replica.process.returncode is not None:
            break
        try:
            async with session.get(f"{replica.url}/readyz") as response:
                if response.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise AssertionError(f"replica did not become ready:\n{replica.log.read_text()[-3000:]}")


async def start_replicas(
    count: int, db_url: str, config: Path, log_dir: Path, session: aiohttp.ClientSession
) -> list[Replica]:
    replicas = [await start_replica(db_url, config, log_dir, i) for i in range(count)]
    await asyncio.gather(*(wait_ready(r, session) for r in replicas))
    return replicas


# -- senders -----------------------------------------------------------------------------------
def is_article(n: int) -> bool:
    return n % 3 == 0


def payload(n: int) -> bytes:
    """One current-format notification for content item n (its codename carries n)."""
    body = {
        "notifications": [
            {
                "data": {
                    "system": {
                        "id": f"00000000-0000-0000-0000-{n:012d}",
                        "name": f"Item {n}",
                        "codename": f"item_{n}",
                        "type": "article" if is_article(n) else "page",
                        "language": "default",
                        "collection": "default",
                        "last_modified": "2026-11-23T12:00:00Z",
                    }
                },
                "message": {
                    "environment_id": "11111111-2222-3333-4444-555555555555",
                    "object_type": "content_item",
                    "action": "published",
                    "delivery_slot": "published",
                },
            }
        ]
    }
    return json.dumps(body).encode()


@dataclass
class SendResult:
    status: dict[int, int] = field(default_factory=dict)  # n -> HTTP status, 0: no answer
    sent_at: dict[int, float] = field(default_factory=dict)  # time.monotonic() before sending
    failovers: int = 0  # requests retried on the next replica after no answer
    answered: asyncio.Event = field(default_factory=asyncio.Event)  # set at every answer

    def ok(self) -> set[int]:
        return {n for n, status in self.status.items() if status == 200}

    async def wait_ok(self, count: int, burst: asyncio.Future[Any]) -> None:
        """Until `count` notifications got a 200 (or the burst is over)."""
        while len(self.ok()) < count and not burst.done():
            self.answered.clear()
            answered = asyncio.ensure_future(self.answered.wait())
            await asyncio.wait([answered, burst], return_when=asyncio.FIRST_COMPLETED)
            answered.cancel()


async def send_all(
    session: aiohttp.ClientSession,
    targets: Sequence[str],
    numbers: Sequence[int],
    *,
    concurrency: int,
    result: SendResult | None = None,
    rate_per_s: float | None = None,
) -> SendResult:
    """Send each notification round-robin over `targets`, `concurrency` at a time (optionally
    paced to `rate_per_s`). Without an answer it goes to the next target, as behind a load
    balancer; status 0 when none answered."""
    result = result or SendResult()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in numbers:
        queue.put_nowait(n)
    start = time.monotonic()

    async def sender() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            if rate_per_s:
                await asyncio.sleep(
                    max(0.0, start + (n - numbers[0]) / rate_per_s - time.monotonic())
                )
            body = payload(n)
            headers = {
                "Content-Type": "application/json",
                "X-Kontent-ai-Signature": sign(body, SECRET),
            }
            result.sent_at[n] = time.monotonic()
            result.status[n] = 0
            for attempt in range(len(targets)):  # a load balancer's failover
                url = targets[(n + attempt) % len(targets)]
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        result.status[n] = response.status
                        result.answered.set()
                        break
                except (aiohttp.ClientError, OSError, TimeoutError):
                    result.failovers += 1

    await asyncio.gather(*(sender() for _ in range(concurrency)))
    return result
