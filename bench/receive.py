"""Webhook acceptance under wrk: the full durable path against a bare Starlette endpoint, same run.

    .venv/bin/python bench/receive.py [--rounds 5] [--seconds 5] [--connections 32]
                                      [--log-level info] [--legacy-sizes 100,1000,5000]
                                      [--profile DIR] [--before-tree DIR]

Two servers, each its own uvicorn process on 127.0.0.1:
- bare:   a Starlette endpoint that reads the body and answers 200 (the ceiling);
- bridge: `bridge serve` with 100 rules (3 match every notification), verifying the signature,
          parsing, planning 3 jobs and committing notification and jobs to SQLite (WAL,
          synchronous=FULL, group commit) before answering, and logging its one info line per
          request (BRIDGE_LOG_LEVEL=info, JSON lines, to a file). The action is
          `enabled: false`, so jobs are stored and parked: this measures acceptance, not delivery.
The load is wrk (Debian package `wrk`; a Python client caps near 11k req/s, which flatters the
bridge) with bench/wrk_bodies.lua cycling through pre-signed bodies, every one a distinct
notification (a fresh file per round, more bodies than a round can send), so dedupe never
short-circuits the path. Rounds alternate bare, bridge, bare, ... so both see the same
background load on a shared machine; the report is the median round of each, the ratio
bridge/bare, and each server process's CPU time per request (all its threads, from
/proc/PID/task/*/schedstat, over the requests wrk counted), steadier than throughput when
other work shares the cores. The goal is a ratio of at least 0.5.

Then legacy bodies of 100, 1,000 and 5,000 items (each item one notification) are posted to
the bridge one at a time, and the accept time per body and per item is printed: it must grow
linearly with the item count (flat time per item). A thread polls /healthz meanwhile; the
longest wait it saw is how long one body held the bridge's event loop.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent
SECRET = "bench-secret"
PATH = "/webhooks/kontent"
LUA = ROOT / "wrk_bodies.lua"
WARMUP_S = 2
# More bodies than a round sends at the best rate seen here (~30k req/s for bare Starlette).
BODIES_PER_SECOND = 40_000


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


def signature(body: bytes) -> str:
    return base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()


def notification(run: str, i: int) -> dict[str, object]:
    """One current-format notification, as ../shared/bench/make_bodies.py writes them."""
    system = {
        "id": f"{run}-4000-8000-{i:012d}",
        "name": f"Item {i}",
        "codename": f"item_{i}",
        "collection": "default",
        "workflow": "default",
        "workflow_step": "published",
        "language": "default",
        "type": "article",
        "last_modified": "2026-11-22T10:00:00.0000000Z",
    }
    message = {
        "environment_id": "11111111-2222-3333-4444-555555555555",
        "object_type": "content_item",
        "action": "published",
        "delivery_slot": "published",
    }
    return {"data": {"system": system}, "message": message}


def write_bodies(path: Path, count: int, run: str) -> Path:
    """`signature<TAB>body` lines, one distinct signed notification each, for wrk_bodies.lua."""
    with path.open("w") as out:
        for i in range(count):
            body = {"notifications": [notification(run, i)]}
            data = json.dumps(body, separators=(",", ":")).encode()
            out.write(f"{signature(data)}\t{data.decode()}\n")
    return path


def legacy_body(count: int, run: str) -> bytes:
    items = [
        {
            "id": f"{run}-4aa4-a84f-{i:012d}",
            "codename": f"article_{i:06d}",
            "language": "en-US",
            "type": "article",
            "collection": "default",
        }
        for i in range(count)
    ]
    message = {
        "id": f"{run}-4c7e-9248-415c48dc4e6c",
        "project_id": "195a50c1-f1b8-0066-9eb4-83f7246d5459",
        "type": "content_item_variant",
        "operation": "publish",
        "api_name": "delivery_production",
        "created_timestamp": "2024-02-15T13:27:01Z",
        "webhook_url": "https://bridge.example.com/webhooks/kontent",
    }
    return json.dumps({"data": {"items": items, "taxonomies": []}, "message": message}).encode()


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

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    routes = [Route(PATH, receive, methods=["POST"]), Route("/healthz", healthz)]
    app = Starlette(routes=routes)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    port: int
    pid: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{PATH}"


def cpu_seconds(pid: int) -> float:
    """CPU time of a process, all its threads: nanoseconds from /proc/PID/task/*/schedstat
    (a tick of /proc/PID/stat is 10 ms, too coarse for one small body), else utime + stime."""
    try:
        return (
            sum(
                int(task.joinpath("schedstat").read_text().split()[0])
                for task in Path(f"/proc/{pid}/task").iterdir()
            )
            / 1e9
        )
    except (OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server(kind: str, workdir: Path, log_level: str, tree: Path | None = None) -> Iterator[Server]:
    port = free_port()
    env = dict(os.environ)
    if kind == "bare":
        command = [sys.executable, __file__, "--bare", str(port)]
    else:
        (workdir / "rules.yaml").write_text(rules_yaml())
        if tree is not None:  # another checkout of the bridge, e.g. before a change
            env["PYTHONPATH"] = str(tree)
        env |= {
            "BRIDGE_CONFIG": str(workdir / "rules.yaml"),
            "BRIDGE_DB": f"sqlite:///{workdir}/{kind}.db",
            "BRIDGE_HOST": "127.0.0.1",
            "BRIDGE_PORT": str(port),
            "BRIDGE_LOG_LEVEL": log_level,
            "BRIDGE_LOG_FORMAT": "json",
        }
        command = [str(Path(sys.executable).parent / "bridge"), "serve"]
    log = (workdir / f"{kind}.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_listening("127.0.0.1", port, process)
        yield Server(kind, "127.0.0.1", port, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def wait_listening(host: str, port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server on port {port} exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection(host, port, timeout=1)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"server on port {port} did not start")


@dataclass(frozen=True)
class Result:
    name: str
    requests: int
    seconds: float
    errors: int
    non_2xx: int
    p50_ms: float
    p99_ms: float
    cpu_s: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def cpu_us_per_request(self) -> float:
        return self.cpu_s / max(1, self.requests) * 1e6


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(output: str, percentile: str) -> float:
    match = re.search(rf"^\s*{percentile}%\s+([\d.]+)(us|ms|s)\s*$", output, re.M)
    return float(match.group(1)) * _UNITS_MS[match.group(2)] if match else float("nan")


def wrk(srv: Server, bodies: Path, seconds: float, connections: int) -> Result:
    """One wrk run against `srv`, with the server's CPU time over exactly that run."""
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds:g}s",
        "--latency",
        "-s",
        str(LUA),
        srv.url,
    ]
    env = dict(os.environ, BODIES=str(bodies))
    cpu_before = cpu_seconds(srv.pid)
    output = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
    cpu_s = cpu_seconds(srv.pid) - cpu_before
    done = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", output)
    if done is None:
        raise SystemExit(f"unexpected wrk output:\n{output}")
    scale = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[done.group(3)]
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return Result(
        srv.name,
        int(done.group(1)),
        float(done.group(2)) * scale,
        sum(int(g) for g in errors.groups()) if errors else 0,
        int(non_2xx.group(1)) if non_2xx else 0,
        _latency_ms(output, "50"),
        _latency_ms(output, "99"),
        cpu_s,
    )


def median(results: list[Result], key: str) -> float:
    return statistics.median(getattr(r, key) for r in results)


def report(results: dict[str, list[Result]]) -> None:
    print(
        f"{'server':<8} {'rounds':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'errors':>7} {'non-2xx':>8} {'cpu us/req':>11}"
    )
    for name, rounds in results.items():
        print(
            f"{name:<8} {len(rounds):>6} {median(rounds, 'rps'):>9.0f} "
            f"{median(rounds, 'p50_ms'):>8.2f} {median(rounds, 'p99_ms'):>8.2f} "
            f"{sum(r.errors for r in rounds):>7} {sum(r.non_2xx for r in rounds):>8} "
            f"{median(rounds, 'cpu_us_per_request'):>11.1f}"
        )
    bare = results["bare"]
    for name in [n for n in results if n != "bare"]:
        bridge = results[name]
        ratio = median(bridge, "rps") / median(bare, "rps")
        each = ", ".join(f"{b.rps / a.rps:.2f}" for a, b in zip(bare, bridge, strict=True))
        cpu_ratio = median(bridge, "cpu_us_per_request") / median(bare, "cpu_us_per_request")
        print(f"ratio {name}/bare throughput (medians): {ratio:.2f}  (goal >= 0.50)")
        print(f"ratio {name}/bare per round: {each}")
        print(f"ratio {name}/bare CPU per request (medians): {cpu_ratio:.2f}")


def post(srv: Server, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(srv.host, srv.port, timeout=600)
    headers = {"Content-Type": "application/json", "X-KC-Signature": signature(body)}
    connection.request("POST", PATH, body=body, headers=headers)
    response = connection.getresponse()
    answer = response.status, response.read()
    connection.close()
    return answer


@contextmanager
def health_probe(srv: Server) -> Iterator[list[float]]:
    """GET /healthz in a loop while the block runs: each answer's wait, in seconds. The longest
    is how long the bridge's event loop was held (every other request waited as long)."""
    waits: list[float] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            started = time.perf_counter()
            connection = http.client.HTTPConnection(srv.host, srv.port, timeout=600)
            connection.request("GET", "/healthz")
            connection.getresponse().read()
            connection.close()
            waits.append(time.perf_counter() - started)
            stop.wait(0.005)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield waits
    finally:
        stop.set()
        thread.join()


def legacy_accept_times(srv: Server, sizes: list[int]) -> None:
    """Accept time of legacy bodies (median of 3 each): it must grow linearly with the items.
    Also the longest /healthz wait during the accepts: a large body must not hold the loop."""
    print("\nlegacy bodies to the bridge (median of 3 posts each, distinct bodies)")
    print(
        f"{'items':>7} {'body KiB':>9} {'accept ms':>10} {'us/item':>8} {'cpu us/item':>12} "
        f"{'longest /healthz ms':>20}"
    )
    per_item: list[float] = []
    cpu_per_item: list[float] = []
    for size in sizes:
        times, cpus = [], []
        with health_probe(srv) as waits:
            for attempt in range(3):
                body = legacy_body(size, f"{size:08d}-{attempt:04d}")
                cpu_before = cpu_seconds(srv.pid)
                started = time.perf_counter()
                status, answer = post(srv, body)
                times.append(time.perf_counter() - started)
                cpus.append(cpu_seconds(srv.pid) - cpu_before)
                if status != 200 or json.loads(answer)["accepted"] != size:
                    raise SystemExit(f"legacy body of {size} items: {status} {answer[:200]!r}")
        seconds, cpu_s = statistics.median(times), statistics.median(cpus)
        per_item.append(seconds / size)
        cpu_per_item.append(cpu_s / size)
        print(
            f"{size:>7} {len(body) / 1024:>9.0f} {seconds * 1000:>10.1f} "
            f"{seconds / size * 1e6:>8.1f} {cpu_s / size * 1e6:>12.1f} "
            f"{max(waits, default=0) * 1000:>20.0f}"
        )
    if len(sizes) > 1:
        growth = sizes[-1] / sizes[-2]
        print(
            f"per item, {sizes[-1]} against {sizes[-2]} items: "
            f"time x{per_item[-1] / per_item[-2]:.2f}, "
            f"CPU x{cpu_per_item[-1] / cpu_per_item[-2]:.2f} (linear: about 1; quadratic: "
            f"x{growth:g}). The smallest body's time is mostly the fixed cost of one request."
        )


@contextmanager
def profiled(pid: int, out: Path) -> Iterator[None]:
    """py-spy's collapsed stacks of `pid` (all threads) while the block runs."""
    out.parent.mkdir(parents=True, exist_ok=True)
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [py_spy, "record", "--pid", str(pid), "--format", "raw", "--threads"]
    spy = subprocess.Popen([*command, "--rate", "500", "-o", str(out)], stdout=subprocess.DEVNULL)
    time.sleep(1)  # py-spy attaches before the first round
    try:
        yield
    finally:
        spy.send_signal(2)  # py-spy writes its file on SIGINT
        spy.wait(timeout=60)
        print(f"profile of the bridge: {out}")


def main(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    results: dict[str, list[Result]] = {"bare": [], "bridge": []}
    if args.before_tree:
        results["before"] = []
    bodies_per_round = int(BODIES_PER_SECOND * args.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-receive-") as tmp, ExitStack() as stack:
        work = Path(tmp)
        bare = stack.enter_context(server("bare", work, args.log_level))
        bridge = stack.enter_context(server("bridge", work, args.log_level))
        servers = [bare, bridge]
        if args.before_tree:
            tree = Path(args.before_tree).resolve()
            servers.append(stack.enter_context(server("before", work, args.log_level, tree)))
        print(f"load average before: {os.getloadavg()[0]:.2f}", flush=True)
        warm = write_bodies(work / "warm.tsv", bodies_per_round, "ffffffff-0000")
        for srv in servers:
            wrk(srv, warm, WARMUP_S, args.connections)
        if args.profile:
            stack.enter_context(profiled(bridge.pid, Path(args.profile) / "receive.txt"))
        for round_ in range(args.rounds):
            bodies = write_bodies(work / "round.tsv", bodies_per_round, f"{round_:08x}-0000")
            for srv in servers:
                result = wrk(srv, bodies, args.seconds, args.connections)
                results[srv.name].append(result)
                print(
                    f"round {round_} {srv.name:<6} {result.rps:>8.0f} req/s "
                    f"{result.cpu_us_per_request:>6.1f} us/req  "
                    f"load {os.getloadavg()[0]:.2f}",
                    flush=True,
                )
        print(f"load average after: {os.getloadavg()[0]:.2f}")
        print(
            f"\nwrk -t1 -c{args.connections} -d{args.seconds:g}s, {args.rounds} rounds, "
            f"bridge BRIDGE_LOG_LEVEL={args.log_level}, 100 rules, action parked"
        )
        report(results)
        if args.legacy_sizes:
            legacy_accept_times(bridge, [int(s) for s in args.legacy_sizes.split(",")])


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--bare":
        bare_app_main(int(sys.argv[2]))
        raise SystemExit(0)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--legacy-sizes", default="100,1000,5000")
    parser.add_argument("--profile", help="a directory: py-spy records the bridge there")
    parser.add_argument(
        "--before-tree",
        help="also run the bridge from this source tree (e.g. `git archive` of an older commit)",
    )
    main(parser.parse_args())
