"""Admin authentication: the bearer token for the API, a signed session cookie for the dashboard.

The cookie never holds the token: it holds an expiry and an HMAC of it under a key derived from
the token, so every replica accepts it without shared state and changing the token signs
everybody out. Dashboard POSTs carry a CSRF token derived from the session and must come from
the same origin; the cookie is also SameSite=Strict and HttpOnly.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request

COOKIE_NAME = "bridge_admin"
SESSION_TTL_S = 12 * 3600
CSRF_FIELD = "csrf"


@dataclass(frozen=True, slots=True)
class Guard:
    """Checks credentials against the configured admin token."""

    token: str

    @property
    def _key(self) -> bytes:
        return hmac.new(
            self.token.encode(), b"kontent-bridge admin session", hashlib.sha256
        ).digest()

    def _sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str) -> bool:
        return hmac.compare_digest(candidate.encode(), self.token.encode())

    def bearer_ok(self, request: Request) -> bool:
        scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and self.token_matches(credentials.strip())

    def new_session(self, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + SESSION_TTL_S)
        return f"{expires}.{self._sign(f'session:{expires}')}"

    def session_ok(self, value: str | None, now: float | None = None) -> bool:
        if not value:
            return False
        expires, _, signature = value.partition(".")
        if not expires.isdigit() or int(expires) < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(signature, self._sign(f"session:{expires}"))

    def session_of(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE_NAME)
        return value if self.session_ok(value) else None

    def csrf_for(self, session: str) -> str:
        return self._sign(f"csrf:{session}")[:32]

    def csrf_ok(self, session: str, candidate: str) -> bool:
        return hmac.compare_digest(candidate, self.csrf_for(session))


def same_origin(request: Request) -> bool:
    """A browser POST must name this host as its Origin (or Referer when Origin is absent)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True  # not a browser that sends either: the CSRF token still applies
    return urlsplit(source).netloc == request.headers.get("host", "")
