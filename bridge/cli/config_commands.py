"""`bridge check` and `bridge explain`: what a config means, before it meets real traffic."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from bridge.cli.common import examples, load, read_payload

# A legacy webhook can always be sent Management API (workflow) triggers, whose payloads carry ids.
MANAGEMENT_KEY_NOTE = (
    "note: no kontent.environments.<id>.management_api_key is configured: legacy workflow "
    "notifications (Management API triggers) name the language and workflow steps by id, so "
    "their workflow_step, previous_workflow_step and language stay ids and rules on codenames "
    "do not match them (current-format webhooks are not affected)"
)


def register(subparsers: Any) -> None:
    check = subparsers.add_parser(
        "check",
        help="validate a rules file and print every error at once",
        description="Load CONFIG as `bridge serve` would. Prints 'OK: ...' and any warnings, "
        "or every error as file:line:col: path: message and exits 1.",
        **examples("bridge check rules.yaml", "bridge check rules.yaml && bridge serve"),
    )
    check.add_argument("config", metavar="CONFIG", help="the rules file, e.g. rules.yaml")
    check.set_defaults(func=run_check)

    explain = subparsers.add_parser(
        "explain",
        help="dry run: which rules a payload matches and what each action would receive",
        description="Parse PAYLOAD as the webhook --webhook NAME (or the first) would, and show "
        "for each event each rule that matched or the first condition that failed, with the "
        "rendered action inputs (secrets redacted). Nothing is stored or sent.",
        **examples(
            "bridge explain rules.yaml payload.json",
            "bridge explain --webhook staging rules.yaml payload.json",
            "bridge explain --json rules.yaml - < payload.json",
        ),
    )
    explain.add_argument("config", metavar="CONFIG", help="the rules file")
    explain.add_argument("payload", metavar="PAYLOAD", help="a JSON file, or - for stdin")
    explain.add_argument("--json", action="store_true", help="print JSON instead of text")
    explain.add_argument(
        "--webhook", metavar="NAME", help="the receiving webhook (default: the first configured)"
    )
    explain.set_defaults(func=run_explain)


def run_check(args: argparse.Namespace) -> int:
    config = load(args.config)
    for warning in config.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    if config.webhooks and not any(
        env.management_api_key for env in config.kontent.environments.values()
    ):
        print(MANAGEMENT_KEY_NOTE, file=sys.stderr)
    sources = f", {len(config.sources)} sources" if config.sources else ""
    print(
        f"OK: {len(config.webhooks)} webhooks, {len(config.actions)} actions, "
        f"{len(config.rules)} rules{sources}"
    )
    return 0


def run_explain(args: argparse.Namespace) -> int:
    from bridge.cli.explain import explain

    config = load(args.config)
    return explain(config, read_payload(args.payload), webhook=args.webhook, as_json=args.json)
