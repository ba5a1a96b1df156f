"""Soak: receive and deliver at once for minutes; memory, view latency and losses over time.

    .venv/bin/python bench/soak.py [--minutes 3] [--connections 8] [--sample-s 10]
                                   [--db postgresql://postgres@127.0.0.1/soak]

One `bridge serve` (SQLite, or the PostgreSQL database `--db` names, emptied first; workers
on, admin token) with 100 rules; every notification
matches two actions: `sink` (http to bench/sink.py, `ordering: none, concurrency: 16`) and
`down` (http to a port where nothing listens: every attempt fails and is scheduled again, so
retrying jobs pile up as they would behind a dead target). wrk posts distinct signed bodies for
the whole run. Every `--sample-s` the bench prints the bridge's resident memory, how many calls
the sink has had, and how long the delivery log (`/admin/api/deliveries?filter=failures`), the
rules page and the dashboard took to answer while the load runs. At the end, with wrk stopped,
it waits until the sink has one call per accepted notification and checks that none is missing.

What it shows: resident memory should level off (a steady state: caches, metrics series and
pools bounded) instead of growing with the number of notifications; views should stay
interactive under load; and nothing accepted is lost.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import receive

TOKEN = "soak-admin-token-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rules_yaml(sink: int, down: int) -> str:
    lines = [
        "version: 1",
        "webhooks:",
        f'  - {{name: production, path: {receive.PATH}, secrets: ["{receive.SECRET}"]}}',
        "actions:",
        "  sink:",
        "    type: http",
        f"    url: http://127.0.0.1:{sink}/hook",
        '    json: {n: "{{ event.codename }}"}',
        "    ordering: none",
        "    concurrency: 16",
        "  down:",
        "    type: http",
        f"    url: http://127.0.0.1:{down}/hook",
        "    timeout: 2s",
        "rules:",
    ]
    for i in range(98):
        lines += [
            f"  - name: other-{i:03d}",
            f"    when: {{object_type: content_item, action: published, type: type_{i}}}",
            "    do: [sink]",
        ]
    lines += [
        "  - name: to-sink",
        "    when: {object_type: content_item, action: published, type: article}",
        "    do: [sink]",
        "  - name: to-down",
        "    when: {object_type: content_item, action: published, type: article}",
        "    do: [down]",
    ]
    return "\n".join(lines) + "\n"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def signed_in(base: str) -> urllib.request.OpenerDirector:
    """An opener holding the dashboard's session cookie (its sign-in form, as a browser)."""
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor())
    form = urllib.parse.urlencode({"token": TOKEN, "next": "/admin/"}).encode()
    request = urllib.request.Request(f"{base}/admin/login", data=form, headers={"Origin": base})
    with opener.open(request, timeout=30) as response:
        response.read()
    return opener


def timed_get(opener: urllib.request.OpenerDirector, url: str) -> float:
    """Milliseconds until the whole answer to GET `url` was read."""
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {TOKEN}"})
    started = time.monotonic()
    with opener.open(request, timeout=30) as response:
        response.read()
    return (time.monotonic() - started) * 1000


def sink_count(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as response:
        return int(json.loads(response.read())["count"])


def fresh_postgres(url: str) -> None:
    """Drop and create the database `url` names, so a run starts from an empty store."""
    import asyncio

    import asyncpg

    base, name = url.rsplit("/", 1)

    async def make() -> None:
        conn = await asyncpg.connect(f"{base}/postgres")
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(make())


def main(args: argparse.Namespace) -> int:
    if args.db:
        fresh_postgres(args.db)
    sink_port, down_port, port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as tmp:
        work = Path(tmp)
        sink = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("sink.py")), "--port", str(sink_port)],
            stdout=subprocess.DEVNULL,
        )
        (work / "rules.yaml").write_text(rules_yaml(sink_port, down_port))
        env = dict(os.environ) | {
            "BRIDGE_CONFIG": str(work / "rules.yaml"),
            "BRIDGE_DB": args.db or f"sqlite:///{work}/soak.db",
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_PORT": str(port),
            "BRIDGE_ADMIN_TOKEN": TOKEN,
            "BRIDGE_LOG_LEVEL": "warning",
        }
        log = (work / "bridge.log").open("wb")
        bridge = subprocess.Popen(
            [str(Path(sys.executable).parent / "bridge"), "serve"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            receive.wait_listening("127.0.0.1", port, bridge)
            receive.wait_listening("127.0.0.1", sink_port, sink)
            server = receive.Server("bridge", "127.0.0.1", port, bridge.pid)
            seconds = args.minutes * 60
            bodies = receive.write_bodies(
                work / "bodies.tsv", int(seconds * args.max_rate), "50a50a50-0000"
            )
            base = f"http://127.0.0.1:{port}"
            opener = signed_in(base)
            result: list[receive.Result] = []
            load = threading.Thread(
                target=lambda: result.append(receive.wrk(server, bodies, seconds, args.connections))
            )
            started = time.monotonic()
            load.start()
            print("   s   RSS MiB   sink calls   failures ms   rules ms   dashboard ms")
            while load.is_alive():
                time.sleep(args.sample_s)
                failures_ms = timed_get(opener, f"{base}/admin/api/deliveries?filter=failures")
                rules_ms = timed_get(opener, f"{base}/admin/api/rules")
                page_ms = timed_get(opener, f"{base}/admin/")
                print(
                    f"{time.monotonic() - started:4.0f} {rss_mib(bridge.pid):9.1f} "
                    f"{sink_count(sink_port):12d} {failures_ms:13.0f} {rules_ms:10.0f} "
                    f"{page_ms:14.0f}",
                    flush=True,
                )
            load.join()
            sent = result[0]
            accepted = sent.requests - sent.errors - sent.non_2xx
            print(
                f"wrk: {sent.requests} requests in {sent.seconds:.0f} s "
                f"({sent.requests / sent.seconds:.0f}/s), errors {sent.errors}, "
                f"non-2xx {sent.non_2xx}"
            )
            deadline = time.monotonic() + 300
            while (count := sink_count(sink_port)) < accepted and time.monotonic() < deadline:
                time.sleep(0.5)
            print(f"RSS at the end: {rss_mib(bridge.pid):.1f} MiB")
            missing = accepted - count
            # wrk counts a request whose answer it read; each distinct notification is one call
            print(f"sink: {count} calls for {accepted} accepted notifications; missing {missing}")
            return 0 if missing <= 0 else 1
        finally:
            bridge.terminate()
            bridge.wait(timeout=30)
            sink.terminate()
            sink.wait(timeout=10)
            log.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--sample-s", type=float, default=10.0)
    parser.add_argument(
        "--max-rate", type=int, default=4000, help="bodies written per second of the run"
    )
    parser.add_argument("--db", help="a PostgreSQL URL (its database is dropped and made anew)")
    raise SystemExit(main(parser.parse_args()))
