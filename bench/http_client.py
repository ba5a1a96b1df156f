"""What one outgoing HTTP call costs the bridge's process, against lighter clients, same run.

    .venv/bin/python bench/http_client.py [--calls 20000] [--concurrency 32] [--rounds 3]
                                          [--clients raw,aiohttp,bridge]

The drain (bench/drain.py) spends about a third of its event-loop time in the HTTP call. This
bench isolates that share: `--calls` POSTs of a small JSON body to bench/sink.py (its own
process, answering at once), `--concurrency` in flight, from this process, through
- bridge:  `bridge.actions.httputil.answered` on `client_session()`, the path every HTTP
           action takes (header checks, the job page's request note, the stale-connection
           retry, bounded read, classification);
- aiohttp: a plain `aiohttp.ClientSession` post and read, the library alone;
- raw:     a minimal keep-alive HTTP/1.1 client on asyncio protocols (Content-Length framing
           only), the floor for Python on this event loop.
Printed: calls/s and this process's CPU µs per call (median round), and each against raw.
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge import eventloop  # noqa: E402
from bridge.actions.httputil import answered, client_session  # noqa: E402

BODY = b'{"n": "1"}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RawConnection(asyncio.Protocol):
    """One keep-alive connection: write a request, wait for a Content-Length-framed answer."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 : head.find(b"\r\n", at) if b"\r\n" in head[at:] else None])
        if len(self.buffer) >= end + 4 + length:
            del self.buffer[: end + 4 + length]
            self.waiter.set_result(int(head[9:12]))

    async def post(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        return await self.waiter


async def run_raw(url: str, calls: int, concurrency: int) -> None:
    host, port = url.split("//")[1].split("/")[0].split(":")
    request = (
        f"POST /hook HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY
    loop = asyncio.get_running_loop()
    left = calls

    async def worker() -> None:
        nonlocal left
        _, conn = await loop.create_connection(RawConnection, host, int(port))
        while left > 0:
            left -= 1
            assert await conn.post(request) == 200
        assert conn.transport is not None
        conn.transport.close()

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_aiohttp(url: str, calls: int, concurrency: int) -> None:
    left = calls
    async with aiohttp.ClientSession() as http:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                headers = {"Content-Type": "application/json"}
                async with http.post(url, data=BODY, headers=headers) as resp:
                    await resp.read()
                    assert resp.status == 200

        await asyncio.gather(*(worker() for _ in range(concurrency)))


async def run_bridge(url: str, calls: int, concurrency: int) -> None:
    left = calls
    async with client_session() as http:

        async def worker() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                headers = {"Content-Type": "application/json"}
                await answered(http, "POST", url, what="sink", headers=headers, data=BODY)

        await asyncio.gather(*(worker() for _ in range(concurrency)))


Client = Callable[[str, int, int], Awaitable[None]]
CLIENTS: dict[str, Client] = {"raw": run_raw, "aiohttp": run_aiohttp, "bridge": run_bridge}


def measure(client: Client, url: str, calls: int, concurrency: int) -> tuple[float, float]:
    """(calls/s, CPU µs per call of this process) for one run on a fresh event loop."""
    cpu, wall = time.process_time(), time.perf_counter()
    eventloop.run(client(url, calls, concurrency))  # uvloop, as `bridge serve` runs
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return calls / wall, cpu / calls * 1e6


def main(args: argparse.Namespace) -> None:
    port = free_port()
    sink = subprocess.Popen([sys.executable, str(ROOT / "bench" / "sink.py"), "--port", str(port)])
    url = f"http://127.0.0.1:{port}/hook"
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        clients = {name: CLIENTS[name] for name in args.clients.split(",")}
        results: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
        for client in clients.values():  # warm-up: imports, first connections
            measure(client, url, 1000, args.concurrency)
        for round_ in range(args.rounds):
            for name, client in clients.items():  # interleaved: same background load
                rate, cpu_us = measure(client, url, args.calls, args.concurrency)
                results[name].append((rate, cpu_us))
                print(f"round {round_} {name:<8} {rate:>8.0f} calls/s {cpu_us:>7.1f} us/call")
    finally:
        sink.terminate()
        sink.wait()
    print(f"\n{args.calls} POSTs, {args.concurrency} in flight, median of {args.rounds} rounds")
    raw = results.get("raw")
    raw_cpu = statistics.median(cpu for _, cpu in raw) if raw else None
    for name, rounds in results.items():
        rate = statistics.median(r for r, _ in rounds)
        cpu_us = statistics.median(c for _, c in rounds)
        against = f"  x{cpu_us / raw_cpu:.1f} raw's CPU" if raw_cpu else ""
        print(f"{name:<8} {rate:>8.0f} calls/s {cpu_us:>7.1f} us/call (CPU){against}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", default=",".join(CLIENTS), help="e.g. bridge,raw")
    main(parser.parse_args())
