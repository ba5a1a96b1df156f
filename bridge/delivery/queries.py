"""SQL kept as SQL: queries, the schema and numbered migrations are files under `sql/<dialect>/`.

`queries.sql` holds blocks headed `-- name: <name>`, loaded into a dict (procrastinate style).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

NAME_HEADER = re.compile(r"^--\s*name:\s*(\w+)\s*$", re.MULTILINE)
MIGRATION_NAME = re.compile(r"^(\d{4})_(\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def _sql_dir(dialect: str) -> resources.abc.Traversable:
    return resources.files("bridge.delivery").joinpath("sql", dialect)


def parse_queries(text: str) -> dict[str, str]:
    """Split `-- name: x` blocks; a duplicate name is an error, not a silent override."""
    queries: dict[str, str] = {}
    parts = NAME_HEADER.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        if name in queries:
            raise ValueError(f"query {name!r} is defined twice")
        queries[name] = body.strip().rstrip(";")
    return queries


@cache
def queries(dialect: str) -> dict[str, str]:
    return parse_queries(_sql_dir(dialect).joinpath("queries.sql").read_text("utf-8"))


def schema(dialect: str) -> str:
    return _sql_dir(dialect).joinpath("schema.sql").read_text("utf-8")


def migrations(dialect: str) -> list[Migration]:
    """Every migration file in version order; the version is the 4-digit prefix."""
    found: list[Migration] = []
    for entry in _sql_dir(dialect).joinpath("migrations").iterdir():
        match = MIGRATION_NAME.match(entry.name)
        if match:
            version, name = match.groups()
            found.append(Migration(int(version), name, entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise ValueError(f"duplicate migration versions in sql/{dialect}/migrations")
    return found
