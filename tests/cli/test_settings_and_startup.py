"""Settings from files (BRIDGE_ADMIN_TOKEN_FILE, BRIDGE_DB_FILE), one-line setting errors, and
what `bridge serve` says at start-up: the admin off and why, a short admin token, the example's
public secret. A real `bridge serve` also shows `bridge_build_info` and process metrics."""

from __future__ import annotations

import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

import pytest

from bridge.app import announce
from bridge.config import parse_config
from bridge.settings import Settings, SettingsError

pytestmark = pytest.mark.timeout(90)

ROOT = Path(__file__).parents[2]
ADMIN_OFF = (
    "admin is off: BRIDGE_ADMIN_TOKEN is not set (nor BRIDGE_ADMIN_TOKEN_FILE); "
    "/admin and /admin/api answer 404"
)
SHORT_TOKEN = (
    "BRIDGE_ADMIN_TOKEN is 8 characters long: use at least 16 random characters "
    "(openssl rand -hex 32 prints 64), it is all that guards /admin"
)
PUBLIC_SECRET = (
    "webhook 'production' (/webhooks/kontent) accepts the example's public default secret "
    "(rules.example.yaml's fallback): anyone can sign notifications for it. Set "
    "KONTENT_WEBHOOK_SECRET (or the variable your rules.yaml names) to the secret Kontent.ai "
    "shows for the webhook."
)
RETENTION = (
    "error: BRIDGE_RETENTION: 'forever' is not a duration longer than 0: write how long "
    "notifications and finished jobs are kept, e.g. 3d, 12h or 90m\n"
)


# -- _FILE forms -------------------------------------------------------------------------------


