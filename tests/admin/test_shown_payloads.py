"""Payloads a sender had accepted, as the dashboard's dialogs and the admin API show them: under
the one redaction policy and cut like every other printed value.

A real bridge (uvicorn, SQLite, the webhook route) receives them; the dashboard's `tojson`
printed them whole and unredacted, since its Markup skips the templates' `finalize`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bridge import redaction
from bridge.admin import present
from bridge.admin.auth import COOKIE_NAME, Guard
from tests.admin.harness import WEBHOOK_PATH, running_bridge, signed

pytestmark = pytest.mark.timeout(60)

TOKEN = "admin-token-for-shown-payloads"
SEED = Path(__file__).parents[1] / "payloads/current/content_item_published_published.json"
URL_PASSWORD = "hunter2hunter2"
NAMED_SECRET = "a-value-under-a-credential-key"


def _notification(item_id: str, **system: Any) -> bytes:
    body = json.loads(SEED.read_text())
    body["notifications"][0]["data"]["system"].update(id=item_id, **system)
    return json.dumps(body).encode()


LEAKY = _notification(
    "leaky",
    name=f"by {TOKEN} at https://bob:{URL_PASSWORD}@example.com/?api_key=k3yk3yk3y",
    token=NAMED_SECRET,
    keyed={f"key-{TOKEN}": 1},  # a secret as a key: shown as it was stored
)
# 4 MB of 4,000-character strings (each under the cut of one value) and a 1 MB name: longer than
# a page of notifications holds (views.PAGE_RAW_CHARS). MEDIUM fits a page, not a dialog.
WIDE = _notification("wide", parts=["w" * 4_000] * 1_000)
LONG = _notification("long", name="n" * 1_000_000)
MEDIUM = _notification("medium", parts=["m" * 4_000] * 12, name="m" * 5_000)


async def test_payload_dialogs_and_the_api_hide_secrets_and_pages_stay_small(
    tmp_path: Path,
) -> None:
    async with (
        running_bridge(tmp_path, admin_token=TOKEN) as bridge,
        httpx.AsyncClient(base_url=bridge.url, timeout=30) as client,
    ):
        for body in (LEAKY, WIDE, LONG, MEDIUM):
            answer = await client.post(WEBHOOK_PATH, content=body, headers=signed(body))
            assert answer.status_code == 200, answer.text
        page = await client.get(
            "/admin/notifications", cookies={COOKIE_NAME: Guard(TOKEN).new_session()}
        )
        auth = {"Authorization": f"Bearer {TOKEN}"}
        api = await client.get("/admin/api/notifications", headers=auth)
        long_key = next(n["key"] for n in api.json()["items"] if n["raw_chars"] > 1_000_000)
        one = await client.get(f"/admin/api/notifications/{long_key}", headers=auth)
    assert page.status_code == api.status_code == one.status_code == 200

    dialogs = re.findall(r'<pre class="response-body">(.*?)</pre>', page.text, re.S)
    assert len(dialogs) == 4
    for secret in (TOKEN, URL_PASSWORD, "k3yk3yk3y", NAMED_SECRET):
        assert secret not in page.text
        assert secret not in api.text
    assert '"token": "***"' in page.text
    items = api.json()["items"]
    leaky = next(n for n in items if n["raw"] and n["raw"]["data"]["system"]["id"] == "leaky")
    assert leaky["raw"]["data"]["system"]["token"] == "***"

    # The two payloads longer than a page holds are left out of it, in the dialogs and the
    # API's page alike, saying how long they are; the one that fits a page is cut in its
    # dialog at SHOWN_JSON_CHARS, saying the API has the rest. The page was 5 MB.
    assert len(page.text) < 2 * present.SHOWN_JSON_CHARS + 50_000
    assert all(len(d) < present.SHOWN_JSON_CHARS + 200 for d in dialogs)
    assert sum("(left out of this page)" in d for d in dialogs) == 2
    assert sum("the admin API has the whole value]" in d for d in dialogs) == 1
    assert "n" * (present.SHOWN_CHARS + 1) not in page.text
    assert sorted(n["raw_chars"] > 64_000 for n in items if n["raw"] is None) == [True, True]
    # ...and the API's one notification keeps the values whole.
    assert one.json()["raw"]["data"]["system"]["name"] == "n" * 1_000_000


def test_a_cut_dialog_is_still_html_safe() -> None:
    shown = present.shown_json({"a": "</pre><script>x</script>&'" * 2_000}, indent=2)
    assert "<" not in shown and ">" not in shown and "&" not in shown.replace("&amp;", "")


SECRET_VALUE = "configured-secret-value-0042"
# Text that may hold the secret, markup, bidi controls, lone surrogates and long runs.
_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from([SECRET_VALUE, f"x{SECRET_VALUE}y", "</pre><b>&'\"", "\u202e", "\ud800"]),
    st.integers(min_value=1, max_value=12_000).map(lambda n: "w" * n),
)
_payloads = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | _texts,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(_texts | st.sampled_from(["token", "api_key"]), children, max_size=5)
    ),
    max_leaves=30,
)


@given(value=_payloads)
@settings(max_examples=200, deadline=None, derandomize=True, database=None)
def test_any_stored_value_is_shown_safe_bounded_and_redacted(value: Any) -> None:
    redaction.redactor.set_secrets([SECRET_VALUE])
    try:
        shown = str(present.shown_json(value, indent=2))
    finally:
        redaction.redactor.set_secrets([])
    assert SECRET_VALUE not in shown
    assert not set("<>&") & set(shown)  # HTML-safe wherever it was cut
    assert len(shown) <= present.SHOWN_JSON_CHARS + 100
    shown.encode("utf-8")  # no lone surrogate left
