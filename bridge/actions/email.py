"""`email`: send a plain-text mail over SMTP (STARTTLS or implicit TLS, optional auth).

Mostly the bridge's alert channel, so failures must be clear: a refused login or a 5xx answer
(a rejected sender or recipient) is permanent, as SMTP itself defines 5xx; a 4xx answer, a
dropped connection or a timeout retries.
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiosmtplib
from pydantic import Field, field_validator

from bridge.actions.base import Action, ActionOptions, Call, PermanentFailure, Retry, Success


class EmailOptions(ActionOptions):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None  # None: upgrade when the server offers it
    tls: bool = False  # implicit TLS (port 465)
    ca_file: str | None = None  # a private CA's certificates (PEM), for an internal relay
    sender: str = Field(alias="from")
    to: list[str]
    subject: str | None = None
    text: str | None = None

    @field_validator("to", mode="before")
    @classmethod
    def _one_or_many(cls, value: object) -> object:
        return (
            [part.strip() for part in value.split(",") if part.strip()]
            if isinstance(value, str)
            else value
        )


class EmailAction(Action[EmailOptions]):
    Options = EmailOptions
    secret_options = frozenset({"password"})
    endpoint_options = {"host": "host", "port": "host"}
    summary = "Send a plain-text email over SMTP (alerts, digests)."

    async def send(self, call: Call[EmailOptions]) -> Success:
        options = call.options
        if not options.to:
            raise PermanentFailure("email: no recipients in 'to'")
        try:
            errors, reply = await aiosmtplib.send(
                _message(call),
                hostname=options.host,
                port=options.port,
                username=options.username,
                password=options.password,
                start_tls=options.starttls if not options.tls else False,
                use_tls=options.tls,
                cert_bundle=options.ca_file,
            )
        except (aiosmtplib.SMTPException, TimeoutError, OSError) as exc:
            raise _failure(exc) from exc
        refused = f"; refused: {', '.join(sorted(errors))}" if errors else ""
        return Success(
            response=f"sent to {len(options.to) - len(errors)} recipient(s): {reply}{refused}"
        )


def _failure(exc: Exception) -> Retry | PermanentFailure:
    """SMTP's own rule: 5xx answers (and a refused login) are permanent, the rest retries."""
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return PermanentFailure(f"SMTP login refused: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentFailure(f"SMTP server does not support: {exc}")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [e.code for e in exc.recipients]
        return _by_code(codes, f"SMTP refused every recipient: {exc}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code([exc.code], f"SMTP answered {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPException) and "not supported" in str(exc):
        return PermanentFailure(f"SMTP server: {exc}")  # STARTTLS or AUTH asked, not offered
    return Retry(f"SMTP server unreachable: {type(exc).__name__}: {exc}")


def _message(call: Call[EmailOptions]) -> EmailMessage:
    options = call.options
    events = call.events
    message = EmailMessage()
    message["From"] = options.sender
    message["To"] = ", ".join(options.to)
    message["Subject"] = options.subject or f"[kontent-bridge] {len(events)} event(s)"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(idstring=call.delivery_id.replace("@", "_"))
    text = options.text if options.text is not None else "\n".join(e.summary() for e in events)
    message.set_content(text)
    return message


def _by_code(codes: list[int], reason: str) -> Retry | PermanentFailure:
    if codes and all(code >= 500 for code in codes):
        return PermanentFailure(reason)
    return Retry(reason)
