"""Logging set-up for the `bridge` processes; the formats themselves live in bridge.logformat."""

from __future__ import annotations

import logging

from bridge.logformat import configure
from bridge.settings import Settings

# uvicorn installs its own handlers; ours must be the only ones so every line has one format.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


def setup_logging(settings: Settings) -> None:
    """One root handler in BRIDGE_LOG_FORMAT at BRIDGE_LOG_LEVEL; uvicorn's records join it."""
    handler = configure(settings.log_format, settings.log_level)
    handler.addFilter(_drop_color_message)
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    # On the logger, not the handler: only uvicorn's own lines pay for it, not one per webhook.
    server = logging.getLogger("uvicorn.error")
    if _server_logger_name not in server.filters:
        server.addFilter(_server_logger_name)
    # One line per request is the access log's job elsewhere; ours logs what it accepted.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


def _drop_color_message(record: logging.LogRecord) -> bool:
    """uvicorn attaches an ANSI-coloured copy of its message; our formats have their own."""
    record.__dict__.pop("color_message", None)
    return True


def _server_logger_name(record: logging.LogRecord) -> bool:
    """uvicorn logs its server's own lines ("Started server process", "Uvicorn running on")
    under `uvicorn.error`, whatever their level: named `uvicorn` in both formats, an INFO line
    no longer reads as an error (logthrottle watches `uvicorn` and its children alike)."""
    if record.name == "uvicorn.error":
        record.name = "uvicorn"
    return True
