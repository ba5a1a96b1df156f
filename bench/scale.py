"""Acceptance throughput and end-to-end delivery latency: SQLite vs PostgreSQL replicas.

    .venv/bin/python bench/scale.py [--burst 2000] [--senders 32] [--paced 300] [--rate 50]
                                    [--dsn postgresql://postgres@127.0.0.1:5432/test]

Three setups in the same run, each with real `bridge serve` processes on 127.0.0.1 and the
replica test's config (three http actions into a local sink: fifo on every third item,
debounced and unordered on every item):
- SQLite, one process (the baseline);
- PostgreSQL, one replica;
- PostgreSQL, three replicas (requests round-robin, as behind a load balancer).

Throughput: `--burst` signed notifications from `--senders` concurrent senders, one per
request; requests/s over the burst. Latency: after the burst is delivered, `--paced`
notifications at `--rate` per second; time from sending a request to the sink receiving the
`parallel` action's call, p50 and p99. Every load is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import asyncpg

from tests.replicas.harness import SendResult, Sink, send_all, start_replicas, write_config

DRAIN_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Row:
    setup: str
    accepted_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_setup(
    name: str, db_url: str, replicas: int, args: argparse.Namespace, work: Path
) -> Row:
    directory = work / name.replace(" ", "_").replace(",", "")
    directory.mkdir()
    sink = Sink()
    await sink.start()
    config = write_config(directory, sink.url)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        processes = await start_replicas(replicas, db_url, config, directory, session)
        try:
            targets = [p.webhook for p in processes]
            started = time.monotonic()
            burst = await send_all(
                session, targets, range(1, args.burst + 1), concurrency=args.senders
            )
            elapsed = time.monotonic() - started
            missing = await sink.wait_for("/parallel", burst.ok(), DRAIN_TIMEOUT_S)
            if missing:
                raise SystemExit(f"{name}: {len(missing)} notification(s) never delivered")

            first = args.burst + 1
            paced = await send_all(
                session,
                targets,
                range(first, first + args.paced),
                concurrency=args.senders,
                rate_per_s=args.rate,
            )
            missing = await sink.wait_for("/parallel", paced.ok(), DRAIN_TIMEOUT_S)
            if missing:
                raise SystemExit(f"{name}: {len(missing)} paced notification(s) never delivered")
        finally:
            await asyncio.gather(*(p.stop() for p in processes))
            await sink.stop()
    return Row(
        name,
        len(burst.ok()) / elapsed,
        percentile(latencies(sink, paced), 0.50) * 1000,
        percentile(latencies(sink, paced), 0.99) * 1000,
        len(burst.status) - len(burst.ok()) + len(paced.status) - len(paced.ok()),
    )


def latencies(sink: Sink, sent: SendResult) -> list[float]:
    arrived: dict[int, float] = {}
    for call in sink.on("/parallel"):
        for n in call.ns:
            arrived.setdefault(n, call.at)
    return [arrived[n] - sent.sent_at[n] for n in sent.ok()]


async def fresh_database(dsn: str) -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, urlunsplit(urlsplit(dsn)._replace(path=f"/{name}"))


async def drop_database(dsn: str, name: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main(args: argparse.Namespace) -> None:
    rows = []
    with tempfile.TemporaryDirectory(prefix="bridge-scale-") as tmp:
        work = Path(tmp)
        rows.append(
            await run_setup("SQLite, 1 process", f"sqlite:///{work}/bridge.db", 1, args, work)
        )
        for replicas in (1, 3):
            name, url = await fresh_database(args.dsn)
            try:
                label = f"PostgreSQL, {replicas} replica{'s' if replicas > 1 else ''}"
                rows.append(await run_setup(label, url, replicas, args, work))
            finally:
                await drop_database(args.dsn, name)
    print_table(rows, args)


def print_table(rows: list[Row], args: argparse.Namespace) -> None:
    base = rows[0]
    print(
        f"\n{args.burst} notifications from {args.senders} senders (throughput), then "
        f"{args.paced} at {args.rate:g}/s (latency: request to sink, `parallel` action); "
        f"{os.cpu_count()} CPU(s)\n"
    )
    header = (
        f"{'setup':<26}{'accepted/s':>12}{'x base':>8}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        ratio = row.accepted_per_s / base.accepted_per_s
        print(
            f"{row.setup:<26}{row.accepted_per_s:>12.0f}{ratio:>8.2f}"
            f"{row.p50_ms:>10.1f}{row.p99_ms:>10.1f}{row.errors:>8}"
        )


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--paced", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument(
        "--dsn",
        default=os.environ.get(
            "BRIDGE_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/test"
        ),
        help="a PostgreSQL server on which the bench may create and drop databases",
    )
    args = parser.parse_args()
    if not 0 < args.burst <= 20000 or not 0 < args.paced <= 5000 or not 0 < args.rate <= 1000:
        parser.error("keep the load bounded: burst <= 20000, paced <= 5000, rate <= 1000/s")
    if urlsplit(args.dsn).hostname not in ("127.0.0.1", "localhost", "::1"):
        parser.error("the bench runs against a local PostgreSQL only (127.0.0.1)")
    return args


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
