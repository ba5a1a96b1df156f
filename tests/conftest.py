"""Fixtures every test area may use: the example payloads and a clean environment."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from bridge import redaction
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store

PAYLOADS = Path(__file__).parent / "payloads"


@pytest.fixture
def payload_bytes() -> Callable[[str], bytes]:
    """`payload_bytes("current/content_item_published_published.json")`: the file's exact bytes."""

    def load(name: str) -> bytes:
        return (PAYLOADS / name).read_bytes()

    return load


@pytest.fixture(autouse=True)
def _no_bridge_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's BRIDGE_* variables must not change what the tests see."""
    for name in list(os.environ):
        if name.startswith("BRIDGE_") and name != "BRIDGE_TEST_POSTGRES_DSN":
            monkeypatch.delenv(name)


@pytest.fixture(autouse=True)
def _fresh_redactor() -> Iterator[None]:
    """The process-wide redactor learns each started app's secrets; forget them after a test,
    so no test's output depends on which configs ran before it."""
    yield
    redaction.redactor.set_secrets(())


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[Store]:
    """A real, open SQLite store in the test's own directory."""
    store = open_store(f"sqlite:///{tmp_path}/bridge.db")
    await store.open()
    yield store
    await store.close()
