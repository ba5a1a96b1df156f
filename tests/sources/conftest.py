"""Source fixtures: the store fixtures of tests/stores (SQLite and PostgreSQL alike)."""

from __future__ import annotations

from tests.stores.conftest import (  # noqa: F401  (fixtures, found by name)
    clock,
    fresh_postgres,
    make_store,
    postgres_template,
    store,
    store_kind,
    store_url,
)
