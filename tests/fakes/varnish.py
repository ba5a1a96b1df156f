"""A real Varnish in front of a counting origin, for cache-invalidation tests.

`async with RealVarnish(origin_url) as cache:` starts `varnishd -F` on a free loopback port with
a VCL that handles PURGE (by URL, or by xkey tags through the `xkey-purge` header) and BAN (an
expression in `X-Ban`), and stops it afterwards. `Origin` counts hits per path and tags pages
with an `xkey` header.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from collections import Counter
from pathlib import Path
from typing import Self

import pytest
from aiohttp import web

from tests.fakes.server import FakeServer

VCL = """vcl 4.1;
import std;
import xkey;

backend origin {{ .host = "127.0.0.1"; .port = "{port}"; }}

acl purgers {{ "127.0.0.1"; }}

sub vcl_recv {{
    if (req.method == "PURGE" || req.method == "BAN") {{
        if (client.ip !~ purgers) {{ return (synth(405, "Not allowed")); }}
    }}
    if (req.method == "PURGE") {{
        if (req.http.{xkey_header}) {{
            set req.http.n-gone = xkey.purge(req.http.{xkey_header});
            return (synth(200, "Invalidated " + req.http.n-gone + " objects"));
        }}
        return (purge);
    }}
    if (req.method == "BAN") {{
        if (std.ban(req.http.X-Ban)) {{ return (synth(200, "Ban added")); }}
        return (synth(400, std.ban_error()));
    }}
}}

sub vcl_backend_response {{
    set beresp.ttl = 1h;
    set beresp.http.x-url = bereq.url;
    set beresp.http.x-host = bereq.http.host;
}}
"""


def varnishd() -> str | None:
    """The varnishd binary, or None (the caller skips, or fails when CI=true)."""
    found = shutil.which("varnishd") or shutil.which("varnishd", path="/usr/sbin:/usr/local/sbin")
    if found is None and os.environ.get("CI") == "true":
        pytest.fail("varnishd is missing but CI=true: run .ci/install-varnish.sh")
    return found


class Origin(FakeServer):
    """Serves any path; `hits[path]` counts origin fetches; pages are tagged by `tags`."""

    def __init__(self, tags: dict[str, str] | None = None) -> None:
        super().__init__()
        self.hits: Counter[str] = Counter()
        self.tags = tags or {}

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{tail:.*}", self._page)

    async def _page(self, request: web.Request) -> web.Response:
        self.hits[request.path] += 1
        headers = {"Cache-Control": "max-age=3600"}
        if request.path in self.tags:
            headers["xkey"] = self.tags[request.path]
        return web.Response(text=f"{request.path} #{self.hits[request.path]}", headers=headers)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RealVarnish:
    def __init__(self, binary: str, origin_url: str, xkey_header: str = "xkey-purge") -> None:
        self.binary = binary
        self.origin_port = int(origin_url.rsplit(":", 1)[1])
        self.xkey_header = xkey_header
        self.url = ""
        self._dir = tempfile.TemporaryDirectory(prefix="varnish-")
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> Self:
        workdir = Path(self._dir.name)
        vcl = workdir / "test.vcl"
        vcl.write_text(VCL.format(port=self.origin_port, xkey_header=self.xkey_header))
        port = free_port()
        self._process = await asyncio.create_subprocess_exec(
            self.binary, "-F", "-j", "none", "-n", str(workdir / "n"),
            "-a", f"127.0.0.1:{port}", "-f", str(vcl), "-s", "malloc,16m", "-T", "none",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        self.url = f"http://127.0.0.1:{port}"
        await asyncio.wait_for(self._started(), timeout=60)
        return self

    async def _started(self) -> None:
        """The manager binds the socket before the child starts: "Child starts" means ready."""
        assert self._process is not None and self._process.stdout is not None
        seen = []
        async for line in self._process.stdout:
            seen.append(line.decode(errors="replace"))
            if b"Child starts" in line:
                asyncio.get_running_loop().create_task(self._drain())
                return
        raise RuntimeError("varnishd exited before starting:\n" + "".join(seen))

    async def _drain(self) -> None:
        if self._process is not None and self._process.stdout is not None:
            async for _ in self._process.stdout:
                pass

    async def __aexit__(self, *exc: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        self._dir.cleanup()
