"""`bridge deliveries` at 80 columns: every job readable, the cause on its own line, parked jobs
shown as parked; `--json` gives times as the admin API does. Run as the installed command would
be, in a subprocess with COLUMNS=80, against a real SQLite file."""

from __future__ import annotations

import asyncio
import fcntl
import json
import os
import pty
import re
import sqlite3
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bridge.admin import present
from bridge.delivery.clock import ManualClock
from bridge.delivery.model import ClaimPolicy, Outcome
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store
from tests.stores.values import notification, planned

pytestmark = pytest.mark.timeout(60)

# Jobs 1-4 are recorded at T, job 5 (never attempted) was created long before it.
T = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()
OLD = datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC).timestamp()
RETRY_AT = T + 125
SLACK_BODY = '{"ok": false, "error": "channel_not_found", "warning": "missing_charset"} ' * 3

EXPECTED_80 = """\
JOB  STATE      TRIES  LAST (UTC)      NEXT (UTC)      ACTION
  5  pending        0  -               now             publishing-log
     no response yet
     rule announce-articles: content_item published article 'Item 5'
  4  parked         0  -               when enabled    search-reindex-for-the-p…
     no response yet
     rule reindex: content_item published article 'Item 4'
  3  dead           1  01-02 03:04:05  -               content-team
     404 channel_not_found
     rule announce-articles: content_item published article 'Item 3'
  2  retrying       1  01-02 03:04:05  01-02 03:06:10  content-team
     200 {"ok": false, "error": "channel_not_found", "warning": "missing_charse…
     rule announce-articles: content_item published article 'Item 2'
  1  succeeded      1  01-02 03:04:05  -               publishing-log
     200 ok
     rule announce-articles: content_item published article 'Item 1'
"""

LONG_ACTION = "search-reindex-for-the-production-site"


def _run(store_url: str, work: object, clock: ManualClock) -> None:
    async def go() -> None:
        store = open_store(store_url, clock)
        async with store:
            await work(store)  # type: ignore[operator]

    asyncio.run(go())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "bridge.db"
    url = f"sqlite:///{path}"

    async def recorded(store: Store) -> None:
        notes = [notification(n) for n in (1, 2, 3)]
        jobs = [planned(notes[0], "publishing-log", rule="announce-articles")]
        jobs += [planned(n, "content-team", rule="announce-articles") for n in notes[1:]]
        await store.accept(notes, jobs, request_id="req-1")
        policy = ClaimPolicy(ordering="none", concurrency=5)
        (one,) = (await store.claim("publishing-log", policy, worker_id="w")).batches
        two, three = (await store.claim("content-team", policy, worker_id="w")).batches
        await store.record(one, Outcome("succeeded", T, T, status=200, response="ok"))
        # Slack's failures come back as HTTP 200 with ok: false; the body is the cause.
        await store.record(
            two, Outcome("retrying", T, T, status=200, response=SLACK_BODY, due_at=RETRY_AT)
        )
        await store.record(three, Outcome("dead", T, T, status=404, error="channel_not_found"))
        parked = notification(4)
        await store.accept([parked], [planned(parked, LONG_ACTION, rule="reindex")], request_id="r")
        await store.set_enabled(LONG_ACTION, False)

    async def waiting(store: Store) -> None:
        note = notification(5)
        job = planned(note, "publishing-log", rule="announce-articles")
        await store.accept([note], [job], request_id="req-2")

    _run(url, recorded, ManualClock(T))
    _run(url, waiting, ManualClock(OLD))
    return path


