"""`bridge explain`: a dry run of the rules over one payload; nothing is stored or sent."""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from rich.console import Console
from rich.text import Text

from bridge import redaction
from bridge.cli.common import CliError
from bridge.config import Config
from bridge.events import Notification, PayloadError
from bridge.payloads import UnknownWebhook, parse_body, receiving_webhook
from bridge.rules import EventExplanation, RuleEngine

# Parts of `EventExplanation.to_text()` worth a colour: (pattern whose group 1 is styled, style).
STYLED_PARTS = [
    (re.compile(r"^(event): ", re.M), "bold"),
    (re.compile(r"^  (\[matched\])", re.M), "bold green"),
    (re.compile(r"^  (\[failed\])", re.M), "red"),
    (re.compile(r"^  (\[skipped\])", re.M), "yellow"),
    # A template error is the first line under its `->` line, before the inputs.
    (re.compile(r"^      -> .*\n         (error): ", re.M), "red"),
]


def explain(config: Config, body: bytes, *, webhook: str | None, as_json: bool) -> int:
    """Print the explanation; 0 whether or not anything matched (matching nothing is an answer)."""
    name = _webhook_name(config, webhook)
    try:
        notifications = parse_body(body, name)
    except PayloadError as exc:
        raise CliError(f"payload is not a Kontent.ai notification: {exc}") from None
    engine = RuleEngine(config)
    with engine.one_plan():  # the payload's regexes share one budget, as when it is received
        explained = [(n, engine.explain(n)) for n in notifications]
    if as_json:
        # Redacted as the text is: the payload's own values (an event name holding a URL with
        # user info, a configured secret) were printed as they were; the inputs already were.
        print(redaction.redact(json.dumps(_as_json(name, explained), indent=2, ensure_ascii=False)))
    else:
        _print_text(name, explained)
    return 0


def _webhook_name(config: Config, requested: str | None) -> str | None:
    try:
        return receiving_webhook([w.name for w in config.webhooks], requested)
    except UnknownWebhook as exc:
        raise CliError(str(exc), code=2) from None


def _as_json(
    webhook: str | None, explained: list[tuple[Notification, list[EventExplanation]]]
) -> dict[str, Any]:
    return {
        "webhook": webhook,
        "notifications": [
            {"key": n.key, "format": n.format, "events": [e.to_json() for e in events]}
            for n, events in explained
        ],
        "jobs": sum(e.jobs for _, events in explained for e in events),
    }


def _print_text(
    webhook: str | None, explained: list[tuple[Notification, list[EventExplanation]]]
) -> None:
    console = Console(file=sys.stdout, highlight=False, soft_wrap=True)
    total = 0
    for _notification, events in explained:
        for event in events:
            total += event.jobs
            console.print(_styled(redaction.redact(event.to_text())))
    if not explained:
        console.print("no notifications in the payload")
    console.print(f"{total} job(s) would be created (webhook {webhook!r}); nothing was sent.")


def _styled(text: str) -> Text:
    """Colour the plain explanation for a terminal; as a Text, rule names need no escaping."""
    styled = Text(text)
    for pattern, style in STYLED_PARTS:
        for match in pattern.finditer(text):
            styled.stylize(style, match.start(1), match.end(1))
    return styled
