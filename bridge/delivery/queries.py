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
    """Split `-- name: x` blocks; a duplicate name is an error, not a silent override.

    A block may also declare variants of itself, `-- variant: y: <text> -> <replacement>`: query
    `y` is the block with the first `<text>` replaced, so two queries that differ in one
    condition (one a planner can serve from another index) are written once."""
    queries: dict[str, str] = {}
    parts = NAME_HEADER.split(text)
    for name, body in zip(parts[1::2], parts[2::2], strict=True):
        sql = body.strip().rstrip(";")
        for query, text in [(name, sql), *_variants(name, sql)]:
            if query in queries:
                raise ValueError(f"query {query!r} is defined twice")
            queries[query] = text
    return queries


VARIANT_HEADER = re.compile(r"^--\s*variant:\s*(\w+):\s*(.+?)\s+->\s+(.+?)\s*$", re.MULTILINE)


def _variants(name: str, sql: str) -> list[tuple[str, str]]:
    """The variants `sql` declares, each as (name, text); the headers are left out of both."""
    body = VARIANT_HEADER.sub("", sql)
    found = []
    for variant, old, new in VARIANT_HEADER.findall(sql):
        if old not in body:
            raise ValueError(f"query {name!r}: variant {variant!r} replaces {old!r}, not in it")
        found.append((variant, body.replace(old, new, 1)))
    return found


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
