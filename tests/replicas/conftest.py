"""The replica test borrows the PostgreSQL fixtures of the store suite (fresh database per test)."""

from __future__ import annotations

from tests.stores.conftest import fresh_postgres, postgres_template

__all__ = ["fresh_postgres", "postgres_template"]
