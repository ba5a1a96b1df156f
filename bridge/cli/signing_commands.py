"""`bridge sign` and `bridge send`: test notifications without a tunnel from Kontent.ai.

Kontent.ai's own helpers (webhook-helper-js `isSignatureValid`) do not hash the body as it is:
they replace every run of line breaks with CRLF first and hash that. A payload file written with
LF line breaks, signed as it is, is therefore rejected by every receiver built on the official
helper. By default both commands use the CRLF form (the file's bytes with each run of line
breaks made one `\r\n`): `send` posts exactly those bytes and signs them, so the bridge and the
official helpers both accept it. `--raw` signs (and sends) the bytes as they are.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bridge.actions.httputil import header_problem
from bridge.cli.common import CliError, examples, read_payload, undecodable
from bridge.httpread import Body, read_prefix
from bridge.signatures import sign

SECRET_ENV = "KONTENT_WEBHOOK_SECRET"
CURRENT_HEADER = "X-Kontent-ai-Signature"
LEGACY_HEADER = "X-KC-Signature"
SEND_TIMEOUT_S = 30.0
# webhook-helper-js `replaceLinebreaks`: data.replace(/[\r\n]+/gm, "\r\n").
_LINE_BREAKS = re.compile(rb"[\r\n]+")


def register(subparsers: Any) -> None:
    sign_parser = subparsers.add_parser(
        "sign",
        help="print the base64 signature Kontent.ai would send for a payload",
        description="Print base64(HMAC-SHA256(secret, payload)), the value of "
        f"{CURRENT_HEADER} (or {LEGACY_HEADER}). The payload is signed in its CRLF form "
        "(every run of line breaks made one CRLF), as Kontent.ai's own helpers verify it; "
        "--raw signs the file's bytes as they are.",
        **examples(
            "bridge sign --secret change-me payload.json",
            f"{SECRET_ENV}=change-me bridge sign - < payload.json",
        ),
    )
    _secret_option(sign_parser)
    _raw_option(sign_parser)
    sign_parser.add_argument("payload", metavar="PAYLOAD", help="a JSON file, or - for stdin")
    sign_parser.set_defaults(func=run_sign)

    send = subparsers.add_parser(
        "send",
        help="POST a signed test notification to a running bridge",
        description="POST PAYLOAD to URL, signed as Kontent.ai signs it. The body sent is the "
        "CRLF form of the file (every run of line breaks made one CRLF), which the bridge and "
        "Kontent.ai's own helpers both verify; --raw sends the file's bytes as they are. "
        "Prints the status and the body; exits 1 unless the answer is 2xx.",
        **examples(
            "bridge send http://localhost:8080/webhooks/kontent payload.json --secret change-me",
            "bridge send --legacy http://localhost:8080/webhooks/kontent legacy.json",
            "bridge send --header request-id:test-1 http://localhost:8080/webhooks/kontent "
            "payload.json",
        ),
    )
    send.add_argument("url", metavar="URL", help="e.g. http://localhost:8080/webhooks/kontent")
    send.add_argument("payload", metavar="PAYLOAD", help="a JSON file, or - for stdin")
    _secret_option(send)
    _raw_option(send)
    send.add_argument(
        "--legacy",
        action="store_true",
        help=f"sign with the legacy {LEGACY_HEADER} header instead of {CURRENT_HEADER}",
    )
    send.add_argument(
        "--header",
        action="append",
        default=[],
        metavar="K:V",
        help="an extra request header (repeatable), e.g. --header request-id:test-1",
    )
    send.set_defaults(func=run_send)


def _secret_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--secret",
        default=None,
        help=f"the webhook's secret (default: ${SECRET_ENV}, which keeps it out of shell history)",
    )


def _raw_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--raw",
        action="store_true",
        help="use the file's bytes as they are, line breaks included (the default is the CRLF "
        "form the official helpers hash)",
    )


def crlf_form(body: bytes) -> bytes:
    """The body as Kontent.ai's helpers hash it: each run of CR/LF characters one CRLF."""
    if b"\n" not in body and b"\r" not in body:
        return body
    return _LINE_BREAKS.sub(b"\r\n", body)


def _body(args: argparse.Namespace) -> bytes:
    body = read_payload(args.payload)
    return body if args.raw else crlf_form(body)


def _secret(args: argparse.Namespace) -> str:
    secret = args.secret if args.secret is not None else os.environ.get(SECRET_ENV)
    if not secret:
        raise CliError(f"no secret: pass --secret or set {SECRET_ENV}", code=2)
    if (problem := undecodable(secret)) is not None:  # --secret's own is a usage error already
        raise CliError(f"{SECRET_ENV} {problem}", code=2)
    return str(secret)


def run_sign(args: argparse.Namespace) -> int:
    print(sign(_body(args), _secret(args)))
    return 0


def run_send(args: argparse.Namespace) -> int:
    _check_url(args.url)
    body = _body(args)
    headers = {"Content-Type": "application/json; charset=utf-8"}
    headers.update(_parse_headers(args.header))
    headers[LEGACY_HEADER if args.legacy else CURRENT_HEADER] = sign(body, _secret(args))
    status, text = asyncio.run(_post(args.url, body, headers))
    print(f"HTTP {status}")
    if text:
        print(text)
    return 0 if 200 <= status < 300 else 1


def _parse_headers(values: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for value in values:
        name, sep, content = value.partition(":")
        if not sep or not name.strip():
            raise CliError(f"--header {value!r} must look like Name:value", code=2)
        # The actions' check: a CR/LF raised aiohttp's ValueError (a traceback), and a name
        # that is no HTTP token was sent for the server to drop.
        problem = header_problem(name.strip(), content.strip())
        if problem is not None:
            raise CliError(f"--header {value!r}: {problem}", code=2)
        headers[name.strip()] = content.strip()
    return headers


def _check_url(url: str) -> None:
    """Only http(s) URLs with a host: aiohttp said `could not reach ftp://x/: ftp://x/`."""
    try:
        parts = urlsplit(url)
    except ValueError:
        parts = urlsplit("")
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise CliError(
            f"not a valid URL: {url} (expected http:// or https://, a host and the webhook's "
            "path, e.g. http://localhost:8080/webhooks/kontent)",
            code=2,
        )


async def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    timeout = aiohttp.ClientTimeout(total=SEND_TIMEOUT_S)
    try:
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(url, data=body, headers=headers) as response,
        ):
            # At most READ_LIMIT_BYTES, as every answer the bridge reads: a 600 MB answer was
            # read and printed whole (1.3 GB of memory). A bridge answers in a few dozen bytes.
            answer = await read_prefix(response)
            return response.status, _shown_answer(answer)
    except aiohttp.InvalidURL:  # what _check_url lets through: a port past 65535
        raise CliError(f"not a valid URL: {url}", code=2) from None
    except (aiohttp.ClientError, TimeoutError, OSError) as exc:
        reason = str(exc) or type(exc).__name__
        raise CliError(f"could not reach {url}: {reason}") from None


def _shown_answer(answer: Body) -> str:
    if answer.broken:
        note = f"the answer broke off after {answer.read_bytes} bytes: {answer.broken}"
        return f"{answer.text}\n({note})"
    if answer.complete:
        return answer.text
    return (
        f"{answer.text}\n(the answer is longer: only its first {answer.read_bytes} bytes were read)"
    )
