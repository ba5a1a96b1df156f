"""`bridge replay` targeted: chosen actions and rules, one notification, a time range, and a dry
run that lists exactly the jobs the real run creates. A real SQLite file, `bridge`'s own parser.
"""

from __future__ import annotations

import asyncio
import os
import pty
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bridge.cli import main
from bridge.delivery.clock import ManualClock, SystemClock
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store
from tests.stores.values import notification

T = TypeVar("T")
pytestmark = pytest.mark.timeout(30)

RULES = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["s3cret"]
actions:
  team-log: {type: log}
  audit-log: {type: log}
rules:
  - name: published
    when: {object_type: content_item, action: published}
    do: [team-log]
  - name: audit
    when: {object_type: content_item}
    do: [audit-log]
"""


def with_store(db: Path, work: Callable[[Store], Awaitable[T]], clock: object = None) -> T:
    async def run() -> T:
        async with open_store(f"sqlite:///{db}", clock or SystemClock()) as store:  # type: ignore[arg-type]
            return await work(store)

    return asyncio.run(run())


@pytest.fixture
def setup(tmp_path: Path) -> tuple[str, str]:
    """Notification key-1 stored 3 hours ago, key-2 and key-3 30 minutes ago; no jobs."""
    db = tmp_path / "bridge.db"
    now = time.time()

    async def seed_at(ago_s: float, numbers: tuple[int, ...]) -> None:
        async with open_store(f"sqlite:///{db}", ManualClock(now - ago_s)) as store:
            await store.accept([notification(n) for n in numbers], [], request_id="seed")

    async def seed() -> None:
        await seed_at(3 * 3600, (1,))
        await seed_at(1800, (2, 3))

    asyncio.run(seed())
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    return f"sqlite:///{db}", str(rules)


def replay(setup: tuple[str, str], *args: str) -> int:
    url, rules = setup
    return main(["replay", "--db", url, "--config", rules, *args])


def jobs(setup: tuple[str, str]) -> list[tuple[str, str, str]]:
    db = Path(setup[0].removeprefix("sqlite:///"))

    async def read(store: Store) -> list[tuple[str, str, str]]:
        rows = await store.deliveries(limit=500)
        found = []
        for row in rows:
            detail = await store.job(row.job_id)
            assert detail is not None
            found.append((row.action, row.rule, str(detail.notification_key)))
        return sorted(found)

    return with_store(db, read)


def test_a_dry_run_lists_exactly_what_the_real_run_creates(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(setup, "--since", "1h", "--action", "audit-log", "--dry-run") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == ("2 notification(s) in the last 1h: would create 2 job(s) (audit-log: 2)")
    assert out[1:] == [
        "  audit-log <- audit: content_item published article 'Item 2' [notification key-2]",
        "  audit-log <- audit: content_item published article 'Item 3' [notification key-3]",
    ]
    assert jobs(setup) == []  # nothing created

    assert replay(setup, "--since", "1h", "--action", "audit-log") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "2 notification(s) in the last 1h: created 2 job(s) (audit-log: 2)"
    assert out[1].startswith("request id replay-")
    assert jobs(setup) == [("audit-log", "audit", "key-2"), ("audit-log", "audit", "key-3")]


def test_one_notification_to_one_rule(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(setup, "--notification", "key-1", "--rule", "published") == 0
    out = capsys.readouterr().out
    assert out.startswith(
        "1 notification(s) of notification key-1: created 1 job(s) (team-log: 1)\n"
    )
    assert jobs(setup) == [("team-log", "published", "key-1")]


def test_a_time_range_and_every_matching_action_without_targets(
    setup: tuple[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert replay(setup, "--since", "4h", "--until", "2h", "--dry-run") == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first == (
        "1 notification(s) in the last 4h until 2h: would create 2 job(s) "
        "(audit-log: 1, team-log: 1)"
    )


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (
            ("--action", "audit-lgo", "--since", "1h"),
            1,
            "error: --action: the config has no action 'audit-lgo' (did you mean 'audit-log'?)",
        ),
        (("--rule", "nope", "--since", "1h"), 1, "error: --rule: the config has no rule 'nope'"),
        (("--notification", "key-404"), 1, "error: no stored notification 'key-404' in that range"),
        # A command line that cannot be used exits 2, as the README's exit codes say.
        ((), 2, "error: --since is required unless --notification names one notification"),
        (("--since", "1h", "--until", "2h"), 2, "error: --since must be before --until"),
        (
            ("--since", "yesterday"),
            2,
            "error: --since: expected a duration such as 2h or a UTC time such as "
            "2026-12-02T01:30, got 'yesterday'",
        ),
        (
            ("--since", "99999999999d"),
            2,
            "error: --since: a duration can be at most 3650d (ten years), got '99999999999d'",
        ),
    ],
)
def test_bad_targets_are_one_line_errors(
    setup: tuple[str, str],
    capsys: pytest.CaptureFixture[str],
    args: tuple[str, ...],
    code: int,
    message: str,
) -> None:
    assert replay(setup, *args) == code
    assert capsys.readouterr().err == message + "\n"
    assert jobs(setup) == []


def test_the_command_line_is_judged_before_the_rules_file_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`bridge replay` alone, where there is no rules.yaml: what is missing is --since."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("BRIDGE_CONFIG", raising=False)
    code = main(["replay", "--db", f"sqlite:///{tmp_path / 'none.db'}"])
    assert (code, capsys.readouterr().err) == (
        2,
        "error: --since is required unless --notification names one notification\n",
    )


def test_a_terminal_sees_a_progress_bar_and_a_pipe_only_the_result(
    setup: tuple[str, str], tmp_path: Path
) -> None:
    """Days of notifications take a while to replay: a terminal shows how far it is, on stderr,
    and the bar is gone when the result line prints; a pipe (scripts, CI) gets the result only."""
    url, rules = setup
    command = [sys.executable, "-m", "bridge", "replay", "--db", url, "--config", rules]
    command += ["--since", "4h", "--dry-run"]
    piped = subprocess.run(command, capture_output=True, text=True, timeout=30, check=True)
    assert piped.stdout.startswith("3 notification(s) in the last 4h: would create")
    assert piped.stderr == ""

    controller, terminal = pty.openpty()
    env = dict(os.environ, COLUMNS="100", TERM="xterm")
    with subprocess.Popen(
        command, stdin=terminal, stdout=terminal, stderr=terminal, env=env
    ) as proc:
        os.close(terminal)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            shown += chunk
        assert proc.wait(timeout=30) == 0
    os.close(controller)
    text = shown.decode(errors="replace")
    assert "replaying stored notifications" in text
    assert "3 notification(s) in the last 4h: would create" in text
