"""Log formats (JSON lines, readable text), the request id context, and secret redaction.

A webhook request gets a request id (`request_id_var`), which the receiver stores with the
notification and its jobs; a worker sets it again (with `delivery_id_var`) while it runs a job,
so one grep follows a notification from receipt to its last attempt. Secret values from the
loaded config are replaced by `***` in every line, whatever logged them: the formatters redact
their own output, so a secret in a message, an argument, an extra field or a traceback is gone.
Extra fields also get the key rule (a `token=` or `X-Api-Key` field is hidden whole); both rules
are bridge.redaction's, the same that explain, the admin API and the dashboard apply.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import IO, Any, Literal

import orjson

# The one redaction policy lives in bridge.redaction; these names stay importable from here.
from bridge.redaction import REDACTED as REDACTED
from bridge.redaction import Redactor as Redactor
from bridge.redaction import is_secret_key
from bridge.redaction import redactor as redactor
from bridge.redaction import secrets_of as secrets_of

looks_secret = is_secret_key

request_id_var: ContextVar[str | None] = ContextVar("bridge_request_id", default=None)
delivery_id_var: ContextVar[str | None] = ContextVar("bridge_delivery_id", default=None)

# The attributes every LogRecord has; anything else was passed with `extra=`.
_STANDARD_ATTRS = frozenset(
    logging.LogRecord("", 0, "", 0, "", (), None).__dict__.keys()
    | {"message", "asctime", "taskName"}
)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def _timestamp(record: logging.LogRecord) -> str:
    """`2026-12-02T01:09:43.950Z`: the second's text is built once per second, not per line."""
    global _second_text
    second = int(record.created)
    micros = round((record.created - second) * 1e6)  # as datetime.fromtimestamp rounds
    if micros >= 1_000_000:
        second, micros = second + 1, micros - 1_000_000
    cached_second, text = _second_text
    if second != cached_second:
        moment = datetime.fromtimestamp(second, UTC)
        text = moment.strftime("%Y-%m-%dT%H:%M:%S")
        _second_text = (second, text)
    return f"{text}.{micros // 1000:03d}Z"


_second_text: tuple[int, str] = (-1, "")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD_ATTRS}


_LEVEL_NAMES = {name: name.lower() for name in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")}
# Built once: json.dumps with non-default arguments builds a new encoder on every call.
_standard_line = json.JSONEncoder(default=str, ensure_ascii=False).encode


def _encode_line(entry: dict[str, Any]) -> str:
    """orjson, a few times faster (one line per accepted webhook); what it refuses (an integer
    past 64 bits, a lone surrogate) the standard encoder writes."""
    try:
        return orjson.dumps(entry, default=str).decode()
    except TypeError:  # orjson.JSONEncodeError is one
        return _standard_line(entry)


def _ids(record: logging.LogRecord) -> dict[str, str | None]:
    return {
        "request_id": getattr(record, "request_id", None) or request_id_var.get(),
        "delivery_id": getattr(record, "delivery_id", None) or delivery_id_var.get(),
    }


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, delivery_id, extras."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redact or redactor

    def format(self, record: logging.LogRecord) -> str:
        # One line per accepted webhook goes through here, so it is kept short: the standard
        # keys are not credential names, so only their string values are redacted, and the key
        # rule walks the extras alone (the same result as redacting the whole entry).
        redact = self.redactor.redact
        entry: dict[str, Any] = {
            "ts": _timestamp(record),
            "level": _LEVEL_NAMES.get(record.levelname) or record.levelname.lower(),
            "logger": redact(record.name),
            "message": redact(record.getMessage()),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id is not None:
            entry["request_id"] = redact(request_id) if type(request_id) is str else request_id
        delivery_id = getattr(record, "delivery_id", None) or delivery_id_var.get()
        if delivery_id is not None:
            entry["delivery_id"] = redact(delivery_id) if type(delivery_id) is str else delivery_id
        extras = {k: v for k, v in _extras(record).items() if k not in entry and v is not None}
        if extras:
            entry.update(self.redactor.redact_value(extras))
        if record.exc_info:
            entry["exc"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            entry["exc"] = redact(record.exc_text)
        return _encode_line(entry)


class TextFormatter(logging.Formatter):
    """For a terminal: `12:00:01.123 INFO  bridge.receiver  message  key=value [request-id]`."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.redactor = redact or redactor

    def format(self, record: logging.LogRecord) -> str:
        message = _one_line(record.getMessage())
        parts = [_timestamp(record), f"{record.levelname:<7}", record.name, message]
        fields = {**_extras(record), **{k: v for k, v in _ids(record).items() if v}}
        fields = self.redactor.redact_value(fields)
        if fields:
            parts.append(" ".join(f"{k}={_text_value(v)}" for k, v in fields.items()))
        line = "  ".join(parts)
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return self.redactor.redact(line)


def _text_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if " " in text or not text or _CONTROL.search(text):
        return json.dumps(text)
    return text


# Line breaks and other control characters, as a payload field could carry them into a message:
# in a text log they would start a line that looks like one the bridge wrote.
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029\x85]")


def _one_line(text: str) -> str:
    """A message on one line: control characters are shown escaped (`\\n`), never written."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: json.dumps(m.group())[1:-1], text)


def formatter_for(fmt: Literal["json", "text"] | str) -> logging.Formatter:
    return TextFormatter() if fmt == "text" else JsonFormatter()


def default_format(stream: IO[str] | None = None) -> Literal["json", "text"]:
    """Text on a terminal, JSON lines otherwise (a container's log collector)."""
    target = stream or sys.stderr
    return "text" if hasattr(target, "isatty") and target.isatty() else "json"


def configure(
    fmt: str | None = None, level: str | int = "INFO", stream: IO[str] | None = None
) -> logging.Handler:
    """Install one handler on the root logger with the chosen format (for `bridge serve`)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(formatter_for(fmt or default_format(stream)))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_bridge_handler", False):
            root.removeHandler(old)
    handler._bridge_handler = True  # type: ignore[attr-defined]
    # Neither format shows where a line was logged from, nor the process or thread: skipping
    # that (the logging HOWTO's "Optimization" section) is a third of each record's cost,
    # and `bridge serve` writes one record per accepted webhook.
    logging._srcfile = None  # no frame walk in findCaller
    logging.logMultiprocessing = False
    logging.logProcesses = False
    root.addHandler(handler)
    root.setLevel(level.upper() if isinstance(level, str) else level)
    return handler
