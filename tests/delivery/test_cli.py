"""The delivery commands, run through `bridge`'s own parser against a real database file."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest

from bridge.cli import main
from bridge.delivery import queries
from bridge.delivery.clock import SystemClock
from bridge.delivery.model import ClaimPolicy, Outcome
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store
from tests.stores.values import notification, planned

T = TypeVar("T")

RULES = """\
version: 1
webhooks:
  - name: production
    path: /webhooks/kontent
    secrets: ["s3cret"]
actions:
  team-log: {type: log}
rules:
  - name: published
    when: {object_type: content_item, action: published}
    do: [team-log]
"""


def with_store(db: Path, work: Callable[[Store], Awaitable[T]]) -> T:
    async def run() -> T:
        store = open_store(f"sqlite:///{db}", SystemClock())
        assert isinstance(store, Store)
        async with store:
            return await work(store)

    return asyncio.run(run())


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database with three team-log jobs: 1 succeeded, 2 failing (retrying), 3 dead."""
    path = tmp_path / "bridge.db"

    async def seed(store: Store) -> None:
        notes = [notification(n) for n in (1, 2, 3)]
        await store.accept(
            notes, [planned(n, "team-log", rule="published") for n in notes], request_id="req"
        )
        claim = await store.claim(
            "team-log", ClaimPolicy(ordering="none", concurrency=3), worker_id="w"
        )
        one, two, three = claim.batches
        now = store.clock.now()
        await store.record(one, Outcome("succeeded", now, now, status=200, response="ok"))
        await store.record(
            two,
            Outcome(
                "retrying",
                now,
                now,
                status=503,
                response="x" * 5000,
                error="HTTP 503",
                due_at=now + 60,
            ),
        )
        await store.record(three, Outcome("dead", now, now, status=404, error="channel_not_found"))

    with_store(path, seed)
    return path


def test_deliveries_table_lists_newest_first(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["deliveries", "--db", f"sqlite:///{db}"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.strip()]
    # Three lines per job (tests/cli/test_deliveries_80_columns.py has the exact layout).
    assert lines[0].split()[:3] == ["JOB", "STATE", "TRIES"]
    assert [line.split()[0] for line in lines[1::3]] == ["3", "2", "1"]
    retrying = lines[4].split()
    assert retrying[1] == "retrying" and retrying[5:7] > retrying[3:5]  # next after the last
    assert "channel_not_found" in out and "[published]" not in out.replace("'Item", "")


def test_deliveries_json_filters_and_bounds_the_response(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deliveries", "--db", f"sqlite:///{db}", "--failures", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [row["job_id"] for row in rows] == [3, 2]
    assert rows[1]["last_status"] == 503
    assert len(rows[1]["last_response"].encode()) <= 2048 + len(" [...]")

    assert (
        main(
            [
                "deliveries",
                "--db",
                f"sqlite:///{db}",
                "--active-failures",
                "--json",
                "--action",
                "team-log",
                "--limit",
                "1",
            ]
        )
        == 0
    )
    assert [row["job_id"] for row in json.loads(capsys.readouterr().out)] == [3]


def test_retry_reset_disable_enable(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{db}"
    assert main(["retry", "3", "--db", url]) == 0
    assert "job 3 (team-log) will be retried now" in capsys.readouterr().out
    assert main(["retry", "1", "--db", url]) == 1
    assert "job 1 is succeeded: only failing or dead jobs are retried" in capsys.readouterr().err
    assert main(["retry", "99", "--db", url]) == 1
    assert "no job 99" in capsys.readouterr().err

    assert main(["reset", "team-log", "--db", url]) == 0
    assert "schedule restarted" in capsys.readouterr().out
    assert main(["reset", "team-lgo", "--db", url]) == 1
    assert "unknown action 'team-lgo' (did you mean 'team-log'?)" in capsys.readouterr().err

    assert main(["disable", "team-log", "--db", url]) == 0
    states = with_store(db, lambda s: s.action_states())
    assert states[0].enabled is False
    assert main(["enable", "team-log", "--db", url]) == 0
    assert with_store(db, lambda s: s.action_states())[0].enabled is True


@pytest.mark.parametrize("typed", ["kb-3", "KB-3", " kb-3 ", "3\n"])
def test_retry_takes_the_delivery_id_the_log_names(
    db: Path, capsys: pytest.CaptureFixture[str], typed: str
) -> None:
    """`bridge retry kb-3` was a usage error although the log says `delivery kb-3 failed`."""
    detail = with_store(db, lambda s: s.job(3))
    assert detail is not None and detail.attempts[-1].delivery_id == "kb-3"
    assert main(["retry", typed, "--db", f"sqlite:///{db}"]) == 0
    assert "job 3 (team-log) will be retried now" in capsys.readouterr().out
    assert with_store(db, lambda s: s.job(3)).state == "retrying"  # type: ignore[union-attr]


def test_replay_creates_new_jobs_from_stored_notifications(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    url = f"sqlite:///{db}"

    assert main(["replay", "--since", "1h", "--dry-run", "--db", url, "--config", str(rules)]) == 0
    assert "3 notification(s) in the last 1h: would create 3 job(s) (team-log: 3)" in (
        capsys.readouterr().out
    )
    assert len(with_store(db, lambda s: s.deliveries())) == 3

    assert main(["replay", "--since", "1h", "--db", url, "--config", str(rules)]) == 0
    assert "created 3 job(s)" in capsys.readouterr().out
    rows = with_store(db, lambda s: s.deliveries())
    assert [r.state for r in rows[:3]] == ["pending"] * 3

    assert main(["replay", "--since", "soon", "--db", url, "--config", str(rules)]) == 2  # usage
    assert "--since:" in capsys.readouterr().err


def test_a_missing_database_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["deliveries", "--db", f"sqlite:///{tmp_path}/none.db"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no database at ") and err.count("\n") == 1


def test_db_upgrade_creates_the_database_then_reports_up_to_date(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/new/bridge.db"
    assert main(["db", "upgrade", "--db", url]) == 0
    every = ", ".join(f"{m.version:04d}_{m.name}" for m in queries.migrations("sqlite"))
    assert capsys.readouterr().out.strip() == f"applied {every}"
    assert main(["db", "upgrade", "--db", url]) == 0
    assert capsys.readouterr().out.strip() == "database is up to date"


def test_the_installed_command_runs_deliveries_from_bridge_db(db: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bridge.cli import main; sys.exit(main())",
            "deliveries",
            "--json",
        ],
        env={"BRIDGE_DB": f"sqlite:///{db}", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert [row["job_id"] for row in json.loads(result.stdout)] == [3, 2, 1]


def test_enable_says_when_the_config_keeps_the_action_disabled(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        RULES.replace("team-log: {type: log}", "team-log: {type: log, enabled: false}")
    )
    monkeypatch.setenv("BRIDGE_CONFIG", str(rules))
    assert main(["enable", "team-log", "--db", f"sqlite:///{db}"]) == 0
    assert "the config says `enabled: false`" in capsys.readouterr().out
