"""Log formats: JSON lines with ids and extras, readable text, and secrets that never appear."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest

from bridge import logformat
from bridge.actions.base import Action, ActionOptions
from bridge.logformat import JsonFormatter, Redactor, TextFormatter
from tests.admin.harness import eventually

SECRET = "s3cr3t-webhook-key"
TOKEN = "xoxb-slack-token-123"


class SlackLike(Action[ActionOptions]):
    secret_options = frozenset({"webhook_url"})


def fake_config() -> SimpleNamespace:
    return SimpleNamespace(
        webhooks=[SimpleNamespace(secrets=(SECRET, ""))],
        kontent=SimpleNamespace(
            environments={
                "env": SimpleNamespace(preview_api_key="preview-key-9", secure_access_key=None)
            }
        ),
        actions={
            "team": SimpleNamespace(
                action_class=SlackLike,
                options={
                    "token": TOKEN,
                    "channel": "#content",
                    "webhook_url": "https://hooks.slack.test/T1/B2/abc",
                    "headers": {"Authorization": "Bearer nested-secret"},
                },
            )
        },
    )


@pytest.fixture
def logged() -> Iterator[tuple[logging.Logger, io.StringIO, io.StringIO]]:
    redactor = Redactor()
    redactor.set_secrets(logformat.secrets_of(fake_config(), ["admin-token-xyz"]))  # type: ignore[arg-type]
    json_out, text_out = io.StringIO(), io.StringIO()
    logger = logging.getLogger("bridge.test.logformat")
    handlers = [logging.StreamHandler(json_out), logging.StreamHandler(text_out)]
    handlers[0].setFormatter(JsonFormatter(redactor))
    handlers[1].setFormatter(TextFormatter(redactor))
    for handler in handlers:
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, json_out, text_out
    for handler in handlers:
        logger.removeHandler(handler)


def test_secrets_of_a_config_cover_webhooks_keys_and_secret_options() -> None:
    found = logformat.secrets_of(fake_config(), ["admin-token-xyz", None])  # type: ignore[arg-type]
    assert found == {
        SECRET,
        "preview-key-9",
        TOKEN,
        "https://hooks.slack.test/T1/B2/abc",
        "Bearer nested-secret",
        "admin-token-xyz",
    }


def test_json_lines_carry_request_and_delivery_ids_and_extras(
    logged: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, json_out, _ = logged
    request = logformat.request_id_var.set("req-42")
    delivery = logformat.delivery_id_var.set("dlv-7")
    try:
        logger.warning("attempt %d failed", 3, extra={"action": "team", "status": 502})
    finally:
        logformat.request_id_var.reset(request)
        logformat.delivery_id_var.reset(delivery)
    entry = json.loads(json_out.getvalue())
    assert entry["level"] == "warning"
    assert entry["logger"] == "bridge.test.logformat"
    assert entry["message"] == "attempt 3 failed"
    assert entry["request_id"] == "req-42" and entry["delivery_id"] == "dlv-7"
    assert entry["action"] == "team" and entry["status"] == 502
    assert entry["ts"].endswith("Z")


def test_text_lines_are_readable(logged: tuple[logging.Logger, io.StringIO, io.StringIO]) -> None:
    logger, _, text_out = logged
    logger.info("delivered", extra={"action": "team"})
    line = text_out.getvalue().strip()
    assert "INFO" in line and "bridge.test.logformat" in line
    assert line.endswith("delivered  action=team")


def test_no_secret_survives_in_messages_arguments_extras_or_tracebacks(
    logged: tuple[logging.Logger, io.StringIO, io.StringIO],
) -> None:
    logger, json_out, text_out = logged
    logger.info("posting with %s", TOKEN, extra={"headers": {"x": f"Bearer {SECRET}"}})
    try:
        raise ValueError(f"bad key preview-key-9 for {SECRET}")
    except ValueError:
        logger.exception("failed with admin-token-xyz")
    for output in (json_out.getvalue(), text_out.getvalue()):
        for secret in (TOKEN, SECRET, "preview-key-9", "admin-token-xyz"):
            assert secret not in output
        assert "***" in output
    assert "ValueError" in text_out.getvalue()


def test_short_values_are_not_treated_as_secrets() -> None:
    redactor = Redactor()
    redactor.set_secrets(["a", "", "abcd"])
    assert redactor.redact("a b abcd") == "a b ***"


def test_configure_chooses_the_format(capsys: pytest.CaptureFixture[str]) -> None:
    stream = io.StringIO()
    handler = logformat.configure("json", "info", stream)
    try:
        logging.getLogger("bridge.test.configure").info("hello")
    finally:
        logging.getLogger().removeHandler(handler)
    assert json.loads(stream.getvalue())["message"] == "hello"


async def test_a_request_id_follows_a_notification_into_its_delivery_and_secrets_stay_out(
    tmp_path: Path,
) -> None:
    from tests.admin.harness import SECRET, notification, running_bridge, signed

    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger("bridge")
    root.addHandler(handler)
    level, root.level = root.level, logging.INFO
    try:
        async with running_bridge(tmp_path) as bridge, httpx.AsyncClient() as http:
            body = notification(1)
            answer = await http.post(
                f"{bridge.url}/webhooks/kontent", content=body, headers=signed(body)
            )
            await bridge.target.wait_for_requests(1)
            request_id = answer.headers["x-request-id"]

            def delivered() -> bool:
                return any("delivered" in line for line in lines.getvalue().splitlines())

            await eventually(delivered)
            logging.getLogger("bridge.test").info("oops, the secret is %s", SECRET)
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
    entries = [json.loads(line) for line in lines.getvalue().splitlines()]
    [delivery] = [e for e in entries if e["message"].startswith("delivered")]
    assert delivery["request_id"] == request_id
    assert delivery["delivery_id"]
    assert SECRET not in lines.getvalue()
    assert "oops, the secret is ***" in [e["message"] for e in entries]


@pytest.mark.parametrize("breaker", ["\n", "\r\n", "\r", "\u2028", "\x85", "\x1b[2J"])
def test_a_payload_value_cannot_forge_a_text_log_line(breaker: str) -> None:
    """A codename holding a line break must not start a line that looks like the bridge's own."""
    forged = f"ok{breaker}12:00:00.000Z  ERROR    bridge.receiver  store unavailable"
    record = logging.LogRecord(
        "bridge.actions.log", logging.INFO, "f", 1, "item %s", (forged,), None
    )
    record.codename = forged
    line = TextFormatter().format(record)
    assert len(line.splitlines()) == 1
    assert breaker not in line
    assert "store unavailable" in line  # shown, escaped, not dropped


