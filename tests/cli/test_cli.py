"""The `bridge` command in-process: help, exit codes, check, explain, sign, send, settings."""

from __future__ import annotations

import asyncio
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bridge import __version__
from bridge.cli import main
from bridge.cli.config_commands import MANAGEMENT_KEY_NOTE
from bridge.cli.signing_commands import crlf_form
from bridge.config import Config, load_config
from bridge.settings import Settings, SettingsError
from bridge.signatures import sign

ROOT = Path(__file__).parents[2]
EXAMPLE = ROOT / "rules.example.yaml"
README = ROOT / "README.md"
SEED = ROOT / "tests/payloads/current/content_item_published_published.json"
COMMANDS = ["serve", "worker", "check", "explain", "test", "sign", "send"]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as exc:  # argparse: --help, --version, usage errors
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_help_lists_every_command_with_a_description(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0
    for command in COMMANDS:
        assert re.search(rf"^\s+{command}\s+\w", out, re.M), command
    # The delivery group (bridge/cli/delivery_commands.py) registers itself beside them.
    for command in ("deliveries", "retry", "reset", "disable", "enable", "replay", "db"):
        assert re.search(rf"^\s+{command}\b", out, re.M), command
    assert "exit codes: 0 success, 1 the command failed, 2 bad command line" in out


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(capsys: pytest.CaptureFixture[str], command: str) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert out.startswith(f"usage: bridge {command}")


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "--version")[:2] == (0, f"bridge {__version__}\n")


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "frobnicate")[0] == 2
    assert run(capsys)[0] == 2
    assert run(capsys, "check")[0] == 2


def test_check_example_config(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", str(EXAMPLE))
    assert (code, out, err) == (
        0,
        "OK: 1 webhooks, 2 actions, 3 rules\n",
        MANAGEMENT_KEY_NOTE + "\n",
    )


def test_example_config_loads_with_defaults_only() -> None:
    config = load_config(EXAMPLE, env={})
    assert config.webhooks[0].secrets == ("change-me",)
    assert config.webhooks[0].verify
    assert {a.type for a in config.actions.values()} == {"log"}


ALL_TYPES = {
    "log", "slack", "algolia", "http", "netlify", "vercel", "cloudflare_pages",
    "github_dispatch", "gitlab_trigger", "fastly", "cloudflare", "varnish", "email",
    "azure_search", "translate", "trello", "bluesky", "mastodon",
}  # fmt: skip


def _load_with_placeholders(text: str, tmp_path: Path) -> Config:
    """Load a config whose `${VARS}` are all set: hook URLs to a URL, the others to a token."""
    full = tmp_path / "full.yaml"
    full.write_text(text)
    env = {
        name: "https://hooks.example.com/x" if name.endswith("HOOK") else "abc123"
        for name in re.findall(r"\$\{(\w+)", text)
    }
    return load_config(full, env=env)


def test_every_commented_example_is_valid(tmp_path: Path) -> None:
    """Uncomment every action and rule of rules.example.yaml: the result must load."""
    config = _load_with_placeholders(re.sub(r"(?m)^  # ", "  ", EXAMPLE.read_text()), tmp_path)
    assert {a.type for a in config.actions.values()} == ALL_TYPES
    used = {item.action for rule in config.rules for item in rule.do}
    assert used == set(config.actions)


def test_readme_configuration_examples_are_valid(tmp_path: Path) -> None:
    """The README's configuration sketch loads, and its Actions section uses every type."""
    sketch, actions = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.DOTALL)
    config = _load_with_placeholders(sketch, tmp_path)
    assert [rule.name for rule in config.rules] == ["announce-articles"]
    webhook = "version: 1\nwebhooks: [{name: production, path: /webhooks/kontent, secrets: [s]}]\n"
    config = _load_with_placeholders(webhook + actions, tmp_path)
    assert {a.type for a in config.actions.values()} == ALL_TYPES
    used = {item.action for rule in config.rules for item in rule.do}
    assert used == set(config.actions)


