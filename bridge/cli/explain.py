"""`bridge explain`: a dry run of the rules over one payload; nothing is stored or sent."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape

from bridge.cli.common import CliError
from bridge.config import Config
from bridge.events import Notification, PayloadError, parse_body
from bridge.rules import EventExplanation, RuleEngine

OUTCOME_STYLES = {"matched": "bold green", "failed": "red", "skipped": "yellow"}


def explain(config: Config, body: bytes, *, webhook: str | None, as_json: bool) -> int:
    """Print the explanation; 0 whether or not anything matched (matching nothing is an answer)."""
    name = _webhook_name(config, webhook)
    try:
        notifications = parse_body(body, name)
    except PayloadError as exc:
        raise CliError(f"payload is not a Kontent.ai notification: {exc}") from None
    engine = RuleEngine(config)
    explained = [(n, engine.explain(n)) for n in notifications]
    if as_json:
        print(json.dumps(_as_json(name, explained), indent=2, ensure_ascii=False))
    else:
        _print_text(name, explained)
    return 0


def _webhook_name(config: Config, requested: str | None) -> str | None:
    if requested is None:
        return config.webhooks[0].name if config.webhooks else None
    if config.webhook(requested) is None:
        known = ", ".join(w.name for w in config.webhooks) or "none"
        raise CliError(f"no webhook named {requested!r} (configured: {known})", code=2)
    return requested


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
            console.print(f"[bold]event[/bold]: {escape(event.event.summary())}")
            for rule in event.rules:
                _print_rule(console, rule)
    if not explained:
        console.print("no notifications in the payload")
    console.print(f"{total} job(s) would be created (webhook {webhook!r}); nothing was sent.")


def _print_rule(console: Console, rule: Any) -> None:
    style = OUTCOME_STYLES.get(rule.outcome, "")
    label = f"[{style}]\\[{rule.outcome}][/{style}]" if style else f"\\[{rule.outcome}]"
    if not rule.matched:
        console.print(f"  {label} {escape(rule.rule)}: {escape(str(rule.reason))}")
        return
    console.print(f"  {label} {escape(rule.rule)}" + ("  (stop)" if rule.stop else ""))
    for item in rule.do:
        parked = "" if item.enabled else " (disabled: jobs are parked)"
        console.print(f"      -> {escape(item.action)} ({escape(item.type)}){parked}")
        if item.error:
            console.print(f"         [red]error[/red]: {escape(item.error)}")
        for key, value in item.inputs.items():
            console.print(f"         {escape(str(key))}: {escape(repr(value))}")
