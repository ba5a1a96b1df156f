"""What every command group shares: one-line errors, reading payloads, settings."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any, BinaryIO

from bridge import redaction
from bridge.config import Config, ConfigError, load_config
from bridge.settings import DEFAULT_CONFIG, DEFAULT_MAX_BODY_BYTES, Settings, SettingsError


class CliError(Exception):
    """A failure a person can act on; `main` prints it on one line and exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


EXAMPLES_HEADING = "examples:"


def examples(*lines: str) -> dict[str, Any]:
    """`add_parser` keywords for a command's help to end with `lines` as written, one a line
    (argparse reflows an epilog into one paragraph); the description is reflowed as before."""
    return {
        "epilog": "\n".join((EXAMPLES_HEADING, *(f"  {line}" for line in lines))),
        "formatter_class": ExamplesFormatter,
    }


class ExamplesFormatter(argparse.HelpFormatter):
    """Reflows a description to the terminal's width, and prints the examples epilog as is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith(EXAMPLES_HEADING):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class PayloadTooLarge(OSError):
    """A payload file past the webhook's body limit (the strerror says so)."""


def read_bounded(stream: BinaryIO, limit: int = DEFAULT_MAX_BODY_BYTES) -> bytes:
    """At most `limit` bytes, as the webhook would take them: a larger payload (or /dev/zero,
    a pipe that never ends) is refused after reading one byte past the limit."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(
            0, f"larger than {limit} bytes, the largest body a webhook takes by default"
        )
    return data


def read_payload(source: str) -> bytes:
    """The exact bytes of a file, or of stdin for `-` (signatures cover the raw bytes)."""
    try:
        if source == "-":
            return read_bounded(sys.stdin.buffer)
        with Path(source).open("rb") as file:
            return read_bounded(file)
    except FileNotFoundError:
        raise CliError(f"payload file not found: {source}") from None
    except OSError as exc:
        raise CliError(f"cannot read payload file {source}: {exc.strerror}") from None


def settings_from_env() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise CliError(str(exc)) from None


def load_rules(option: str | None) -> Config:
    """The rules file named by --config, else by BRIDGE_CONFIG (as Settings reads it), else
    rules.yaml here: that default missing is said as such, with how to name the file, rather
    than as a file that cannot be read at line 1."""
    named = option or (os.environ.get("BRIDGE_CONFIG") or "").strip()
    if not named and not Path(DEFAULT_CONFIG).exists():
        raise CliError(
            f"no {DEFAULT_CONFIG} in {Path.cwd()}, the rules file used when none is named: "
            "pass --config FILE or set BRIDGE_CONFIG"
        )
    return load(named or DEFAULT_CONFIG)


def load(path: str | Path, *, error_code: int = 1) -> Config:
    """The config, or a CliError (exiting `error_code`) listing every issue, one per line."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise CliError(f"{path}: {len(exc.issues)} error(s):\n{exc}", error_code) from None
    # What a command prints or logs (explain's inputs, a delivery's response) hides its secrets.
    redaction.redactor.set_secrets(redaction.secrets_of(config))
    return config


def undecodable(text: str) -> str | None:
    """Why `text` (an argument or an environment value) is not UTF-8 text, or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        char = ord(text[exc.start])
        byte = f" (byte 0x{char - 0xDC00:02x})" if 0xDC80 <= char <= 0xDCFF else ""
        return f"is not UTF-8 text{byte}"
    return None