def test_check_reports_every_error_at_once(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "rules.yaml"
    broken.write_text(
        "version: 1\n"
        "webhooks:\n"
        "  - {name: w, path: /w, secrets: [s]}\n"
        "actions:\n"
        "  audit: {type: lgo}\n"
        "rules:\n"
        "  - name: r\n"
        "    when: {object_typ: content_item}\n"
        "    do: [audit]\n"
    )
    code, out, err = run(capsys, "check", str(broken))
    assert code == 1
    assert out == ""
    lines = err.splitlines()
    assert lines[0] == f"error: {broken}: 2 error(s):"
    assert lines[1].startswith(f"{broken}:5:")
    assert "lgo" in lines[1]
    assert lines[2].startswith(f"{broken}:8:")
    assert "object_typ" in lines[2]


def test_check_missing_file_is_one_line(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "check", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert "cannot read the file: No such file or directory" in err


def test_explain_text(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "explain", str(EXAMPLE), str(SEED))
    assert code == 0
    assert out.splitlines() == [
        "event: content_item published product_update 'This changes everything!' (english) "
        "[published]",
        "  [matched] log-publishing",
        "      -> publishing-log (log)",
        "         message: \"published product_update 'This changes everything!' (english)\"",
        "  [failed] log-workflow-steps: when.action: 'published' is not 'workflow_step_changed'",
        "  [matched] log-everything",
        "      -> audit (log)",
        "2 job(s) would be created (webhook 'production'); nothing was sent.",
    ]


def test_explain_json_redacts_secrets(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(
        "version: 1\n"
        "webhooks: [{name: w, path: /w, secrets: [s]}]\n"
        "actions:\n"
        "  hook:\n"
        "    type: http\n"
        "    url: https://example.com/hook\n"
        "    headers: {Authorization: 'Bearer very-secret-token'}\n"
        "rules:\n"
        "  - {name: assets, when: {object_type: asset}, do: [hook]}\n"
        "  - {name: items, when: {object_type: content_item}, do: [hook]}\n"
    )
    code, out, _ = run(capsys, "explain", "--json", str(config), str(SEED))
    assert code == 0
    assert "very-secret-token" not in out
    result = json.loads(out)
    assert result["jobs"] == 1
    [event] = result["notifications"][0]["events"]
    assert [(r["rule"], r["matched"]) for r in event["rules"]] == [
        ("assets", False),
        ("items", True),
    ]
    assert event["rules"][0]["reason"] == "when.object_type: 'content_item' is not 'asset'"


def test_explain_bad_payload_and_unknown_webhook(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}')
    code, _, err = run(capsys, "explain", str(EXAMPLE), str(bad))
    assert code == 1
    assert err.startswith("error: payload is not a Kontent.ai notification: payload has neither")
    code, _, err = run(capsys, "explain", "--webhook", "staging", str(EXAMPLE), str(SEED))
    assert code == 2
    assert err == "error: no webhook named 'staging' (configured: production)\n"


def test_sign_file_and_stdin(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = sign(crlf_form(SEED.read_bytes()), "s3cret")  # as Kontent.ai's helpers hash it
    assert run(capsys, "sign", "--secret", "s3cret", str(SEED)) == (0, expected + "\n", "")
    raw = sign(SEED.read_bytes(), "s3cret")
    assert run(capsys, "sign", "--raw", "--secret", "s3cret", str(SEED)) == (0, raw + "\n", "")
    stdin = io.TextIOWrapper(io.BytesIO(SEED.read_bytes()))
    monkeypatch.setattr("sys.stdin", stdin)
    assert run(capsys, "sign", "--secret", "s3cret", "-")[1] == expected + "\n"
    monkeypatch.setenv("KONTENT_WEBHOOK_SECRET", "s3cret")
    assert run(capsys, "sign", str(SEED))[1] == expected + "\n"


def test_sign_without_secret_or_file(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KONTENT_WEBHOOK_SECRET", raising=False)
    code, _, err = run(capsys, "sign", str(SEED))
    assert (code, err) == (2, "error: no secret: pass --secret or set KONTENT_WEBHOOK_SECRET\n")
    code, _, err = run(capsys, "sign", "--secret", "s", "missing.json")
    assert (code, err) == (1, "error: payload file not found: missing.json\n")


Received = list[tuple[dict[str, str], bytes]]


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, Received, Callable[[int], None]]]:
    """A real HTTP server that records requests and answers with a settable status."""
    received: Received = []
    status = [200]

    async def handle(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.json_response({"accepted": 1}, status=status[0])

    app = web.Application()
    app.router.add_post("/hook", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]

    def set_status(code: int) -> None:
        status[0] = code

    yield f"http://127.0.0.1:{port}/hook", received, set_status
    await runner.cleanup()


async def run_async(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(run, capsys, *argv)


async def test_send_posts_exact_bytes_signed(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Received, Any]
) -> None:
    url, received, _ = target
    code, out, _ = await run_async(
        capsys, "send", url, str(SEED), "--secret", "s3cret", "--header", "request-id: abc"
    )
    assert code == 0
    assert out == 'HTTP 200\n{"accepted": 1}\n'
    [(headers, body)] = received
    assert body == crlf_form(SEED.read_bytes())  # the CRLF form, signed as sent
    assert headers["X-Kontent-ai-Signature"] == sign(body, "s3cret")
    assert headers["Content-Type"] == "application/json; charset=utf-8"
    assert headers["request-id"] == "abc"
    assert "X-KC-Signature" not in headers


async def test_send_legacy_header(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Received, Any]
) -> None:
    url, received, _ = target
    code, _, _ = await run_async(capsys, "send", "--legacy", url, str(SEED), "--secret", "s")
    assert code == 0
    headers, body = received[0]
    assert headers["X-KC-Signature"] == sign(body, "s")
    assert "X-Kontent-ai-Signature" not in headers


async def test_send_non_2xx_exits_1(
    capsys: pytest.CaptureFixture[str], target: tuple[str, Received, Callable[[int], None]]
) -> None:
    url, _, set_status = target
    set_status(401)
    code, out, _ = await run_async(capsys, "send", url, str(SEED), "--secret", "s")
    assert (code, out.splitlines()[0]) == (1, "HTTP 401")


async def test_send_unreachable_and_bad_header(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = await run_async(
        capsys, "send", "http://127.0.0.1:1/hook", str(SEED), "--secret", "s"
    )
    assert code == 1
    assert err.startswith("error: could not reach http://127.0.0.1:1/hook: ")
    code, _, err = await run_async(
        capsys, "send", "http://127.0.0.1:1/", str(SEED), "--secret", "s", "--header", "nocolon"
    )
    assert (code, err) == (2, "error: --header 'nocolon' must look like Name:value\n")


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        ("X-Test: a\r\nInjected: yes", "header 'X-Test' holds a line break ('\\r' at position 1)"),
        ("Bad Name: v", "header name 'Bad Name' is not an HTTP token"),
        ("X-Test: a\x01", "header 'X-Test' holds a control character"),
    ],
)
async def test_send_refuses_headers_no_server_could_take(
    capsys: pytest.CaptureFixture[str],
    target: tuple[str, Received, Callable[[int], None]],
    header: str,
    problem: str,
) -> None:
    # A CR/LF raised aiohttp's ValueError with a traceback; a name with a space was sent.
    url, received, _ = target
    code, _, err = await run_async(
        capsys, "send", url, str(SEED), "--secret", "s", "--header", header
    )
    assert code == 2
    assert err.startswith(f"error: --header {header!r}: {problem}")
    assert len(err.splitlines()) == 1 and not received


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/hook", "127.0.0.1:8080/hook", "http:///hook"])
async def test_send_takes_only_http_urls_with_a_host(
    capsys: pytest.CaptureFixture[str], url: str
) -> None:
    # `ftp://x/` was "could not reach ftp://x/: ftp://x/" (exit 1), as if the host were down.
    code, _, err = await run_async(capsys, "send", url, str(SEED), "--secret", "s")
    assert (code, err.split(" (")[0]) == (2, f"error: not a valid URL: {url}")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BRIDGE_PORT": "eighty"}, "BRIDGE_PORT='eighty' is not a port number (0-65535)"),
        ({"BRIDGE_PORT": "70000"}, "BRIDGE_PORT='70000' is out of range (0-65535)"),
        ({"BRIDGE_LOG_LEVEL": "loud"}, "BRIDGE_LOG_LEVEL='loud' must be one of: debug, info,"),
        ({"BRIDGE_LOG_FORMAT": "xml"}, "BRIDGE_LOG_FORMAT='xml' must be one of: json, text"),
        ({"BRIDGE_MAX_BODY_BYTES": "0"}, "BRIDGE_MAX_BODY_BYTES='0' must be greater than 0"),
        ({"BRIDGE_DB": "mysql://u:pw@h/db"}, "BRIDGE_DB (scheme 'mysql') must start with"),
    ],
)
def test_bad_settings_are_one_line(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(env)
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)
    assert "pw" not in str(caught.value)


