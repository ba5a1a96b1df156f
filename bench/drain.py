"""Delivery throughput: 2,000 parked jobs, the action enabled, until a local sink has them all.

    .venv/bin/python bench/drain.py [--jobs 2000] [--rounds 3] [--store sqlite|postgres]

Each round: a fresh store holds `--jobs` jobs of one `http` action, parked (`bridge disable`);
`bridge serve` (workers on, its own process) starts on that store; the bench enables the
action through the admin API (what `bridge enable` does, so the workers wake at once) and
waits until the sink has answered every call. The sink (bench/sink.py: a raw asyncio Protocol
on uvloop in its own process) answers 200 at once and counts; its own capacity is measured
first with wrk, with one and with 32 connections, so the bridge's rate can be read against it.
Printed per mode (`ordering: fifo`, one call at a time; `ordering: none, concurrency: 32`):
calls/s from enable to the last call (median round), and the sink's first-to-last rate, and
the bridge process's CPU time per call (steadier than rates when other work shares the cores).
For FIFO, the sink also checks that calls arrived in job order.

Goals (issue 11): FIFO at least 1,000 calls/s; none/32 at least 5,000 calls/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-admin-token-0123456789abcdef"

SINK = ROOT / "bench" / "sink.py"
# What wrk sends to measure the sink: the body a job's call carries.
WRK_POST = """
wrk.method = "POST"
wrk.body = '{"n": "1"}'
wrk.headers["Content-Type"] = "application/json"
"""


def cpu_s(pid: int) -> float:
    """utime + stime of a process (all its threads) from /proc, in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def print_threads(pid: int) -> None:
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        name = (task / "comm").read_text().strip()
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        print(f"   thread {name:<16} {ticks / os.sysconf('SC_CLK_TCK'):6.2f} s")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rules_yaml(sink: str, ordering: str, concurrency: int) -> str:
    return textwrap.dedent(
        f"""
        version: 1
        webhooks:
          - {{name: production, path: /webhooks/kontent, secrets: ["bench-secret"]}}
        actions:
          sink:
            type: http
            url: {sink}/hook
            json: {{n: "{{{{ event.name }}}}"}}
            ordering: {ordering}
            concurrency: {concurrency}
        rules:
          - name: all
            when: {{object_type: content_item}}
            do: [sink]
        """
    )


async def wait_http(url: str, timeout_s: float = 20.0) -> None:
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


async def sink_count(session: aiohttp.ClientSession, sink: str) -> dict[str, object]:
    async with session.get(f"{sink}/count") as response:
        return dict(await response.json(content_type=None))


