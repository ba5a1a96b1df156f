"""What the sources' admin tests share: a running bridge polling the local Sync API, and
hostile failure text (what a proxy's error page or a broken API might answer: HTML that would
run, bidi controls that reorder a line, one unbroken run of 100 KB, control bytes, echoing
the source's own key)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bridge.sources import status
from tests.admin.harness import Bridge, running_bridge
from tests.fakes.sync import FakeSync

TOKEN = "sources-admin-token-0123456789"
ENV = "8d6f0e47-3a5b-4c1d-9e2f-0a1b2c3d4e5f"
SOURCE_KEY = "secure-access-key-3f9a7c21"  # what the source sends
RIGHT_KEY = "the-environment-wants-this-one"  # what the environment wants, once it is rotated
RUN_CHARS = 100_000
SCRIPT = "<script>alert('source')</script><img src=x onerror=\"alert('img')\">"
BIDI = "\u202etxt.exe\u202c \u2066isolated\u2069 \u200fmark"


def hostile_text(key: str = SOURCE_KEY) -> str:
    """HTML, bidi controls, control bytes, the key, then 100 KB without a space."""
    return f"{SCRIPT} {BIDI} \x00\x07\x1b[31m key={key} " + "W" * RUN_CHARS


def hostile_page(key: str = SOURCE_KEY) -> bytes:
    return f"<html><body><h1>502 Bad Gateway</h1>{hostile_text(key)}</body></html>".encode()


def sources_yaml(sync_url: str, *, name: str = "prod", key: str = SOURCE_KEY) -> str:
    return f"""\
sources:
  - name: {name}
    environment_id: "{ENV}"
    slot: published
    interval: 1s
    api_url: "{sync_url}"
    secure_access_key: "{key}"
"""


@asynccontextmanager
async def bridge_with_source(tmp_path: Path, sync_api: FakeSync) -> AsyncIterator[Bridge]:
    extra = sources_yaml(sync_api.base_url())
    async with running_bridge(tmp_path, admin_token=TOKEN, extra_config=extra) as bridge:
        yield bridge


def cut_secret_error() -> str:
    """100 KB of failure text whose key begins just before the kept message would end: a cut
    after redaction shows none of it."""
    head = hostile_text()
    filler = "x" * (status.MESSAGE_CHARS - len(head[:200]) - 12)
    return head[:200] + filler + SOURCE_KEY + " tail " + "Z" * RUN_CHARS