def test_settings_defaults_and_values() -> None:
    defaults = Settings.from_env({})
    assert (defaults.db, defaults.host, defaults.port) == (
        "sqlite:///data/bridge.db",
        "0.0.0.0",
        8080,
    )
    assert defaults.max_body_bytes == 5 * 1024 * 1024
    assert defaults.config == Path("rules.yaml")
    assert defaults.log_format == "json"  # stderr is not a TTY under pytest
    custom = Settings.from_env(
        {"BRIDGE_PORT": "9000", "BRIDGE_LOG_FORMAT": "TEXT", "BRIDGE_ADMIN_TOKEN": "t"}
    )
    assert (custom.port, custom.log_format, custom.admin_token) == (9000, "text", "t")


def test_serve_with_bad_settings_exits_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BRIDGE_PORT", "eighty")
    code, _, err = run(capsys, "serve", "--config", str(EXAMPLE))
    assert (code, err) == (1, "error: BRIDGE_PORT='eighty' is not a port number (0-65535)\n")


def test_check_prints_warnings_and_still_passes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "rules.yaml"
    config.write_text(
        "version: 1\n"
        "webhooks: [{name: w, path: /w, secrets: [s]}]\n"
        "actions: {audit: {type: log}, spare: {type: log}}\n"
        "rules: [{name: r, when: {object_type: content_item}, do: [audit]}]\n"
    )
    code, out, err = run(capsys, "check", str(config))
    assert (code, out) == (0, "OK: 1 webhooks, 2 actions, 1 rules\n")
    [warning, note] = err.splitlines()
    assert note == MANAGEMENT_KEY_NOTE  # legacy workflow ids cannot be resolved without a key
    assert warning.startswith(f"warning: {config}:3:")
    assert "action 'spare' is not used" in warning


