"""Command-line arguments that are not UTF-8 text: a usage error, never a traceback.

On Linux an argument is bytes; Python keeps the ones that are not UTF-8 as surrogate escapes
(`$'\\xff'` becomes '\\udcff'). Those reached the store's queries and the HMAC, each of which
raised UnicodeEncodeError. File names are the exception: any bytes name a file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bridge.cli import main

pytestmark = pytest.mark.timeout(60)

SEED = Path(__file__).parents[1] / "payloads/current/content_item_published_published.json"
BYTE = os.fsdecode(b"\xff")  # what sys.argv holds for the byte 0xff


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, capsys.readouterr().err


@pytest.fixture
def db(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    url = f"sqlite:///{tmp_path}/bridge.db"
    assert run(capsys, "db", "upgrade", "--db", url)[0] == 0
    return url


@pytest.mark.parametrize(
    ("argv", "command", "label"),
    [
        (["deliveries", "--action", BYTE], "deliveries", "--action"),
        (["deliveries", "--request-id", f"a{BYTE}b"], "deliveries", "--request-id"),
        (["reset", BYTE], "reset", "ACTION"),
        (["disable", BYTE], "disable", "ACTION"),
        (["enable", BYTE], "enable", "ACTION"),
        (["replay", "--since", "1h", "--rule", BYTE], "replay", "--rule"),
        (["replay", "--since", "1h", "--notification", BYTE], "replay", "--notification"),
    ],
)
def test_store_commands_refuse_undecodable_names(
    capsys: pytest.CaptureFixture[str],
    db: str,
    argv: list[str],
    command: str,
    label: str,
) -> None:
    code, err = run(capsys, *argv, "--db", db)
    assert code == 2
    assert err.splitlines()[-1] == (
        f"bridge {command}: error: argument {label}: is not UTF-8 text (byte 0xff)"
    )


@pytest.mark.parametrize(
    ("argv", "label"),
    [
        (["sign", "--secret", BYTE, str(SEED)], "--secret"),
        (["send", "http://127.0.0.1:9/h", str(SEED), "--secret", BYTE], "--secret"),
        (["send", f"http://127.0.0.1:9/{BYTE}", str(SEED), "--secret", "s"], "URL"),
        (
            ["send", "http://127.0.0.1:9/h", str(SEED), "--secret", "s", "--header", f"a:{BYTE}"],
            "--header",
        ),
        (["sign", "--secret", "\udc80", str(SEED)], "--secret"),
    ],
)
def test_signing_commands_refuse_undecodable_text(
    capsys: pytest.CaptureFixture[str], argv: list[str], label: str
) -> None:
    code, err = run(capsys, *argv)
    assert code == 2
    assert f"error: argument {label}: is not UTF-8 text (byte 0x" in err.splitlines()[-1]


def test_a_secret_from_the_environment_that_is_not_utf8_is_a_usage_error(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KONTENT_WEBHOOK_SECRET", BYTE)
    code, err = run(capsys, "sign", str(SEED))
    assert (code, err) == (2, "error: KONTENT_WEBHOOK_SECRET is not UTF-8 text (byte 0xff)\n")


def test_a_file_name_that_is_not_utf8_is_still_a_file_name(tmp_path: Path) -> None:
    payload = tmp_path / f"payload-{BYTE}.json"
    payload.write_bytes(SEED.read_bytes())
    # A process of its own: its stderr writes what cannot be encoded as escapes (capsys refuses).
    signed = _bridge("sign", "--secret", "s", os.fsencode(payload))
    assert (signed.returncode, signed.stderr) == (0, b"")
    checked = _bridge("check", os.fsencode(tmp_path) + b"/rules-\xff.yaml")
    assert checked.returncode == 1
    assert b"rules-\\udcff.yaml:1:1: cannot read the file: No such file" in checked.stderr


def _bridge(*argv: str | bytes) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "bridge", *argv]
    return subprocess.run(command, capture_output=True, timeout=30, check=False)
