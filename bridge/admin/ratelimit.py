"""A limit on failed admin sign-ins and wrong bearer tokens, per client address and in total.

Without it the token could be guessed at the speed of the server (about 1,860 tries a second
on one core). Each client address has a leaky bucket that holds `per_client` failures and
drains `per_client` per `window_s`, so after a burst of 10 failures one more try is allowed
every 6 s (10 a minute); one more bucket counts the failures of all addresses together, so many
addresses cannot multiply that rate without bound. While a bucket is full, every try from that
client (or, for the total, from anyone) is refused with 429 before the token is compared, even
the right one: otherwise the 429s would still tell a guesser which guesses were wrong.

Kept in memory per process: every replica limits on its own. Tracked addresses are bounded;
when there are too many, the longest-drained ones are forgotten first.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PER_CLIENT = 10
TOTAL = 100
WINDOW_S = 60.0
MAX_CLIENTS = 10_000


@dataclass
class _Bucket:
    level: float = 0.0
    at: float = 0.0

    def drained(self, now: float, rate: float) -> float:
        return max(0.0, self.level - (now - self.at) * rate)


@dataclass
class FailureLimiter:
    per_client: int = PER_CLIENT
    total: int = TOTAL
    window_s: float = WINDOW_S
    max_clients: int = MAX_CLIENTS
    clock: Callable[[], float] = time.monotonic
    _clients: dict[str, _Bucket] = field(default_factory=dict, init=False, repr=False)
    _all: _Bucket = field(default_factory=_Bucket, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.per_client < 1 or self.total < 1 or self.window_s <= 0 or self.max_clients < 1:
            raise ValueError("limits and window must be positive")

    def retry_after_s(self, client: str) -> int | None:
        """Whole seconds until `client` may try again; None when it may try now."""
        now = self.clock()
        waits = [self._wait(self._all, self.total, now)]
        bucket = self._clients.get(client)
        if bucket is not None:
            waits.append(self._wait(bucket, self.per_client, now))
        longest = max(waits)
        return math.ceil(longest) if longest > 0 else None

    def failed(self, client: str) -> bool:
        """Count one wrong token from `client`; True when that filled its (or the total)
        bucket, so the caller can log the start of a limit once instead of every 429."""
        now = self.clock()
        self._add(self._all, self.total, now)
        bucket = self._clients.pop(client, None)  # re-inserted: the dict stays oldest-first
        if bucket is None:
            self._make_room(now)
            bucket = _Bucket()
        self._add(bucket, self.per_client, now)
        self._clients[client] = bucket
        return self.retry_after_s(client) is not None

    def succeeded(self, client: str) -> None:
        """The right token from `client`: its failures are forgotten (the total keeps them)."""
        self._clients.pop(client, None)

    def _wait(self, bucket: _Bucket, capacity: int, now: float) -> float:
        rate = capacity / self.window_s
        return (bucket.drained(now, rate) - (capacity - 1)) / rate

    def _add(self, bucket: _Bucket, capacity: int, now: float) -> None:
        bucket.level = bucket.drained(now, capacity / self.window_s) + 1.0
        bucket.at = now

    def _make_room(self, now: float) -> None:
        if len(self._clients) < self.max_clients:
            return
        rate = self.per_client / self.window_s
        for name in [n for n, b in self._clients.items() if b.drained(now, rate) == 0.0]:
            del self._clients[name]
        while len(self._clients) >= self.max_clients:
            del self._clients[next(iter(self._clients))]
