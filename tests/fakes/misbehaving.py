"""Targets that fail as real ones do: bad TLS certificates (made by the openssl CLI), a plain
HTTP port behind an https:// URL, an answer that never comes, a body that stalls or never ends.

`certificates(directory)` makes a CA and, for 127.0.0.1, a certificate it signed, one that
expired in 2020, one for another name, and a self-signed one. `Misbehaving(kind, tls=...)`
serves one way of failing on a free loopback port; `url` is its address (https when `tls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

Kind = Literal["answer", "silent", "stall", "huge", "not_tls"]

_CA_CONFIG = """\
[ca]
default_ca = local
[local]
dir = {dir}
database = {dir}/index.txt
new_certs_dir = {dir}
serial = {dir}/serial
default_md = sha256
policy = any
copy_extensions = none
unique_subject = no
[any]
commonName = supplied
[for_ip]
subjectAltName = IP:127.0.0.1
basicConstraints = CA:FALSE
[for_other_name]
subjectAltName = DNS:other.example
basicConstraints = CA:FALSE
"""


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA file a client trusts
    key: Path  # the key of every leaf below
    good: Path
    expired: Path
    wrong_name: Path
    self_signed: Path
    self_signed_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)


def certificates(directory: Path) -> Certificates:
    """Each certificate a failing TLS target shows, for 127.0.0.1 unless said otherwise."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "index.txt").write_text("")
    (directory / "serial").write_text("01\n")
    config = directory / "ca.cnf"
    config.write_text(_CA_CONFIG.format(dir=directory))
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "2", "-subj", "/CN=CA")
    key, request = directory / "leaf.key", directory / "leaf.csr"
    _openssl("req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1")

    def signed(name: str, extensions: str, *dates: str) -> Path:
        out = directory / f"{name}.pem"
        _openssl(
            "ca", "-batch", "-config", config, "-cert", ca, "-keyfile", ca_key, "-in", request,
            "-out", out, "-extensions", extensions, "-notext", *dates,
        )  # fmt: skip
        return out

    self_signed, self_signed_key = directory / "self.pem", directory / "self.key"
    _openssl(
        "req", "-x509", *ec, "-keyout", self_signed_key, "-out", self_signed, "-days", "1",
        "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
    )  # fmt: skip
    return Certificates(
        ca=ca,
        key=key,
        good=signed("good", "for_ip", "-days", "1"),
        expired=signed(
            "expired", "for_ip", "-startdate", "20200101000000Z", "-enddate", "20200102000000Z"
        ),
        wrong_name=signed("wrong_name", "for_other_name", "-days", "1"),
        self_signed=self_signed,
        self_signed_key=self_signed_key,
    )


def trusting(ca: Path) -> ssl.SSLContext:
    """A client context that trusts `ca` (and nothing else)."""
    return ssl.create_default_context(cafile=str(ca))


class Misbehaving:
    """One way of failing, on 127.0.0.1:

    - `answer`: reads the request, writes `answer`, closes (a cut body, an error page);
    - `silent`: reads the request and never answers;
    - `stall`: writes `answer` (a status line and the start of a body) and holds the
      connection open;
    - `huge`: answers 200 with a body of `size` bytes, streamed;
    - `not_tls`: a plain HTTP server, which answers 400 to the TLS handshake it cannot read.
    """

    def __init__(
        self,
        kind: Kind,
        answer: bytes = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
        *,
        tls: tuple[Path, Path] | None = None,
        size: int = 50 << 20,
    ) -> None:
        self.kind = kind
        self.answer = answer
        self.tls = tls
        self.size = size
        self.requests = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._stop = asyncio.Event()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if self.kind == "not_tls":
                await reader.read(1)  # a ClientHello, which no HTTP parser reads
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            head = await reader.readuntil(b"\r\n\r\n")
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    await reader.readexactly(int(line.split(b":", 1)[1]))
            self.requests += 1
            if self.kind == "huge":
                writer.write(f"HTTP/1.1 200 OK\r\nContent-Length: {self.size}\r\n\r\n".encode())
                chunk = b"x" * 65536
                for _ in range(self.size // len(chunk)):
                    writer.write(chunk)
                    await writer.drain()
                return
            if self.kind != "silent":
                writer.write(self.answer)
                await writer.drain()
            if self.kind in ("silent", "stall"):
                await self._stop.wait()  # the client gives up first
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def __aenter__(self) -> Self:
        context = None
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=context)
        port = self._server.sockets[0].getsockname()[1]
        scheme = "https" if self.tls is not None or self.kind == "not_tls" else "http"
        self.url = f"{scheme}://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()
