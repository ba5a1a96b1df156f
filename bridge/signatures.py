"""HMAC verification of Kontent.ai webhook signatures (current and legacy headers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping, Sequence

CURRENT_HEADER = "x-kontent-ai-signature"
LEGACY_HEADER = "x-kc-signature"

_LINE_BREAKS = re.compile(rb"(\r\n|\r|\n)+")


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(key=secret as UTF-8, message=body)), as Kontent.ai computes it."""
    return _signature(body, secret).decode("ascii")


def _signature(body: bytes, secret: str) -> bytes:
    # hmac.digest is the one-shot C path: no HMAC object per request.
    return base64.b64encode(hmac.digest(secret.encode("utf-8"), body, hashlib.sha256))


def signatures_from(headers: Mapping[str, str]) -> tuple[str, ...]:
    """Every non-empty signature header a request carries (current, then legacy); header
    names are case-insensitive.

    Kontent.ai's own verifiers disagree on which header wins when both are present: the
    webhook helper (webhook-helper-js) reads only X-Kontent-ai-Signature, the ASP.NET Core
    middleware (kontent-ai/dotnet) prefers X-KC-Signature. Verifying each lets a request that
    either of them accepts through, and nothing they both reject.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    return tuple(v for v in (lowered.get(CURRENT_HEADER), lowered.get(LEGACY_HEADER)) if v)


def verify(body: bytes, signature: str | Sequence[str] | None, secrets: Iterable[str]) -> bool:
    """True when any secret signs the body, or the body with its line breaks made CRLF.

    `signature` is one header's value or several (`signatures_from`); any of them may verify.
    Kontent.ai's own helper normalises line breaks to CRLF before hashing, and proxies rewrite
    line endings, so both forms are tried. Every comparison is constant-time and every secret is
    tried, so the time taken tells nothing about which one came close.
    """
    texts = [signature] if isinstance(signature, str) else list(signature or ())
    given_all = [text.strip().encode("ascii", "replace") for text in texts if text]
    if not given_all:
        return False
    candidates = [body]
    if b"\n" in body or b"\r" in body:  # the regex cannot change a body without line breaks
        crlf_body = _LINE_BREAKS.sub(b"\r\n", body)
        if crlf_body != body:
            candidates.append(crlf_body)
    verified = False
    for secret in secrets:
        for candidate in candidates:
            expected = _signature(candidate, secret)
            for given in given_all:
                verified |= hmac.compare_digest(expected, given)
    return verified