@pytest.mark.parametrize("port", ["abc", "99999", "5432x", "²"])
@pytest.mark.parametrize("command", [["serve", "--config", str(EXAMPLE)], ["deliveries"]])
def test_a_database_port_that_is_not_a_number_is_one_line(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    port: str,
) -> None:
    monkeypatch.setenv("BRIDGE_DB", f"postgresql://postgres@127.0.0.1:{port}/test")
    code, _out, err = run(capsys, *command)
    assert code == 1
    assert "Traceback" not in err
    assert err.strip().endswith(
        f"the port {port!r} in the database URL is not a number from 1 to 65535 "
        "(postgresql://user@host:5432/database)"
    )
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("command", [["serve", "--config", str(EXAMPLE)], ["deliveries"]])
def test_a_database_url_with_an_unclosed_bracket_is_one_line(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    # asyncpg's urlparse raised ValueError (Invalid IPv6 URL) out of connect(): a traceback.
    monkeypatch.setenv("BRIDGE_DB", "postgresql://bridge:hunter2@[::1/test")
    code, _out, err = run(capsys, *command)
    assert code == 1
    assert err.strip().endswith(
        "the database URL cannot be read: Invalid IPv6 URL (postgresql://user@[::1]:5432/database)"
    )
    assert len(err.strip().splitlines()) == 1 and "hunter2" not in err


def test_explain_json_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    """`bridge explain --json | head -1`: no BrokenPipeError traceback, exit 0."""
    notifications = [json.loads(SEED.read_text())["notifications"][0] for _ in range(300)]
    payload = tmp_path / "many.json"
    payload.write_text(json.dumps({"notifications": notifications}))
    executable = str(Path(sys.executable).parent / "bridge")
    bridge = [executable, "explain", str(EXAMPLE), str(payload), "--json"]
    process = subprocess.Popen(
        bridge, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT, env=os.environ.copy()
    )
    assert process.stdout is not None and process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # what `head -1` does once it has its line
    stderr = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0
    assert first.strip() == b"{"
    assert stderr == ""


def test_explain_refuses_a_payload_past_the_body_limit(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, "explain", str(EXAMPLE), "/dev/zero")
    assert code == 1
    assert err.strip() == (
        "error: cannot read payload file /dev/zero: larger than 5242880 bytes, "
        "the largest body a webhook takes by default"
    )


@pytest.mark.parametrize(
    "argv",
    [
        ("retry", "99999999999999999999"),
        ("retry", "9223372036854775808"),
        ("retry", "٣"),
        ("retry", "0"),
        ("retry", "kb-0"),
        ("retry", "kb-٣"),
        ("deliveries", "--limit", "99999999999999999999999"),
        ("deliveries", "--limit", "1_000"),
    ],
)
def test_ids_and_limits_past_the_stores_integers_are_usage_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, argv: tuple[str, ...]
) -> None:
    # A 20-digit job id or --limit raised OverflowError (SQLite INTEGER) with a traceback.
    db = f"sqlite:///{tmp_path}/b.db"
    assert run(capsys, "db", "upgrade", "--db", db)[0] == 0
    code, _out, err = run(capsys, *argv, "--db", db)
    assert code == 2
    number = "a whole number from 1 to 9223372036854775807"
    expected = f"a job id: {number}, or kb-N as the log names it" if argv[0] == "retry" else number
    assert err.splitlines()[-1].endswith(f"expected {expected}, got {argv[-1]!r}")
    assert run(capsys, "retry", "9223372036854775807", "--db", db)[2] == (
        "error: no job 9223372036854775807\n"
    )
