"""Admin authentication: the bearer token for the API, a signed session cookie for the dashboard.

The cookie never holds the token: it holds an expiry and an HMAC of it under a key derived from
the token, so every replica accepts it without shared state and changing the token signs
everybody out. Dashboard POSTs carry a CSRF token derived from the session and must come from
the same origin; the cookie is also SameSite=Strict and HttpOnly.

Everything a client sends is compared as bytes, in constant time, and a value that cannot be a
credential (non-ASCII, a thousand-digit expiry) is simply not one: no exception reaches the
client. How often a wrong token may be tried is ratelimit.py's business.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from starlette.requests import Request

from bridge.admin.params import whole_number

COOKIE_NAME = "bridge_admin"
SESSION_TTL_S = 12 * 3600
CSRF_FIELD = "csrf"
MAX_EXPIRY = 10**12  # a session expiry is epoch seconds: 10 digits until the year 2286


def utf8(value: str) -> bytes:
    """The bytes a str stands for: UTF-8, with undecodable bytes of an environment variable
    (surrogateescape) given back as they were; never raises, so any value can be compared."""
    try:
        return value.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def bearer_credentials(request: Request) -> bytes | None:
    """The bytes after `Bearer ` in the Authorization header exactly as the client sent them
    (Starlette decodes header values as latin-1; a UTF-8 token must be compared as UTF-8)."""
    for name, value in request.scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, credentials = bytes(value).partition(b" ")
            if scheme.lower() != b"bearer":
                return None
            return credentials.strip(b" \t") or None
    return None


@dataclass(frozen=True, slots=True)
class Guard:
    """Checks credentials against the configured admin token."""

    token: str

    @property
    def _key(self) -> bytes:
        return hmac.new(utf8(self.token), b"kontent-bridge admin session", hashlib.sha256).digest()

    def _sign(self, message: str) -> str:
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def token_matches(self, candidate: str | bytes) -> bool:
        """Constant time, over bytes: `hmac.compare_digest` refuses non-ASCII str."""
        given = candidate if isinstance(candidate, bytes) else utf8(candidate)
        return hmac.compare_digest(given, utf8(self.token))

    def new_session(self, now: float | None = None) -> str:
        expires = int((time.time() if now is None else now) + SESSION_TTL_S)
        return f"{expires}.{self._sign(f'session:{expires}')}"

    def session_ok(self, value: str | None, now: float | None = None) -> bool:
        """A cookie is a session when its expiry is a plain number in the future and signed;
        anything a client can forge (non-ASCII, a thousand-digit expiry) is just not one."""
        if not value:
            return False
        expires, _, signature = value.partition(".")
        until = whole_number(expires, maximum=MAX_EXPIRY)
        if until is None or until < (time.time() if now is None else now):
            return False
        return hmac.compare_digest(utf8(signature), self._sign(f"session:{expires}").encode())

    def session_of(self, request: Request) -> str | None:
        value = request.cookies.get(COOKIE_NAME)
        return value if self.session_ok(value) else None

    def csrf_for(self, session: str) -> str:
        return self._sign(f"csrf:{session}")[:32]

    def csrf_ok(self, session: str, candidate: str) -> bool:
        return hmac.compare_digest(utf8(candidate), self.csrf_for(session).encode())
