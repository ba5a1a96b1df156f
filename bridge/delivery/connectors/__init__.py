"""What the one store needs from a database: named queries, transactions, listen/notify.

A connector knows its driver and nothing about jobs (procrastinate's connector is the model):
it runs the named queries of `sql/<dialect>/queries.sql` with keyword parameters, inside a
transaction (`write`) or on a connection that sees committed data (`read`), applies the
dialect's migrations, wakes other processes (`notify` in a transaction or `wake_others` after
one, `listen` for theirs),
and translates every driver error into `StoreUnavailable`. A third database is one module
here plus one SQL folder.

Parameters: a list value is an array (PostgreSQL: `:ids::bigint[]`; SQLite: a JSON array the
query reads with `json_each(:ids)`). Rows are read by column name (`row["id"]`). A SQLite named
query may hold several statements; its result is the last one's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
Row = Any  # sqlite3.Row or asyncpg.Record: both read by column name


class Tx(Protocol):
    """Named queries on one connection, inside a transaction when given by `write`."""

    async def execute(self, name: str, **params: Any) -> int:
        """Run a query for its effect; the number of rows it changed."""
        ...

    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> None: ...

    async def fetch(self, name: str, **params: Any) -> list[Row]: ...

    async def fetch_one(self, name: str, **params: Any) -> Row | None: ...

    async def fetch_value(self, name: str, **params: Any) -> Any: ...

    async def notify(self) -> None:
        """Wake the other processes' listeners once this transaction commits (jobs are due)."""
        ...


class Connector(Protocol):
    dialect: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def migrate(self, now: float) -> list[str]:
        """Apply pending migrations of `sql/<dialect>/migrations`; the names of those applied."""
        ...

    async def write(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        """Run `op` in one transaction; returns after COMMIT (SQLite: a group commit)."""
        ...

    async def read(self, op: Callable[[Tx], Awaitable[T]]) -> T:
        """Run a read-only `op`; each query sees committed data."""
        ...

    async def statement(self, name: str, **params: Any) -> Row | None:
        """One query as a transaction of its own, in as few round trips as the driver allows;
        its first row."""
        ...

    def has_query(self, name: str) -> bool:
        """Whether this dialect has the named query (a dialect's one-statement fast path)."""
        ...

    def listen(self, callback: Callable[[], None]) -> None:
        """Call `callback` (in the event loop) when another process notified (jobs are due)."""
        ...

    def wake_others(self) -> None:
        """After a commit that made jobs due: wake the other processes' listeners soon, in a
        notification of its own (wake-ups that come while one is on its way share the next)."""
        ...


def rowcount(value: int | str) -> int:
    """A driver's count of changed rows, also from a command tag (`UPDATE 3`)."""
    if isinstance(value, int):
        return value
    tail = value.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


__all__ = ["Connector", "Row", "Tx", "rowcount"]
