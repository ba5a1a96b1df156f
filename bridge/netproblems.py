"""Why a request got no answer, in an operator's words: DNS, a refused connection, TLS, timeouts.

One vocabulary for every action and every view (the job list, the job page, `bridge
deliveries`, the log line, the alert), so that a failing target reads the same wherever it is
looked at, with its cause first: `TLS certificate of api.example.com:443 rejected: certificate
has expired`, not `ClientConnectorCertificateError: Cannot connect to host ... [(1, '[SSL:
CERTIFICATE_VERIFY_FAILED] ...')]`, whose cause a narrow column cut off. Only the host and port
are named, never the URL: a build hook's path and a query's token are credentials.

The exception chain is searched, so SDKs on other HTTP clients (httpx, requests) that wrap the
same `ssl` and `socket` errors read the same as aiohttp.

`progress()` keeps how far the request being sent got (resolving, connecting, sent, answered):
an attempt that runs out of time then says where it stalled (httpread's session reports it).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass

import aiohttp

# OpenSSL's verify codes (x509_vfy.h) for certificates issued by no CA the bridge trusts.
_UNTRUSTED = frozenset({2, 18, 19, 20, 21})


def connection_problem(
    exc: BaseException, *, host: str | None = None, port: int | None = None
) -> str | None:
    """What went wrong before any answer came, or None when `exc` holds no connection failure.

    `host` and `port` name the target when the exception does not (SMTP, an SDK's client)."""
    if host is None:
        host, port = _address(exc)
    target = f"{host}:{port}" if host and port else host or "the server"
    for error in _chain(exc):
        if isinstance(error, aiohttp.ClientConnectorCertificateError):
            return _certificate(target, error.certificate_error)
        if isinstance(error, ssl.SSLCertVerificationError | ssl.CertificateError):
            return _certificate(target, error)
    for error in _chain(exc):
        if isinstance(error, aiohttp.ClientConnectorDNSError | socket.gaierror):
            cause = _strerror(
                error.os_error if isinstance(error, aiohttp.ClientConnectorError) else error
            )
            return f"the name {host or '?'} does not resolve (DNS: {cause})"
        if isinstance(error, ssl.SSLError) and not isinstance(error, aiohttp.ClientError):
            return _tls(target, error)  # aiohttp's own SSL errors are SSLErrors with no reason
        if isinstance(error, aiohttp.ConnectionTimeoutError):
            return f"connecting to {target} timed out"
        if isinstance(error, aiohttp.SocketTimeoutError):
            return f"{target} sent nothing within the read timeout"
        if (
            isinstance(error, ConnectionRefusedError)
            or getattr(error, "errno", None) == errno.ECONNREFUSED
        ):
            return f"{target} refused the connection (nothing listens on that port)"
        if (
            isinstance(error, ConnectionResetError)
            or getattr(error, "errno", None) == errno.ECONNRESET
        ):
            return f"the connection to {target} was reset"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"cannot connect to {target}: {_strerror(exc.os_error)}"
    return None


def no_answer(
    what: str, exc: BaseException, *, host: str | None = None, port: int | None = None
) -> str | None:
    """A job's reason for a connection that failed (`what` names the target), or None: `what
    unreachable: ...` when it could not be reached, `what: ...` when TLS refused it."""
    problem = connection_problem(exc, host=host, port=port)
    if problem is None:
        return None
    return f"{what}: {problem}" if "TLS" in problem else f"{what} unreachable: {problem}"


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """`exc`, what it wraps (aiohttp's os_error), and its causes and contexts, each once."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        error = todo.pop(0)
        if error is None or id(error) in seen or len(seen) > 16:
            continue
        seen.add(id(error))
        yield error
        wrapped = (
            getattr(error, "os_error", None) if isinstance(error, aiohttp.ClientError) else None
        )
        reason = getattr(error, "reason", None)  # urllib3's MaxRetryError (requests' SDKs)
        todo += [wrapped if isinstance(wrapped, BaseException) else None]
        todo += [reason if isinstance(reason, BaseException) else None]
        todo += [error.__cause__, error.__context__]
        todo += [arg for arg in getattr(error, "args", ()) if isinstance(arg, BaseException)]


def _address(exc: BaseException) -> tuple[str | None, int | None]:
    for error in _chain(exc):  # not the progress: an SDK on another client sends past it
        if isinstance(error, aiohttp.ClientConnectorError):
            return error.host, error.port
    return None, None


def _certificate(target: str, error: BaseException) -> str:
    message = getattr(error, "verify_message", None) or _strerror(error)
    message = str(message).strip().rstrip(".")
    if getattr(error, "verify_code", None) in _UNTRUSTED:
        message += " (issued by no CA the bridge trusts)"
    return f"TLS certificate of {target} rejected: {message}"


def _tls(target: str, error: ssl.SSLError) -> str:
    reason = str(getattr(error, "reason", "") or "")
    if reason in {"WRONG_VERSION_NUMBER", "HTTP_REQUEST", "UNEXPECTED_EOF_WHILE_READING"}:
        if reason != "UNEXPECTED_EOF_WHILE_READING":
            return f"{target} does not speak TLS (an https:// URL on a plain-HTTP port?)"
        return f"{target} closed the connection during the TLS handshake"
    return f"TLS handshake with {target} failed: {reason or _strerror(error)}"


def _strerror(error: BaseException | None) -> str:
    if error is None:
        return "no reason given"
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return " ".join(str(text).split())


@dataclass
class Progress:
    """How far the latest request of an attempt got: `phase` and, once answered, `status`."""

    host: str | None = None
    port: int | None = None
    phase: str = ""  # resolving, connecting, sent, answered; done once read (or failed)
    status: int | None = None
    deadline: float | None = None  # the attempt's end, on the event loop's clock

    def stalled(self) -> str:
        """Where a timed-out attempt was waiting, as the end of its reason ('' when unknown)."""
        target = f"{self.host}:{self.port}" if self.host else "the server"
        if self.phase == "resolving":
            return f"resolving {self.host} (DNS) did not finish"
        if self.phase == "connecting":
            return f"the connection to {target} was not set up (TCP connect or TLS handshake)"
        if self.phase == "sent":
            return f"{target} took the request but sent no answer"
        if self.phase == "answered":
            return f"{target} answered {self.status}, but the rest of its answer did not come"
        return ""


_PROGRESS: contextvars.ContextVar[Progress] = contextvars.ContextVar("bridge_progress")


@contextlib.contextmanager
def progress(timeout_s: float | None = None) -> Iterator[Progress]:
    """Inside, how far the request being sent got (a holder: tasks an SDK starts share it);
    `timeout_s` is the attempt's, which bounds how long an answer's body is waited for."""
    seen = Progress()
    if timeout_s is not None:
        seen.deadline = asyncio.get_running_loop().time() + timeout_s
    token = _PROGRESS.set(seen)
    try:
        yield seen
    finally:
        _PROGRESS.reset(token)


def body_wait_s(longest_s: float) -> float:
    """How long an answer's body may still take: `longest_s`, but less than what the attempt
    has left (90% of it), so that an answered status decides before the attempt times out."""
    seen = _PROGRESS.get(None)
    if seen is None or seen.deadline is None:
        return longest_s
    left = seen.deadline - asyncio.get_running_loop().time()
    return max(0.0, min(longest_s, left * 0.9))


def stalled() -> str:
    """Where the request being sent stalled ('' outside `progress()` or before any request)."""
    seen = _PROGRESS.get(None)
    return seen.stalled() if seen is not None else ""


def note(phase: str, *, url: object = None, status: int | None = None) -> None:
    """The session's trace hooks (httpread.client_session) mark each step of a request."""
    seen = _PROGRESS.get(None)
    if seen is None:
        return
    if url is not None:
        seen.host = getattr(url, "host", None)
        seen.port = getattr(url, "port", None)
        seen.status = None
    seen.phase = phase
    if status is not None:
        seen.status = status
