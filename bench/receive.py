"""Webhook acceptance: the full durable path against a bare Starlette endpoint, same run, same load.

    .venv/bin/python bench/receive.py [--requests 3000] [--concurrency 32]

Two servers, each its own uvicorn process on 127.0.0.1:
- bare:   a Starlette endpoint that reads the body and answers 200 (the ceiling);
- bridge: `bridge serve` with 100 rules (3 match every notification), verifying the signature,
          parsing, planning 3 jobs and committing notification and jobs to SQLite (WAL,
          synchronous=FULL, group commit) before answering. The action is `enabled: false`, so
          jobs are stored and parked: this measures acceptance, not delivery.
One asyncio load generator (aiohttp) sends the same number of unique, signed notifications to
each, `concurrency` at a time, after a warm-up, alternating between the two servers for
`rounds` rounds (the machine may be shared; alternating exposes both to the same background
load); it prints the median round's throughput and p50/p99 latency, and the ratio bridge/bare
(the goal: at least 0.5). It also prints each server process's CPU time per request (all its
threads, from /proc): less sensitive than throughput to other load on a shared machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge.signatures import sign  # noqa: E402

SECRET = "bench-secret"
PATH = "/webhooks/kontent"
WARMUP = 200


def rules_yaml(rule_count: int = 100, matching: int = 3) -> str:
    lines = [
        "version: 1",
        "webhooks:",
        f'  - {{name: production, path: {PATH}, secrets: ["{SECRET}"]}}',
        "actions:",
        "  archive: {type: log, enabled: false}",
        "rules:",
    ]
    for i in range(rule_count - matching):
        lines += [
            f"  - name: other-{i:03d}",
            f"    when: {{object_type: content_item, action: published, type: type_{i}}}",
            "    do: [archive]",
        ]
    for i in range(matching):
        lines += [
            f"  - name: match-{i}",
            "    when: {object_type: content_item, action: published, type: [article, blog]}",
            "    do: [archive]",
        ]
    return "\n".join(lines) + "\n"


def payload(n: int, run: str) -> bytes:
    system = {
        "id": f"{run}-{n}",
        "name": f"Article {n}",
        "codename": f"article_{n}",
        "collection": "default",
        "workflow": "default",
        "workflow_step": "published",
        "language": "default",
        "type": "article",
        "last_modified": "2026-11-23T12:00:00Z",
    }
    message = {
        "environment_id": "00000000-0000-0000-0000-000000000000",
        "object_type": "content_item",
        "action": "published",
        "delivery_slot": "published",
    }
    body = {"notifications": [{"data": {"system": system}, "message": message}]}
    return json.dumps(body).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_app_main(port: int) -> None:
    """The baseline: read the body, answer 200 (run in its own process by `--bare`)."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def receive(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"ok": True})

    app = Starlette(routes=[Route(PATH, receive, methods=["POST"])])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass(frozen=True)
class Server:
    base: str
    pid: int


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, all threads (Linux /proc; 0.0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(kind: str, workdir: Path) -> Iterator[Server]:
    port = free_port()
    env = dict(os.environ)
    if kind == "bare":
        command = [sys.executable, __file__, "--bare", str(port)]
    else:
        (workdir / "rules.yaml").write_text(rules_yaml())
        env |= {
            "BRIDGE_CONFIG": str(workdir / "rules.yaml"),
            "BRIDGE_DB": f"sqlite:///{workdir}/bridge.db",
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_PORT": str(port),
            "BRIDGE_LOG_LEVEL": "warning",
        }
        command = [str(Path(sys.executable).parent / "bridge"), "serve"]
    log = (workdir / f"{kind}.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield Server(f"http://127.0.0.1:{port}", process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)


async def wait_listening(base: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"{base}/healthz") as response:
                    await response.read()
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.05)
    raise SystemExit(f"server at {base} did not start")


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    seconds: float
    latencies_s: list[float]
    errors: int
    cpu_s: float

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / self.requests * 1e6

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, p: float) -> float:
        ordered = sorted(self.latencies_s)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


async def load(base: str, bodies: list[bytes], concurrency: int) -> tuple[float, list[float], int]:
    signed = [(body, sign(body, SECRET)) for body in bodies]
    latencies: list[float] = []
    errors = 0
    next_index = 0
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def client() -> None:
            nonlocal next_index, errors
            while next_index < len(signed):
                body, signature = signed[next_index]
                next_index += 1
                headers = {
                    "Content-Type": "application/json",
                    "X-Kontent-ai-Signature": signature,
                }
                started = time.perf_counter()
                async with session.post(base + PATH, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        return time.perf_counter() - started, latencies, errors


async def measure(name: str, srv: Server, requests: int, concurrency: int, round_: int) -> Result:
    bodies = [payload(n, f"{name}-{round_}") for n in range(requests)]
    cpu_before = cpu_seconds(srv.pid)
    seconds, latencies, errors = await load(srv.base, bodies, concurrency)
    return Result(name, requests, seconds, latencies, errors, cpu_seconds(srv.pid) - cpu_before)


def report(results: dict[str, list[Result]]) -> None:
    """The median round of each server (the machine is shared: single runs are noisy)."""
    header = f"{'server':<8} {'requests':>8} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(f"{header} {'cpu us/req':>11}")
    medians = {}
    for name, rounds in results.items():
        r = sorted(rounds, key=lambda result: result.rps)[len(rounds) // 2]
        medians[name] = r
        print(
            f"{r.name:<8} {r.requests:>8} {r.rps:>9.0f} {r.percentile(50) * 1000:>8.2f} "
            f"{r.percentile(99) * 1000:>8.2f} {sum(x.errors for x in rounds):>7} "
            f"{sorted(x.cpu_us_per_request for x in rounds)[len(rounds) // 2]:>11.0f}"
        )
    ratio = medians["bridge"].rps / medians["bare"].rps
    each = ", ".join(
        f"{b.rps / a.rps:.2f}" for a, b in zip(results["bare"], results["bridge"], strict=True)
    )
    print(f"ratio bridge/bare throughput (median rounds): {ratio:.2f}  (goal >= 0.50)")
    print(f"ratio per round: {each}")


async def main(requests: int, concurrency: int, rounds: int) -> None:
    results: dict[str, list[Result]] = {"bare": [], "bridge": []}
    with (
        tempfile.TemporaryDirectory(prefix="bench-receive-") as tmp,
        server("bare", Path(tmp)) as bare,
        server("bridge", Path(tmp)) as bridge,
    ):
        servers = {"bare": bare, "bridge": bridge}
        for name, srv in servers.items():
            await wait_listening(srv.base)
            await load(srv.base, [payload(n, f"{name}-warm") for n in range(WARMUP)], concurrency)
        for round_ in range(rounds):  # alternate, so both see the same background load
            for name, srv in servers.items():
                results[name].append(await measure(name, srv, requests, concurrency, round_))
    report(results)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        bare_app_main(int(sys.argv[2]))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.rounds))
