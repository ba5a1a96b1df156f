"""The cost of the trace that records what SDKs send (bridge/actions/sent.py `trace_config`).

    .venv/bin/python bench/sent_trace.py [--calls 2000] [--rounds 5]

One local aiohttp server answering 200; sessions with and without the trace post a Slack-sized
JSON body with an `Authorization: Bearer` header, inside `sent.recording()` (what the worker
does) and outside it. Printed: µs per call (median round) and the ratio against the session
without the trace, measured in the same run; then the hooks alone (start, one chunk, end) per
request, by timeit, which is the trace's cost without the network's noise.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import timeit
from types import SimpleNamespace
from typing import Any

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from bridge.actions import sent
from bridge.httpread import client_session

HEADERS = {"Authorization": "Bearer xoxb-0000-secret", "Content-Type": "application/json"}
BODY = {"channel": "#content", "text": "content_item published article 'Hello' (en)" * 4}


async def _ok(_request: web.Request) -> web.Response:
    await _request.read()
    return web.Response(text='{"ok": true}')


async def _round(session: aiohttp.ClientSession, url: str, calls: int, recording: bool) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        if recording:
            with sent.recording():
                async with session.post(url, json=BODY, headers=HEADERS) as resp:
                    await resp.read()
        else:
            async with session.post(url, json=BODY, headers=HEADERS) as resp:
                await resp.read()
    return (time.perf_counter() - start) / calls * 1e6


async def _network(calls: int, rounds: int) -> None:
    app = web.Application()
    app.router.add_post("/", _ok)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/"
    plain = client_session()
    traced = client_session(trace_configs=[sent.trace_config()])
    cases: dict[str, tuple[aiohttp.ClientSession, bool]] = {
        "no trace": (plain, True),
        "trace, outside a recording": (traced, False),
        "trace, recording": (traced, True),
    }
    results: dict[str, list[float]] = {name: [] for name in cases}
    try:
        for session, recording in cases.values():  # warm the connections
            await _round(session, url, 50, recording)
        for _ in range(rounds):  # interleaved, so drift hits every case alike
            for name, (session, recording) in cases.items():
                results[name].append(await _round(session, url, calls, recording))
    finally:
        await plain.close()
        await traced.close()
        await runner.cleanup()
    base = statistics.median(results["no trace"])
    for name, values in results.items():
        median = statistics.median(values)
        print(f"{name:28} {median:8.1f} µs/call  x{median / base:.3f}")


def _hooks(number: int) -> None:
    loop = asyncio.new_event_loop()
    start = aiohttp.TraceRequestStartParams(
        "POST", URL("https://slack.com/api/chat.postMessage"), CIMultiDict(HEADERS)
    )
    chunk = aiohttp.TraceRequestChunkSentParams("POST", start.url, json.dumps(BODY).encode())
    session: Any = None

    async def one(recording: bool) -> None:
        ctx = SimpleNamespace()
        if recording:
            with sent.recording():
                await sent._on_start(session, ctx, start)
                await sent._on_chunk(session, ctx, chunk)
                await sent._on_done(session, ctx, None)
        else:
            await sent._on_start(session, ctx, start)
            await sent._on_chunk(session, ctx, chunk)
            await sent._on_done(session, ctx, None)

    def per_request(run: Any) -> float:
        return min(timeit.repeat(run, number=number, repeat=5)) / number * 1e6

    empty = per_request(lambda: loop.run_until_complete(asyncio.sleep(0)))
    outside = per_request(lambda: loop.run_until_complete(one(False)))
    inside = per_request(lambda: loop.run_until_complete(one(True)))
    print(f"hooks alone, outside a recording {outside - empty:8.1f} µs/request")
    print(f"hooks alone, recording           {inside - empty:8.1f} µs/request")
    loop.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(_network(args.calls, args.rounds))
    _hooks(20000)


if __name__ == "__main__":
    main()
