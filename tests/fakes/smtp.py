"""A local SMTP server (aiosmtpd) that keeps what it receives and can require a login."""

from __future__ import annotations

import socket
import ssl
import subprocess
import tempfile
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any, Self

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class Mailbox:
    """Messages received; `refuse` makes RCPT answer 550 for those addresses."""

    messages: list[tuple[list[str], Message]] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append((list(envelope.rcpt_tos), message_from_bytes(envelope.content)))
        return "250 Message accepted for delivery"


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made by the openssl CLI (the CA file for the client)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


class FakeSMTP:
    """`async with FakeSMTP(login=("user", "pw")) as smtp:` → smtp.port, smtp.mailbox.

    With a login the server offers STARTTLS (a fresh self-signed certificate, `smtp.ca_file`)
    and accepts AUTH only after it, as a real submission server does.
    """

    def __init__(self, login: tuple[str, str] | None = None) -> None:
        self.login = login
        self.mailbox = Mailbox()
        self.port = 0
        self.ca_file = ""
        self._controller: Controller | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="smtp-")

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and self.login is not None
            and (auth_data.login.decode(), auth_data.password.decode()) == self.login
        )
        return AuthResult(success=ok, handled=False)

    async def __aenter__(self) -> Self:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        kwargs: dict[str, Any] = {}
        if self.login is not None:
            cert, key = self_signed(Path(self._dir.name))
            self.ca_file = str(cert)
            context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            context.load_cert_chain(cert, key)
            kwargs = {
                "authenticator": self._authenticate,
                "auth_required": True,
                "tls_context": context,
                "require_starttls": True,
            }
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port, **kwargs)
        self._controller.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._controller is not None:
            self._controller.stop()
        self._dir.cleanup()