def _bridge(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from bridge.cli import main; sys.exit(main())", *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_deliveries_at_80_columns_is_exact(db: Path, tmp_path: Path) -> None:
    result = _bridge("deliveries", env={"BRIDGE_DB": f"sqlite:///{db}", "COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXPECTED_80
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_piped_without_columns_lines_are_not_cut(db: Path) -> None:
    result = _bridge("deliveries", env={"BRIDGE_DB": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[4].endswith(LONG_ACTION)
    # A response is cut at 200 characters even where nothing else cuts it.
    assert lines[11] == "     200 " + " ".join(SLACK_BODY.split())[:199] + "…"


def test_an_action_disabled_in_the_config_shows_its_jobs_as_parked(
    db: Path, tmp_path: Path
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "version: 1\n"
        "webhooks: [{name: production, path: /webhooks/kontent, secrets: [s3cret-value]}]\n"
        "actions:\n"
        "  publishing-log: {type: log, enabled: false}\n"
        "  content-team: {type: log}\n"
        f"  {LONG_ACTION}: {{type: log}}\n"
        "rules:\n"
        "  - {name: r, when: {object_type: content_item},\n"
        f"     do: [publishing-log, content-team, {LONG_ACTION}]}}\n"
    )
    env = {"BRIDGE_DB": f"sqlite:///{db}", "COLUMNS": "80", "BRIDGE_CONFIG": str(rules)}
    result = _bridge("deliveries", "--action", "publishing-log", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[:2] == [
        "JOB  STATE      TRIES  LAST (UTC)      NEXT (UTC)      ACTION",
        "  5  parked         0  -               when enabled    publishing-log",
    ]
    # A finished job of the same action is what it is.
    assert result.stdout.splitlines()[4].startswith("  1  succeeded")


def test_json_times_are_iso_8601_utc_as_in_the_admin_api(db: Path) -> None:
    result = _bridge("deliveries", "--json", env={"BRIDGE_DB": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    rows = {row["job_id"]: row for row in json.loads(result.stdout)}
    assert rows[2]["last_attempt_at"] == "2030-01-02T03:04:05Z"
    assert rows[2]["next_attempt_at"] == "2030-01-02T03:06:10Z"
    assert rows[5]["created_at"] == "2026-01-01T00:00:00Z"
    assert rows[1]["next_attempt_at"] is None

    async def api_form(store: Store) -> None:
        stored = await store.deliveries(limit=50)
        assert [present.plain(row) for row in stored] == json.loads(result.stdout)

    _run(f"sqlite:///{db}", api_form, ManualClock(T))


def test_on_an_80_column_terminal_the_layout_is_the_same(db: Path) -> None:
    """A real terminal (a pty of 80 columns, no COLUMNS): rich reads its size, adds colour."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "BRIDGE_DB": f"sqlite:///{db}"}
    env["TERM"] = "xterm-256color"
    command = "import sys; from bridge.cli import main; sys.exit(main())"
    process = subprocess.Popen(
        [sys.executable, "-c", command, "deliveries"],
        env=env,
        stdout=follower,
        stderr=subprocess.PIPE,
        text=True,
    )
    os.close(follower)
    chunks: list[bytes] = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the writer closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert process.wait(timeout=60) == 0
    shown = re.sub(r"\x1b\[[0-9;]*m", "", b"".join(chunks).decode()).replace("\r\n", "\n")
    assert shown == EXPECTED_80
    assert "\x1b[" in b"".join(chunks).decode()  # states in colour on a terminal


HOSTILE_ERROR = "boom \x1b[2J\x1b]0;owned\x07 \x9b31m \u202egnp.exe \x00 end"


def test_terminal_escapes_in_stored_text_are_shown_not_acted_on(db: Path) -> None:
    """A target's answer (or a row written by hand) holding ESC sequences, a C1 CSI, NUL or a
    bidi override is printed as escapes: the terminal is not cleared, retitled or reordered."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "UPDATE jobs SET last_error = ?, summary = ?, rule = ? WHERE id = 3",
            (HOSTILE_ERROR, "item \u202e\x1b[31m", "r\x1b[1m"),
        )
    result = _bridge("deliveries", env={"BRIDGE_DB": f"sqlite:///{db}", "COLUMNS": "200"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for raw in ("\x1b", "\x07", "\x9b", "\u202e", "\x00"):
        assert raw not in out, repr(raw)
    lines = out.splitlines()
    job = next(i for i, line in enumerate(lines) if line.startswith("  3  dead"))
    assert lines[job + 1] == (
        "     404 boom \\x1b[2J\\x1b]0;owned\\x07 \\x9b31m \\u202egnp.exe \\x00 end"
    )
    assert lines[job + 2] == "     rule r\\x1b[1m: item \\u202e\\x1b[31m"


def test_an_action_nobody_knows_is_named_as_a_likely_typo(db: Path) -> None:
    """An empty list for `--action content-tem` looked like a healthy action with no jobs."""
    env = {"BRIDGE_DB": f"sqlite:///{db}"}
    typo = _bridge("deliveries", "--action", "content-tem", env=env)
    assert (typo.returncode, typo.stdout) == (
        0,
        "no deliveries for action 'content-tem': no action has that name "
        "(did you mean 'content-team'?)\n",
    )
    known = _bridge("deliveries", "--action", "publishing-log", "--failures", env=env)
    assert (known.returncode, known.stdout) == (0, "no deliveries for action 'publishing-log'\n")


def test_the_jobs_of_one_request_as_bridge_replay_prints_its_id(db: Path) -> None:
    """`bridge replay` ends with `request id replay-...`; that id finds its jobs here."""
    env = {"BRIDGE_DB": f"sqlite:///{db}", "COLUMNS": "80"}
    one = _bridge("deliveries", "--request-id", "req-2", env=env)
    assert one.returncode == 0, one.stderr
    assert one.stdout == "\n".join(EXPECTED_80.splitlines()[:4]) + "\n"
    failing = _bridge("deliveries", "--request-id", "req-1", "--active-failures", "--json", env=env)
    assert [row["job_id"] for row in json.loads(failing.stdout)] == [3, 2]
    none = _bridge("deliveries", "--request-id", "replay-0", env=env)
    assert (none.returncode, none.stdout) == (0, "no deliveries for request 'replay-0'\n")
