"""Polled sources' state in the store (bridge/sources): per source its position (a Sync API
continuation token and the scope it belongs to) and the lease that lets one replica poll it
(migration 0003, `source_state`). `Store` (store.py) has these as methods.
"""

from __future__ import annotations

from bridge.delivery.clock import Clock
from bridge.delivery.connectors import Connector
from bridge.delivery.model import SourceLease, SourceState


class SourceLeases:
    """Source positions and leases over `connector` (mixed into Store, which sets both)."""

    connector: Connector
    clock: Clock

    async def claim_source(self, name: str, *, owner: str, lease_s: float) -> SourceState | None:
        """Take or renew the lease on source `name` for `lease_s`; its saved state, or None
        while another owner's lease runs (that replica polls, this one waits)."""
        now = self.clock.now()
        values = {"source": name, "owner": owner, "expires_at": now + lease_s, "now": now}
        row = await self.connector.write(lambda tx: tx.fetch_one("claim_source", **values))
        return None if row is None else SourceState(scope=row["scope"], token=row["token"])

    async def save_source(
        self, name: str, *, owner: str, scope: str, token: str | None, lease_s: float
    ) -> bool:
        """Save the position and renew the lease; False if `owner` no longer holds it."""
        now = self.clock.now()
        values: dict[str, object] = {"source": name, "owner": owner, "scope": scope}
        values |= {"token": token, "expires_at": now + lease_s, "now": now}
        count = await self.connector.write(lambda tx: tx.execute("save_source", **values))
        return count > 0

    async def release_source(self, name: str, *, owner: str) -> None:
        """Give the lease up (a clean stop), so another replica takes over at once."""
        values = {"source": name, "owner": owner}
        await self.connector.write(lambda tx: tx.execute("release_source", **values))

    async def source_leases(self) -> dict[str, SourceLease]:
        """The sources whose lease some replica holds now, by name."""
        now = self.clock.now()
        found = await self.connector.read(lambda tx: tx.fetch("source_leases", now=now))
        return {
            row["name"]: SourceLease(row["owner"], float(row["lease_expires_at"])) for row in found
        }
