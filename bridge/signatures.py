"""HMAC verification of Kontent.ai webhook signatures (current and legacy headers)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping

CURRENT_HEADER = "x-kontent-ai-signature"
LEGACY_HEADER = "x-kc-signature"

_LINE_BREAKS = re.compile(rb"(\r\n|\r|\n)+")


def sign(body: bytes, secret: str) -> str:
    """base64(HMAC-SHA256(key=secret as UTF-8, message=body)), as Kontent.ai computes it."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signature_from(headers: Mapping[str, str]) -> str | None:
    """The signature a request carries, current header first; header names are case-insensitive."""
    lowered = {name.lower(): value for name, value in headers.items()}
    return lowered.get(CURRENT_HEADER) or lowered.get(LEGACY_HEADER)


def verify(body: bytes, signature: str | None, secrets: Iterable[str]) -> bool:
    """True when any secret signs the body, or the body with its line breaks made CRLF.

    Kontent.ai's own helper normalises line breaks to CRLF before hashing, and proxies rewrite
    line endings, so both forms are tried. Every comparison is constant-time and every secret is
    tried, so the time taken tells nothing about which one came close.
    """
    if not signature:
        return False
    given = signature.strip().encode("ascii", "replace")
    candidates = [body]
    crlf_body = _LINE_BREAKS.sub(b"\r\n", body)
    if crlf_body != body:
        candidates.append(crlf_body)
    verified = False
    for secret in secrets:
        for candidate in candidates:
            expected = sign(candidate, secret).encode("ascii")
            verified |= hmac.compare_digest(expected, given)
    return verified
