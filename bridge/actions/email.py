"""`email`: send a plain-text mail over SMTP (STARTTLS or implicit TLS, optional auth).

Mostly the bridge's alert channel, so failures must be clear: a refused login or a 5xx answer
(a rejected sender or recipient) is permanent, as SMTP itself defines 5xx; a 4xx answer, a
dropped connection or a timeout retries. Rendered addresses and the subject are checked before
connecting: an address that does not parse, or a CR/LF (header injection) in any header, can
never be sent, so it is permanent at once rather than a ValueError retried for days.
"""

from __future__ import annotations

import re
from email.errors import HeaderDefect, NonASCIILocalPartDefect
from email.message import EmailMessage
from email.policy import default as default_policy
from email.utils import formatdate, make_msgid

import aiosmtplib
from pydantic import Field, field_validator, model_validator

from bridge import netproblems
from bridge.actions.base import Action, ActionOptions, Call, PermanentFailure, Retry, Success
from bridge.actions.cafile import CaFile
from bridge.templates import is_template

# Control characters (HTAB aside) end or corrupt a header line; a lone surrogate is no text.
_UNSENDABLE = re.compile("[\x00-\x08\x0a-\x1f\x7f\ud800-\udfff]")


class EmailOptions(ActionOptions):
    host: str
    port: int = Field(default=587, ge=1, le=65535)
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None  # None: upgrade when the server offers it
    tls: bool = False  # implicit TLS (port 465)
    ca_file: CaFile | None = None  # a private CA's certificates (PEM), for an internal relay
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

    @model_validator(mode="after")
    def _sendable(self) -> EmailOptions:
        # Literal addresses and subjects are checked at load: each job would fail for good.
        problems = header_problems(self, skip_templates=True)
        if problems:
            raise ValueError("; ".join(problems))
        return self


class EmailAction(Action[EmailOptions]):
    Options = EmailOptions
    secret_options = frozenset({"password"})
    endpoint_options = {"host": "host", "port": "host"}
    summary = "Send a plain-text email over SMTP (alerts, digests)."

    async def send(self, call: Call[EmailOptions]) -> Success:
        options = call.options
        if not options.to:
            raise PermanentFailure("email: no recipients in 'to'")
        check_headers(options)
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
            raise _failure(exc, options) from exc
        refused = f"; refused: {', '.join(sorted(errors))}" if errors else ""
        return Success(
            response=f"sent to {len(options.to) - len(errors)} recipient(s): {reply}{refused}"
        )


def check_headers(options: EmailOptions) -> None:
    """PermanentFailure naming the option whose rendered value no SMTP server can be sent."""
    for problem in header_problems(options, skip_templates=False):
        raise PermanentFailure(f"email: {problem} after rendering; a retry would send the same")


def header_problems(options: EmailOptions, *, skip_templates: bool) -> list[str]:
    """What no SMTP server can be sent: an address that is not one mailbox, a line break in the
    subject. At load (`skip_templates`) only literal values are known; at send, rendered ones."""
    found: list[str] = []
    addresses = [(f"to[{index}]", address) for index, address in enumerate(options.to)]
    for option, value in [*addresses, ("from", options.sender)]:
        if skip_templates and is_template(value):
            continue
        problem = address_problem(value)
        if problem is not None:
            found.append(f"option {option!r} is not one email address ({value!r}: {problem})")
    subject = options.subject
    checked = subject is not None and not (skip_templates and is_template(subject))
    if checked and subject is not None and (bad := _UNSENDABLE.search(subject)):
        found.append(
            f"option 'subject' holds {bad.group()!r} at position {bad.start()} (a line "
            "break would start another header)"
        )
    return found


def address_problem(value: str) -> str | None:
    """Why `value` is not exactly one mailbox (`a@b.example` or `Name <a@b.example>`), or None."""
    if bad := _UNSENDABLE.search(value):
        return f"{bad.group()!r} at position {bad.start()}"
    try:
        header = default_policy.header_factory("To", value)
    except Exception as exc:  # the parser's own failures on odd input (IndexError on "a@")
        return f"does not parse: {type(exc).__name__}"
    defects: tuple[HeaderDefect, ...] = header.defects
    serious = [d for d in defects if not isinstance(d, NonASCIILocalPartDefect)]
    if serious:
        return str(serious[0])
    addresses = header.addresses
    if len(addresses) != 1:
        return f"{len(addresses)} addresses"
    if not addresses[0].username or not addresses[0].domain:
        return "no local part or domain"
    return None


def _failure(exc: Exception, options: EmailOptions) -> Retry | PermanentFailure:
    """SMTP's own rule: 5xx answers (and a refused login) are permanent, the rest retries."""
    target = f"{options.host}:{options.port}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return PermanentFailure(f"SMTP login refused: {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPNotSupported):
        return PermanentFailure(f"SMTP server does not support: {exc}")
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        codes = [e.code for e in exc.recipients]
        each = "; ".join(f"{e.recipient}: {e.code} {e.message}" for e in exc.recipients)
        return _by_code(codes, f"SMTP refused every recipient: {each}")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return _by_code([exc.code], f"SMTP answered {exc.code} {exc.message}")
    if isinstance(exc, aiosmtplib.SMTPException) and "AUTH extension" in str(exc):
        if options.starttls is False and not options.tls:
            return PermanentFailure(
                f"SMTP server {target} offers no login (AUTH) on a plain connection, and "
                "starttls: false keeps it plain: remove it (or use tls: true on port 465)"
            )
        return PermanentFailure(f"SMTP server {target} offers no login (AUTH): {exc}")
    if isinstance(exc, aiosmtplib.SMTPException) and "not supported" in str(exc):
        return PermanentFailure(f"SMTP server: {exc}")  # STARTTLS or AUTH asked, not offered
    if said := netproblems.no_answer("SMTP server", exc, host=options.host, port=options.port):
        return Retry(said)
    if isinstance(exc, aiosmtplib.SMTPTimeoutError | TimeoutError):
        return Retry(f"SMTP server {target} did not answer in time: {exc or 'timed out'}")
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