def _record(created: float, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("bridge.receiver", logging.INFO, "f", 1, "accepted %d", (1,), None)
    record.created, record.msecs = created, (created - int(created)) * 1000
    record.__dict__.update(extra)
    return record


def test_json_timestamps_are_utc_milliseconds_across_seconds() -> None:
    """The second's text is cached; a line in the next second must not reuse it."""
    from datetime import UTC, datetime

    formatter = JsonFormatter(Redactor())
    for created in (
        1764637783.950123,
        1764637783.0,
        1764637784.0015,
        1764637783.999,
        0.5,
        9.9999996,
    ):
        entry = json.loads(formatter.format(_record(created)))
        moment = datetime.fromtimestamp(created, UTC)
        assert entry["ts"] == moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_json_hides_credential_named_extras_and_secrets_in_ids_and_names() -> None:
    redactor = Redactor()
    redactor.set_secrets([SECRET])
    record = _record(
        1764637783.5,
        request_id=f"id-{SECRET}",
        api_key="plain-value",
        headers={"Authorization": "Bearer x", "accept": "json"},
        note=None,
        count=3,
    )
    record.name = f"bridge.{SECRET}"
    entry = json.loads(JsonFormatter(redactor).format(record))
    assert entry["request_id"] == "id-***" and entry["logger"] == "bridge.***"
    assert entry["api_key"] == "***"
    assert entry["headers"] == {"Authorization": "***", "accept": "json"}
    assert entry["count"] == 3 and "note" not in entry
    assert list(entry)[:5] == ["ts", "level", "logger", "message", "request_id"]


def test_uvicorns_server_lines_are_named_uvicorn_not_uvicorn_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """uvicorn logs 'Uvicorn running on ...' under `uvicorn.error`: an INFO line that read like
    an error in both formats."""
    from bridge.logs import setup_logging
    from bridge.settings import Settings

    root = logging.getLogger()
    before = (list(root.handlers), root.level)
    try:
        setup_logging(Settings(log_format="json", log_level="info"))
        logging.getLogger("uvicorn.error").info("Uvicorn running on http://127.0.0.1:8080")
        line = json.loads(capsys.readouterr().err.strip().splitlines()[-1])
        assert (line["logger"], line["level"]) == ("uvicorn", "info")
    finally:
        for handler in list(root.handlers):
            if getattr(handler, "_bridge_handler", False):
                root.removeHandler(handler)
        root.handlers[:0] = [h for h in before[0] if h not in root.handlers]
        root.setLevel(before[1])
