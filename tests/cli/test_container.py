"""What the container runs, tested outside it (there is no Docker engine here): the documented
`docker run ... bridge check` with the environment the image and the command give it, the
compose file's stop grace period, and the data directory's owner (uid/gid 10001)."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.config import parse_duration
from bridge.delivery.workers import DEFAULT_GRACE_S

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).parents[2]
DOCS = (ROOT / "docs/container.md").read_text()
DOCKERFILE = (ROOT / "Dockerfile").read_text()
RULES = """\
version: 1
webhooks:
  - {name: production, path: /webhooks/kontent, secrets: ["${KONTENT_WEBHOOK_SECRET}"]}
actions:
  content-team: {type: slack, token: "${SLACK_BOT_TOKEN}", channel: "#content"}
rules: [{name: all, when: {object_type: content_item}, do: [content-team]}]
"""


def _commands(markdown: str) -> list[list[str]]:
    """Each `docker run` of the docs' sh blocks, as words (line continuations joined)."""
    blocks = re.findall(r"```sh\n(.*?)```", markdown, re.S)
    text = "\n".join(blocks).replace("\\\n", " ")
    return [
        shlex.split(line) for line in text.splitlines() if line.strip().startswith("docker run")
    ]


def _passed_variables(words: list[str]) -> set[str]:
    return {words[i + 1].split("=")[0] for i, word in enumerate(words) if word == "-e"}


def _image_env() -> dict[str, str]:
    """The runtime stage's ENV lines."""
    runtime = DOCKERFILE.split("FROM python:3.11-slim\n", 1)[1]
    block = re.search(r"^ENV (.*?)(?<!\\)\n", runtime, re.M | re.S)
    assert block
    pairs = shlex.split(block.group(1).replace("\\\n", " "))
    return dict(pair.split("=", 1) for pair in pairs if not pair.startswith("PATH="))


def _documented_check_and_run() -> tuple[list[str], list[str]]:
    commands = _commands(DOCS)
    check = next(c for c in commands if "check" in c)
    run = next(c for c in commands if "-d" in c and "bridge-data:/data" in " ".join(c))
    return check, run


def test_the_documented_check_passes_what_the_documented_run_passes() -> None:
    check, run = _documented_check_and_run()
    assert (
        _passed_variables(check)
        == _passed_variables(run)
        == {
            "KONTENT_WEBHOOK_SECRET",
            "SLACK_BOT_TOKEN",
        }
    )


def _check_as_in_the_image(tmp_path: Path, passed: set[str]) -> subprocess.CompletedProcess[str]:
    """`bridge check /config/rules.yaml` with the image's ENV plus the `-e` variables only."""
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    shell = {"KONTENT_WEBHOOK_SECRET": "s3cret-from-kontent", "SLACK_BOT_TOKEN": "xoxb-1"}
    env = _image_env() | {name: shell[name] for name in passed}
    env |= {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "bridge", "check", str(rules)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_documented_check_succeeds_where_one_without_the_variables_fails(
    tmp_path: Path,
) -> None:
    check, _ = _documented_check_and_run()
    ok = _check_as_in_the_image(tmp_path, _passed_variables(check))
    assert (ok.returncode, ok.stdout) == (0, "OK: 1 webhooks, 1 actions, 1 rules\n"), ok.stderr
    bare = _check_as_in_the_image(tmp_path, set())  # the command as the docs had it
    assert bare.returncode == 1
    assert "environment variable 'KONTENT_WEBHOOK_SECRET' is not set" in bare.stderr


def test_compose_waits_longer_than_the_bridge_takes_to_stop() -> None:
    compose: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    bridges = {name: s for name, s in compose["services"].items() if name != "postgres"}
    assert bridges
    for name, service in bridges.items():
        grace = parse_duration(service.get("stop_grace_period", "10s"))
        assert grace >= DEFAULT_GRACE_S + 5, name  # the workers' grace, and time to close
    assert "stop_grace_period: 20s" in DOCS


def test_the_image_user_owns_the_data_directory_and_the_docs_say_so() -> None:
    assert "groupadd --system --gid 10001 bridge" in DOCKERFILE
    assert "useradd --system --uid 10001 --gid 10001 " in DOCKERFILE
    assert "chown 10001:10001 /data" in DOCKERFILE
    assert re.search(r"^USER bridge$", DOCKERFILE, re.M)
    assert "**The data volume must be writable by the image's user, uid 10001**" in DOCS
    assert "sudo chown 10001:10001 data" in DOCS


needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None,
    reason="switching to uid 10001 needs root and setpriv",
)


def _as_image_user(tmp_path: Path, data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "BRIDGE_DB": f"sqlite:///{data}/bridge.db",
        "BRIDGE_LOG_FORMAT": "text",
    }
    setpriv = ["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups"]
    return subprocess.run(
        [*setpriv, sys.executable, "-m", "bridge", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd="/",
    )


@needs_root
def test_as_the_image_user_a_data_directory_it_cannot_write_stops_with_the_documented_line(
    tmp_path: Path,
) -> None:
    # pytest's own temporary directories are private to root: uid 10001 could not enter them.
    with tempfile.TemporaryDirectory(dir="/tmp") as shared:
        _documented_failure_and_fix(Path(shared))


def _documented_failure_and_fix(tmp_path: Path) -> None:
    tmp_path.chmod(0o755)
    rules = tmp_path / "rules.yaml"
    shutil.copy2(ROOT / "rules.example.yaml", rules)
    rules.chmod(0o644)
    data = tmp_path / "data"
    data.mkdir(mode=0o755)  # owned by root, as a fresh host directory is
    denied = _as_image_user(tmp_path, data, "serve", "--config", str(rules), "--port", "0")
    assert denied.returncode == 1
    assert denied.stderr.splitlines()[-1] == (
        "error: cannot open the store (BRIDGE_DB): SQLite store unavailable: "
        "unable to open database file"
    )
    documented = " ".join(
        re.search(
            r"On a volume it cannot write, the\s+bridge stops at start-up with `(.*?)`", DOCS, re.S
        )
        .group(1)  # type: ignore[union-attr]
        .split()
    )
    assert denied.stderr.splitlines()[-1] == documented

    os.chown(data, 10001, 10001)  # the documented fix
    upgraded = _as_image_user(tmp_path, data, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert (data / "bridge.db").stat().st_uid == 10001
