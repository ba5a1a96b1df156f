"""Which origin a dashboard POST may come from, also behind a reverse proxy.

A browser names the page a form was on in `Origin` (or `Referer`); the dashboard accepts a POST
only from itself. Without a proxy, "itself" is the `Host` the request was sent to. A proxy that
does not keep `Host` (nginx's default `proxy_pass` sends its upstream's address) makes every
browser POST look foreign, so the sign-in never succeeds. BRIDGE_PUBLIC_URL names the address
people open (`https://bridge.example.com`); POSTs from it are accepted as well, and the session
cookie is marked Secure when that address is https even though the proxy speaks plain HTTP to
the bridge.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from starlette.requests import Request


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    public_url: str | None = None

    @property
    def public_netloc(self) -> str | None:
        return urlsplit(self.public_url).netloc.lower() if self.public_url else None

    def source_of(self, request: Request) -> str | None:
        """The origin a browser says the form was on (None: a client that sends neither)."""
        source = request.headers.get("origin") or request.headers.get("referer")
        if not source:
            return None
        parts = _split(source)
        return f"{parts.scheme}://{parts.netloc}" if parts.netloc else source

    def allows(self, request: Request) -> bool:
        """Same origin: the request's own `Host`, or the configured public address."""
        source = self.source_of(request)
        if source is None:
            return True  # not a browser that sends either: the CSRF token still applies
        netloc = _split(source).netloc.lower()
        if netloc and netloc == request.headers.get("host", "").lower():
            return True
        return netloc != "" and netloc == self.public_netloc

    def refusal(self, request: Request) -> str:
        """Why a POST was refused, in words that lead an operator behind a proxy to the fix."""
        source = self.source_of(request) or "another page"
        host = request.headers.get("host", "") or "(no Host header)"
        if self.public_url is None:
            return (
                f"This form was sent from {source}, but this bridge was reached as {host}. "
                "Behind a reverse proxy that does not keep the Host header, set "
                f"BRIDGE_PUBLIC_URL={source} (docs/operations.md, “Behind a reverse proxy”)."
            )
        return (
            f"This form was sent from {source}, which is neither {self.public_url} "
            f"(BRIDGE_PUBLIC_URL) nor {host}. Open the dashboard at {self.public_url}."
        )

    def secure_cookie(self, request: Request) -> bool:
        """Secure when the browser's address is https (the proxy may speak HTTP to us)."""
        if self.public_url is not None and self.public_url.lower().startswith("https://"):
            return True
        return request.url.scheme == "https"


_NO_ADDRESS = urlsplit("")


def _split(source: str) -> SplitResult:
    """`Origin` or `Referer` split into its parts; one urlsplit refuses (an unclosed IPv6
    bracket such as `http://[`) has no address, so it is another origin: a 403, not a 500."""
    try:
        return urlsplit(source)
    except ValueError:
        return _NO_ADDRESS
