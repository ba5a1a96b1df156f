"""`bridge replay --dry-run` over notifications a sender had accepted: each job's line is
redacted, escaped and cut as `bridge deliveries` prints the same event. A real SQLite file, the
receiver's own parser, `bridge`'s own command line. And `bridge explain` on such a payload:
redacted like every other output."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bridge.cli import main
from bridge.cli.delivery_table import EXCERPT_CHARS
from bridge.delivery.clock import SystemClock
from bridge.delivery.opening import open_store
from bridge.payloads import parse_body

pytestmark = pytest.mark.timeout(60)

SEED = Path(__file__).parents[1] / "payloads/current/content_item_published_published.json"
SECRET = "webhook-secret-for-replay"
RULES = f"""\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["{SECRET}"]
actions:
  audit: {{type: log}}
rules:
  - name: everything
    when: {{object_type: content_item}}
    do: [audit]
"""
NAMES = {
    "leaky": f"by {SECRET} at https://bob:hunter2hunter2@example.com/?api_key=k3yk3yk3y",
    "long": "n" * 1_000_000,
    "odd": "\x1b]0;retitled\x07\u202eevil",
}


def _body(item_id: str, name: str) -> bytes:
    body = json.loads(SEED.read_text())
    body["notifications"][0]["data"]["system"].update(id=item_id, name=name)
    return json.dumps(body).encode()


def test_a_dry_run_prints_each_event_as_bridge_deliveries_does(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = f"sqlite:///{tmp_path}/bridge.db"

    async def seed() -> None:
        async with open_store(db, SystemClock()) as store:
            for item_id, name in NAMES.items():
                await store.accept(
                    parse_body(_body(item_id, name), "production"), [], request_id=item_id
                )

    asyncio.run(seed())
    (tmp_path / "rules.yaml").write_text(RULES)
    code = main(
        [
            "replay",
            "--db",
            db,
            "--config",
            str(tmp_path / "rules.yaml"),
            "--since",
            "1h",
            "--dry-run",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("3 notification(s) in the last 1h: would create 3 job(s)")
    for secret in (SECRET, "hunter2hunter2", "k3yk3yk3y", "\x1b", "\u202e"):
        assert secret not in out  # each was printed as stored
    assert "https://***@example.com/?api_key=***" in out
    # The 1 MB name was a 1 MB line; the event is cut where bridge deliveries cuts it.
    assert max(len(line) for line in lines) < EXCERPT_CHARS + 200
    assert any("nnn…" in line for line in lines)


@pytest.mark.parametrize("as_json", [False, True])
def test_explain_redacts_the_payloads_own_values(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], as_json: bool
) -> None:
    # The event's name was printed as it was (its summary, and in --json its fields).
    (tmp_path / "rules.yaml").write_text(RULES)
    payload = tmp_path / "payload.json"
    payload.write_bytes(_body("leaky", NAMES["leaky"]))
    argv = ["explain", str(tmp_path / "rules.yaml"), str(payload)]
    code = main(argv + (["--json"] if as_json else []))
    out = capsys.readouterr().out
    assert code == 0
    for secret in (SECRET, "hunter2hunter2", "k3yk3yk3y"):
        assert secret not in out
    assert "https://***@example.com/?api_key=***" in out
    if as_json:
        assert json.loads(out)["jobs"] == 1
