"""Through real sockets: `bridge serve` as a subprocess on the SQLite store, `bridge send`."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "rules.example.yaml"
PAYLOADS = ROOT / "tests/payloads"
SECRET = "socket-secret"
STARTUP_TIMEOUT_S = 30.0
LINE_TIMEOUT_S = 15.0

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    process: asyncio.subprocess.Process
    url: str
    port: int
    lines: list[str] = field(default_factory=list)

    async def wait_for_line(self, text: str, timeout_s: float = LINE_TIMEOUT_S) -> str:
        """The first output line containing `text`, reading more output as it comes."""
        async with asyncio.timeout(timeout_s):
            for line in self.lines:
                if text in line:
                    return line
            assert self.process.stderr is not None
            while raw := await self.process.stderr.readline():
                line = raw.decode(errors="replace")
                self.lines.append(line)
                if text in line:
                    return line
        raise AssertionError(f"server exited before logging {text!r}:\n{''.join(self.lines)}")


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[Server]:
    port = free_port()
    env = os.environ | {
        "BRIDGE_DB": f"sqlite:///{tmp_path}/bridge.db",
        "BRIDGE_LOG_FORMAT": "text",
        "KONTENT_WEBHOOK_SECRET": SECRET,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "serve", "--config", str(EXAMPLE),
        "--host", "127.0.0.1", "--port", str(port),
        env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    running = Server(process, f"http://127.0.0.1:{port}", port)
    await running.wait_for_line("Uvicorn running on", STARTUP_TIMEOUT_S)
    yield running
    if process.returncode is None:
        process.terminate()
        await process.wait()


async def bridge(*argv: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", *argv,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    return process.returncode or 0, out.decode(), err.decode()


async def test_send_seed_payload_runs_the_log_action(server: Server) -> None:
    payload = PAYLOADS / "current/content_item_published_published.json"
    code, out, err = await bridge(
        "send", f"{server.url}/webhooks/kontent", str(payload), "--secret", SECRET
    )
    assert (code, err) == (0, "")
    assert out == 'HTTP 200\n{"accepted":1,"duplicates":0,"jobs":2}\n'
    line = await server.wait_for_line("[publishing-log]")
    assert "published product_update 'This changes everything!' (english)" in line
    await server.wait_for_line("[audit] content_item published product_update")


async def test_send_legacy_payload_with_legacy_header(server: Server) -> None:
    payload = PAYLOADS / "legacy/content_item_variant_publish.json"
    code, out, _ = await bridge(
        "send", "--legacy", f"{server.url}/webhooks/kontent", str(payload), "--secret", SECRET
    )
    assert code == 0
    assert out.startswith('HTTP 200\n{"accepted":2,"duplicates":0,"jobs":4}')
    await server.wait_for_line("[publishing-log] published article 'on_roasts' (en-US)")
    await server.wait_for_line("[publishing-log] published article 'on_roasts' (es-ES)")


async def test_redelivery_is_recognised_by_the_real_store(server: Server) -> None:
    payload = str(PAYLOADS / "current/asset_metadata_changed_preview.json")
    url = f"{server.url}/webhooks/kontent"
    assert (await bridge("send", url, payload, "--secret", SECRET))[0] == 0
    code, out, _ = await bridge("send", url, payload, "--secret", SECRET)
    assert code == 0
    assert '"duplicates":1' in out


async def test_wrong_secret_is_401_and_exit_1(server: Server) -> None:
    payload = str(PAYLOADS / "current/asset_metadata_changed_preview.json")
    code, out, _ = await bridge(
        "send", f"{server.url}/webhooks/kontent", payload, "--secret", "wrong"
    )
    assert code == 1
    assert out == 'HTTP 401\n{"error":"invalid signature"}\n'


async def test_chunked_body_over_the_limit_is_413_on_a_raw_socket(server: Server) -> None:
    """No Content-Length: the limit is enforced while the chunks arrive (5 MiB default)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(
        b"POST /webhooks/kontent HTTP/1.1\r\nHost: bridge\r\n"
        b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunk = b" " * 65536
    sent = 0
    try:
        for _ in range(200):  # up to 12.5 MiB; the answer comes long before
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
            sent += len(chunk)
    except ConnectionError:
        pass  # the server answered and closed while we were still sending
    status_line = await asyncio.wait_for(reader.readline(), LINE_TIMEOUT_S)
    writer.close()
    assert status_line.startswith(b"HTTP/1.1 413")


async def test_sigterm_stops_gracefully(server: Server) -> None:
    """Workers, store and HTTP session are closed; then uvicorn re-raises the signal, so the
    exit status still says "terminated by SIGTERM" (143 in a shell), as supervisors expect."""
    server.process.send_signal(signal.SIGTERM)
    await server.wait_for_line("bridge stopping")
    await server.wait_for_line("Application shutdown complete")
    assert await asyncio.wait_for(server.process.wait(), LINE_TIMEOUT_S) == -signal.SIGTERM


async def test_worker_serves_health_but_no_webhooks(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {"BRIDGE_DB": f"sqlite:///{tmp_path}/bridge.db", "BRIDGE_PORT": str(port)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "worker", "--config", str(EXAMPLE), "--host", "127.0.0.1",
        env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    worker = Server(process, f"http://127.0.0.1:{port}", port)
    try:
        await worker.wait_for_line("bridge ready (worker)", STARTUP_TIMEOUT_S)
        await worker.wait_for_line("Uvicorn running on")
        payload = str(PAYLOADS / "current/asset_metadata_changed_preview.json")
        code, out, _ = await bridge(
            "send", f"{worker.url}/webhooks/kontent", payload, "--secret", SECRET
        )
        assert (code, out.splitlines()[0]) == (1, "HTTP 404")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: worker\r\nConnection: close\r\n\r\n")
        status_line = await asyncio.wait_for(reader.readline(), LINE_TIMEOUT_S)
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 200")
    finally:
        process.terminate()
        await process.wait()


async def test_receive_only_replica_stores_jobs_for_a_worker(tmp_path: Path) -> None:
    """`serve --no-workers` answers 200 and delivers nothing; a `bridge worker` on the same
    store delivers what it stored: receiving and delivering scale apart."""
    db = f"sqlite:///{tmp_path}/bridge.db"
    env = os.environ | {
        "BRIDGE_DB": db, "BRIDGE_LOG_FORMAT": "text", "KONTENT_WEBHOOK_SECRET": SECRET,
    }  # fmt: skip
    port = free_port()
    receiver_process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bridge", "serve", "--no-workers", "--config", str(EXAMPLE),
        "--host", "127.0.0.1", "--port", str(port),
        env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    receiver = Server(receiver_process, f"http://127.0.0.1:{port}", port)
    worker_process: asyncio.subprocess.Process | None = None
    try:
        await receiver.wait_for_line("bridge ready (serve, receive only)", STARTUP_TIMEOUT_S)
        await receiver.wait_for_line("Uvicorn running on")
        payload = str(PAYLOADS / "current/content_item_published_published.json")
        code, out, _ = await bridge(
            "send", f"{receiver.url}/webhooks/kontent", payload, "--secret", SECRET
        )
        assert (code, out) == (0, 'HTTP 200\n{"accepted":1,"duplicates":0,"jobs":2}\n')
        listed = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "deliveries", "--json",
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        rows, _ = await listed.communicate()
        assert [row["attempts"] for row in json.loads(rows)] == [0, 0]

        worker_port = free_port()
        worker_process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "worker", "--config", str(EXAMPLE),
            "--host", "127.0.0.1", "--port", str(worker_port),
            env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        worker = Server(worker_process, f"http://127.0.0.1:{worker_port}", worker_port)
        await worker.wait_for_line("[publishing-log]", STARTUP_TIMEOUT_S)
        assert not any("[publishing-log]" in line for line in receiver.lines)
    finally:
        for process in (receiver_process, worker_process):
            if process is not None and process.returncode is None:
                process.terminate()
                await process.wait()


async def test_a_port_in_use_never_reads_ready(tmp_path: Path) -> None:
    """The start-up runs before uvicorn binds its socket: 'ready' waits for the socket, so a
    port already taken shows the start-up, the bind error and no 'ready' line."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = os.environ | {"BRIDGE_DB": f"sqlite:///{tmp_path}/b.db", "BRIDGE_PORT": str(port)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bridge", "serve", "--config", str(EXAMPLE),
            "--host", "127.0.0.1",
            env=env, stderr=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        _, err = await asyncio.wait_for(process.communicate(), STARTUP_TIMEOUT_S)
    log = err.decode(errors="replace")
    assert process.returncode != 0, log
    assert "bridge started (serve)" in log and "the bridge did not start" in log, log
    assert "bridge ready" not in log, log
