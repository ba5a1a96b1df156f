"""schemathesis over /admin/api/openapi.json, in process, against the admin over a real SQLite
store seeded with hostile rows (tests/admin/hostile.py): no request gets a 5xx, with the token,
without it, or with a wrong one; with the token, every 200 matches the documented schema.

Seeded and bounded: hypothesis derandomized, a fixed number of examples per operation.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance
from starlette.applications import Starlette

from bridge.admin.openapi import OPENAPI
from bridge.delivery.store import Store
from tests.admin.hostile import TOKEN, hostile_app, seeded_store

EXAMPLES = 20
AUTH = {"Authorization": f"Bearer {TOKEN}"}


class _Held:
    """The store the app's lifespan opened (schemathesis runs the app in its own loop)."""

    store: Store | None = None


@asynccontextmanager
async def _lifespan(app: Starlette) -> AsyncIterator[None]:
    directory = Path(tempfile.mkdtemp(prefix="bridge-admin-fuzz-"))
    try:
        async with seeded_store(directory) as (store, _ids):
            _Held.store = store
            try:
                yield
            finally:
                _Held.store = None
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _app() -> Starlette:
    admin = hostile_app(lambda: _Held.store)
    return Starlette(routes=admin.routes, lifespan=_lifespan)


APP = _app()
schema = schemathesis.openapi.from_asgi("/admin/api/openapi.json", APP, headers=AUTH)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    deterministic=True,
)

FUZZ = settings(
    max_examples=EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.mark.timeout(120)
@schema.parametrize()
@FUZZ
def test_with_the_token_nothing_is_a_server_error(case: Any) -> None:
    response = case.call(headers=AUTH)
    case.validate_response(response, checks=[not_a_server_error])
    assert response.status_code != 503  # the lifespan opened and seeded the store
    if response.status_code == 200:
        case.validate_response(response, checks=[response_schema_conformance])


@pytest.mark.timeout(120)
@schema.parametrize()
@FUZZ
def test_without_the_token_nothing_is_a_server_error(case: Any) -> None:
    anonymous = case.call(headers={"Authorization": ""})
    case.validate_response(anonymous, checks=[not_a_server_error])
    # 405: a wrong method; 404: a path no route matches (a name holding a line break, which the
    # schema's pattern refuses and the router never routes), before any token is looked at
    unroutable = any(
        isinstance(v, str) and any(ord(c) < 32 for c in unquote(v))
        for v in (case.path_parameters or {}).values()
    )
    allowed = (401, 404, 405) if unroutable else (401, 405)
    assert anonymous.status_code in allowed, anonymous.status_code
    wrong = case.call(headers={"Authorization": "Bearer not-the-token-é"})
    case.validate_response(wrong, checks=[not_a_server_error])
    assert wrong.status_code in (401, 405, 429), wrong.status_code


def test_every_documented_call_is_fuzzed() -> None:
    operations = {result.ok().label for result in schema.get_all_operations()}  # type: ignore[union-attr]
    documented = {f"{m.upper()} {p}" for p, ops in OPENAPI["paths"].items() for m in ops}
    assert operations == documented - {"GET /openapi.json"}  # schemathesis skips the schema
    assert len(operations) == 16