def test_admin_token_and_db_come_from_files(tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-long-admin-token-from-a-secret\n")
    db = tmp_path / "db"
    db.write_text("postgresql://bridge:pw@db:5432/bridge\n")
    settings = Settings.from_env({"BRIDGE_ADMIN_TOKEN_FILE": str(token), "BRIDGE_DB_FILE": str(db)})
    assert settings.admin_token == "a-long-admin-token-from-a-secret"
    assert settings.db == "postgresql://bridge:pw@db:5432/bridge"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"BRIDGE_ADMIN_TOKEN": "x" * 20, "BRIDGE_ADMIN_TOKEN_FILE": "{tmp}/token"},
            "BRIDGE_ADMIN_TOKEN and BRIDGE_ADMIN_TOKEN_FILE are both set: set only one of them",
        ),
        (
            {"BRIDGE_DB_FILE": "{tmp}/missing"},
            "BRIDGE_DB_FILE='{tmp}/missing': cannot read the file: No such file or directory",
        ),
        (
            {"BRIDGE_ADMIN_TOKEN_FILE": "{tmp}/empty"},
            "BRIDGE_ADMIN_TOKEN_FILE='{tmp}/empty': the file is empty",
        ),
        (
            {"BRIDGE_DB_FILE": "{tmp}/token"},
            "BRIDGE_DB (scheme 'a-long-admin-token') must start with sqlite:/// (a file) "
            "or postgresql:// (a server)",
        ),
    ],
)
def test_file_settings_fail_with_one_exact_line(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    (tmp_path / "token").write_text("a-long-admin-token\n")
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({k: v.format(tmp=tmp_path) for k, v in env.items()})
    assert str(caught.value) == message.format(tmp=tmp_path)


def _bridge(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "import sys; from bridge.cli import main; sys.exit(main())", *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


def test_delivery_commands_read_bridge_db_file(tmp_path: Path) -> None:
    url_file = tmp_path / "db-url"
    url_file.write_text(f"sqlite:///{tmp_path}/secret-place.db\n")
    env = {"BRIDGE_DB_FILE": str(url_file)}
    upgrade = _bridge("db", "upgrade", env=env, cwd=tmp_path)
    assert upgrade.returncode == 0, upgrade.stderr
    assert (tmp_path / "secret-place.db").exists()
    listed = _bridge("deliveries", env=env, cwd=tmp_path)
    assert (listed.returncode, listed.stdout) == (0, "no deliveries\n")


@pytest.mark.parametrize("command", [["serve"], ["deliveries"], ["db", "upgrade"]])
def test_a_bad_bridge_retention_is_one_line(tmp_path: Path, command: list[str]) -> None:
    env = {"BRIDGE_RETENTION": "forever", "BRIDGE_DB": f"sqlite:///{tmp_path}/b.db"}
    (tmp_path / "b.db").touch()
    result = _bridge(*command, env=env, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (1, RETENTION)


@pytest.mark.parametrize(
    "command", [["serve"], ["worker"], ["replay", "--since", "1h", "--db", "sqlite:///b.db"]]
)
def test_no_rules_yaml_where_none_is_named_says_how_to_name_one(
    tmp_path: Path, command: list[str]
) -> None:
    """A first `bridge serve` in an empty directory: the default file is missing, not broken."""
    (tmp_path / "b.db").touch()
    result = _bridge(*command, env={}, cwd=tmp_path)
    assert (result.returncode, result.stderr) == (
        1,
        f"error: no rules.yaml in {tmp_path}, the rules file used when none is named: "
        "pass --config FILE or set BRIDGE_CONFIG\n",
    )
    named = _bridge(*command, env={"BRIDGE_CONFIG": "mine.yaml"}, cwd=tmp_path)
    assert named.stderr == (
        "error: mine.yaml: 1 error(s):\n"
        "mine.yaml:1:1: cannot read the file: No such file or directory\n"
    )


# -- start-up lines ----------------------------------------------------------------------------

CONFIG = """\
version: 1
webhooks:
  - {name: production, path: /webhooks/kontent, secrets: ["${SECRET:-change-me}"]}
actions: {audit: {type: log}}
rules: [{name: all, when: {object_type: content_item}, do: [audit]}]
"""


def _lines(caplog: pytest.LogCaptureFixture) -> list[tuple[str, str]]:
    return [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bridge.app"]


def test_start_up_says_the_admin_is_off_and_warns_of_the_public_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="bridge.app")
    announce(parse_config(CONFIG, env={}), Settings())
    assert _lines(caplog) == [("INFO", ADMIN_OFF), ("WARNING", PUBLIC_SECRET)]


def test_start_up_warns_of_a_short_admin_token_only(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.app")
    config = parse_config(CONFIG, env={"SECRET": "a-real-secret-from-kontent"})
    announce(config, Settings(admin_token="12345678"))
    assert _lines(caplog) == [("WARNING", SHORT_TOKEN)]
    caplog.clear()
    announce(config, Settings(admin_token="0123456789abcdef"))  # 16 characters: enough
    assert _lines(caplog) == []


def test_a_worker_says_nothing_about_the_admin(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="bridge.app")
    config = parse_config(CONFIG, env={"SECRET": "a-real-secret-from-kontent"})
    announce(config, Settings(), role="worker")
    assert _lines(caplog) == []


def test_the_public_secret_is_the_one_rules_example_falls_back_to() -> None:
    from bridge.app import EXAMPLE_SECRET

    assert (
        '"${KONTENT_WEBHOOK_SECRET:-' + EXAMPLE_SECRET + '}"'
        in (ROOT / "rules.example.yaml").read_text()
    )


# -- a real `bridge serve` ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pump(stream: IO[str], lines: queue.Queue[str]) -> None:
    for line in stream:
        lines.put(line)


def _wait_for(lines: queue.Queue[str], text: str, seen: list[str]) -> None:
    deadline = time.monotonic() + 30
    while (left := deadline - time.monotonic()) > 0:
        try:
            seen.append(lines.get(timeout=left))
        except queue.Empty:
            break
        if text in seen[-1]:
            return
    raise AssertionError(f"no line with {text!r} in:\n{''.join(seen)}")


def test_serve_logs_the_start_up_lines_and_exposes_build_and_process_metrics(
    tmp_path: Path,
) -> None:
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PYTHONPATH": str(ROOT),
        "BRIDGE_LOG_FORMAT": "text",
        "BRIDGE_DB": f"sqlite:///{tmp_path}/bridge.db",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "bridge", "serve", "--config", str(ROOT / "rules.example.yaml"),
         "--host", "127.0.0.1", "--port", str(port)],
        cwd=tmp_path, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    assert server.stderr is not None
    threading.Thread(target=_pump, args=(server.stderr, lines), daemon=True).start()
    seen: list[str] = []
    try:
        _wait_for(lines, "Uvicorn running on", seen)
        log = "".join(seen)
        assert ADMIN_OFF in log
        assert PUBLIC_SECRET in log
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
            text = answer.read().decode()
        from bridge import __version__

        assert (
            f'bridge_build_info{{python="{sys.version.split()[0]}",version="{__version__}"}} 1.0'
            in text
        )
        for name in ("process_resident_memory_bytes", "process_cpu_seconds_total", "python_info"):
            assert f"\n{name}" in text, name
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.mark.parametrize("url", ["https://[::1", "https://bridge.example.com:99999", "http://a:b"])
def test_a_public_url_that_does_not_parse_is_a_settings_error(url: str) -> None:
    # urlsplit raised ValueError (Invalid IPv6 URL) out of Settings.from_env; a port past 65535
    # or not a number was accepted.
    with pytest.raises(SettingsError, match="must be the address the dashboard is opened at"):
        Settings.from_env({"BRIDGE_PUBLIC_URL": url})