def sink_capacity(sink: str, in_flight: int, work: Path) -> str:
    """Calls/s the sink answers to wrk (one thread, `in_flight` connections, 2 s), as text."""
    if shutil.which("wrk") is None:
        return "not measured (wrk is not installed: apt-get install wrk)"
    script = work / "post.lua"
    script.write_text(WRK_POST)
    command = ["wrk", "-t1", f"-c{in_flight}", "-d2s", "-s", str(script), f"{sink}/hook"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    found = re.search(r"Requests/sec:\s+([\d.]+)", out)
    return f"{float(found.group(1)):8.0f} calls/s (wrk)" if found else f"unreadable: {out!r}"


async def park_jobs(db_url: str, jobs: int) -> None:
    # The installed bridge (or PYTHONPATH's, to measure another tree), as `bridge serve` uses.
    from bridge.delivery.opening import open_store
    from bridge.events import Event, Notification
    from bridge.plan import PlannedJob

    store = open_store(db_url)
    async with store:
        await store.set_enabled("sink", False)
        notes, planned = [], []
        for n in range(jobs):
            raw = {"data": {"system": {"id": f"item-{n}", "name": str(n)}}, "n": n}
            event = Event(
                object_type="content_item", action="published", id=f"item-{n}", name=str(n),
                webhook="production", raw=raw,
            )  # fmt: skip
            note = Notification(f"key-{n}", "production", "current", raw, (event,))
            notes.append(note)
            planned.append(PlannedJob("sink", "all", note.key, event, {}))
        for start in range(0, jobs, 500):
            await store.accept(
                notes[start : start + 500], planned[start : start + 500], request_id=None
            )


async def one_round(
    args: argparse.Namespace, sink: str, ordering: str, concurrency: int, db_url: str, work: Path
) -> tuple[float, float, bool, float]:
    await park_jobs(db_url, args.jobs)
    config = work / f"rules-{ordering}.yaml"
    config.write_text(rules_yaml(sink, ordering, concurrency))
    port = free_port()
    env = os.environ | {
        "BRIDGE_DB": db_url,
        "BRIDGE_PORT": str(port),
        "BRIDGE_HOST": "127.0.0.1",
        "BRIDGE_ADMIN_TOKEN": TOKEN,
        "BRIDGE_LOG_LEVEL": "warning",
    }
    log = (work / f"bridge-{ordering}.log").open("w")
    command = [sys.executable, "-m", "bridge", "serve", "--config", str(config)]
    bridge = subprocess.Popen(  # noqa: ASYNC220 (started once, before the timing)
        command,
        env=env, cwd=work, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    spy = None
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_http(f"{base}/healthz")
        if args.profile:  # py-spy's collapsed stacks of the bridge, one file per mode and round
            # Attached to the running bridge, so the CPU figures stay the bridge's own.
            out = Path(args.profile) / f"{ordering}-{bridge.pid}.txt"
            py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
            spy = subprocess.Popen(  # noqa: ASYNC220 (started before the timing)
                [py_spy, "record", "--pid", str(bridge.pid), "--threads", "-r", "250",
                 "--format", "raw", "-o", str(out)],
                stdout=subprocess.DEVNULL,
            )  # fmt: skip
            await asyncio.sleep(1)  # py-spy attaches before the action is enabled
        async with aiohttp.ClientSession() as session:
            await session.post(f"{sink}/reset")
            headers = {"Authorization": f"Bearer {TOKEN}"}
            cpu_before = cpu_s(bridge.pid)
            started = time.monotonic()
            async with session.post(
                f"{base}/admin/api/actions/sink/enable", headers=headers
            ) as response:
                assert response.status == 200, await response.text()
            while True:
                state = await sink_count(session, sink)
                if int(str(state["count"])) >= args.jobs:
                    break
                if time.monotonic() - started > 300:
                    raise RuntimeError(f"only {state['count']} calls after 300 s")
                await asyncio.sleep(0.005)
            total = time.monotonic() - started
            cpu_us = (cpu_s(bridge.pid) - cpu_before) / args.jobs * 1e6
            if args.threads:  # where the CPU went, per thread of the bridge (since its start)
                print_threads(bridge.pid)
            first, last = float(str(state["first"])), float(str(state["last"]))
            span = max(last - first, 1e-9)
            return args.jobs / total, (args.jobs - 1) / span, bool(state["in_order"]), cpu_us
    finally:
        if spy is not None:
            spy.send_signal(2)  # py-spy writes its file on SIGINT
            spy.wait(timeout=60)
        bridge.send_signal(15)
        bridge.wait(timeout=30)
        log.close()


def fresh_db(args: argparse.Namespace, work: Path, name: str) -> str:
    if args.store == "sqlite":
        return f"sqlite:///{work / name}.db"
    import asyncpg

    dsn = os.environ.get("BRIDGE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test")

    async def create() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()

    asyncio.run(create())
    return dsn.rsplit("/", 1)[0] + f"/{name}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--modes", default="fifo,none")
    parser.add_argument("--profile", help="a directory: py-spy records the bridge there")
    parser.add_argument("--threads", action="store_true", help="print CPU per bridge thread")
    args = parser.parse_args()
    if args.profile:  # absolute: the bridge runs in each round's temporary directory
        args.profile = str(Path(args.profile).resolve())
        Path(args.profile).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bridge-drain-") as tmp:
        work = Path(tmp)
        sink_port = free_port()
        sink_proc = subprocess.Popen([sys.executable, str(SINK), "--port", str(sink_port)])
        sink = f"http://127.0.0.1:{sink_port}"
        try:
            asyncio.run(wait_http(f"{sink}/count"))
            for in_flight in (1, 32):
                rate = sink_capacity(sink, in_flight, work)
                print(f"sink capacity, {in_flight:>2} call(s) in flight: {rate}")
            modes = {"fifo": ("fifo", 1), "none": ("none", 32)}
            for mode in args.modes.split(","):
                ordering, concurrency = modes[mode]
                results = []
                for index in range(args.rounds):
                    db_url = fresh_db(args, work, f"drain_{mode}_{index}")
                    results.append(
                        asyncio.run(one_round(args, sink, ordering, concurrency, db_url, work))
                    )
                total = statistics.median(r[0] for r in results)
                span = statistics.median(r[1] for r in results)
                cpu = statistics.median(r[3] for r in results)
                order = "in job order" if all(r[2] for r in results) else "OUT OF ORDER"
                label = "fifo" if mode == "fifo" else "none, concurrency 32"
                goal = 1000 if mode == "fifo" else 5000
                print(
                    f"{args.store} {label:<20} {total:7.0f} calls/s enable-to-last, "
                    f"{span:7.0f} first-to-last (median of {args.rounds}; goal {goal}; "
                    f"{'met' if total >= goal else 'NOT met'}); bridge CPU {cpu:.0f} us/call"
                    + (f", {order}" if mode == "fifo" else "")
                )
                print("   rounds:", json.dumps([round(r[0]) for r in results]))
        finally:
            sink_proc.terminate()
            sink_proc.wait(timeout=10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
