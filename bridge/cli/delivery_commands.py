"""`bridge deliveries`, `retry`, `reset`, `disable`, `enable`, `replay` and `db upgrade`.

Each command opens the store named by --db or BRIDGE_DB (default sqlite:///data/bridge.db);
`replay` also loads the rules from --config or BRIDGE_CONFIG (default rules.yaml).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console

from bridge.admin import params, present
from bridge.admin.search import DeliverySearch
from bridge.cli.common import CliError, examples, load
from bridge.cli.delivery_table import print_deliveries
from bridge.config.errors import did_you_mean
from bridge.delivery.clock import SystemClock
from bridge.delivery.model import ActionState, DeliveryRow, LogFilter
from bridge.delivery.opening import open_store, sqlite_path
from bridge.delivery.store import Store, StoreError
from bridge.settings import SettingsError, database_url

T = TypeVar("T")
DEFAULT_DB = "sqlite:///data/bridge.db"
ACTION_HELP = "the action's name, as rules.yaml and `bridge deliveries` give it"


def register(subparsers: Any) -> None:
    _add_deliveries(subparsers)
    _add_job_commands(subparsers)
    _add_replay(subparsers)
    _add_db(subparsers)


def _add_deliveries(subparsers: Any) -> None:
    deliveries = subparsers.add_parser(
        "deliveries",
        help="the delivery log: newest first, with attempts and the latest response",
        description="List jobs of the last 3 days (and every unfinished or dead one), newest "
        "first, three lines each: state, attempts, latest and next attempt (UTC) and action; the "
        "latest status with the error and what came back; the rule and the event. Parked jobs "
        "(of a disabled action) show as parked.",
        **examples(
            "bridge deliveries --active-failures",
            "bridge deliveries --action content-team --limit 10",
            "bridge deliveries --failures --json",
            "bridge deliveries --request-id replay-3f2a9c1d0b7e",
        ),
    )
    _db_option(deliveries)
    deliveries.add_argument("--action", metavar="NAME", help="only this action's jobs")
    which = deliveries.add_mutually_exclusive_group()
    which.add_argument("--failures", action="store_true", help="jobs that failed at any attempt")
    which.add_argument(
        "--active-failures", action="store_true", help="jobs whose latest attempt failed"
    )
    deliveries.add_argument(
        "--request-id",
        metavar="ID",
        help="only the jobs one request created: its request_id in the log, or the replay-... "
        "id `bridge replay` prints",
    )
    deliveries.add_argument(
        "--json",
        action="store_true",
        help="print JSON in the admin API's form (times as ISO 8601 UTC) instead of text",
    )
    deliveries.add_argument("--limit", type=_positive_int, default=50, help="rows (default 50)")
    deliveries.set_defaults(func=run_deliveries)


def _add_job_commands(subparsers: Any) -> None:
    """retry, reset, disable and enable: the operator's levers on one job or one action."""
    retry = subparsers.add_parser(
        "retry",
        help="retry a failing or dead job now",
        description="Make job JOB (and the jobs coalesced with it) due now, restarting its "
        "retry schedule. Works for failing (retrying) and dead jobs.",
        **examples("bridge retry 42", "bridge retry kb-42"),
    )
    _db_option(retry)
    retry.add_argument(
        "job",
        metavar="JOB",
        type=_job_id,
        help="the job id: the JOB column of `bridge deliveries`, or the delivery id the log and "
        "the dashboard name (job 42 is kb-42)",
    )
    retry.set_defaults(func=run_retry)

    reset = subparsers.add_parser(
        "reset",
        help="retry an action's oldest failed job now and restart its retry schedule",
        description="Like Kontent.ai's webhook reset: the oldest failing or dead job of ACTION "
        "is retried at once and its schedule starts over at the first delay.",
        **examples("bridge reset content-team"),
    )
    _db_option(reset)
    reset.add_argument("action", metavar="ACTION", help=ACTION_HELP)
    reset.set_defaults(func=run_reset)

    switches = (
        (
            "disable",
            False,
            "park an action's jobs (kept, not deleted)",
            "Park ACTION: its pending jobs and the new ones are kept, not run, until `bridge "
            "enable ACTION` resumes them in creation order. Nothing is deleted.",
        ),
        (
            "enable",
            True,
            "resume a disabled action's jobs, in order",
            "Resume the jobs `bridge disable ACTION` parked, in creation order. An action with "
            "`enabled: false` in the rules file stays parked until the file changes.",
        ),
    )
    for name, enabled, summary, description in switches:
        parser = subparsers.add_parser(
            name,
            help=summary,
            description=description,
            **examples(f"bridge {name} content-team"),
        )
        _db_option(parser)
        parser.add_argument("action", metavar="ACTION", help=ACTION_HELP)
        parser.set_defaults(func=run_set_enabled, enabled=enabled)


def _add_replay(subparsers: Any) -> None:
    from bridge.cli import replay as replay_command

    replay = subparsers.add_parser(
        "replay",
        help="re-evaluate stored notifications against the current rules",
        description="Run stored notifications (a time range, or one by --notification) through "
        "the current rules again and create new jobs for the matches, only for the chosen "
        "--action/--rule when given (redelivery dedupe is bypassed). --dry-run lists the jobs "
        "it would create.",
        **examples(
            "bridge replay --since 2h --dry-run",
            "bridge replay --since 2026-12-02T01:30 --until 2026-12-02T03:00 --action search",
            "bridge replay --notification KEY --rule announce-articles",
        ),
    )
    _db_option(replay)
    replay_command.add_arguments(replay)
    replay.set_defaults(func=run_replay)


def _add_db(subparsers: Any) -> None:
    db = subparsers.add_parser(
        "db",
        help="database maintenance",
        description="Database tasks.",
        **examples("bridge db upgrade"),
    )
    db_commands = db.add_subparsers(dest="db_command", metavar="TASK", title="tasks")
    db_commands.required = True
    upgrade = db_commands.add_parser(
        "upgrade",
        help="apply pending schema migrations",
        description="Create the database if needed and apply pending migrations.",
        **examples("bridge db upgrade", "bridge db upgrade --db postgresql://bridge@db/bridge"),
    )
    _db_option(upgrade)
    upgrade.set_defaults(func=run_upgrade)


# -- commands ----------------------------------------------------------------------------------


def run_deliveries(args: argparse.Namespace) -> int:
    which: LogFilter = (
        "failures" if args.failures else "active_failures" if args.active_failures else "all"
    )

    async def read(store: Store) -> tuple[list[DeliveryRow], list[ActionState], float]:
        if args.request_id is None:
            rows = await store.deliveries(action=args.action, filter=which, limit=args.limit)
        else:
            # The admin API's ?request_id= (the dashboard's search): the same query.
            search = DeliverySearch(action=args.action, filter=which, request_id=args.request_id)
            rows = await store.search_deliveries(search, limit=args.limit)
        return rows, await store.action_states(), store.clock.now()

    rows, states, now = _with_store(args, read)
    disabled = {state.name for state in states if not state.enabled}
    # Loading the config (when there is one) also teaches the redactor its secrets.
    configured = _config_actions()
    off_in_config = {n for n, a in configured.items() if not a.delivery.enabled}
    if args.json:
        # The admin API's form: `*_at` as ISO 8601 UTC, secrets redacted.
        print(json.dumps([present.plain(row) for row in rows], indent=2))
    elif not rows and args.action:
        known = [state.name for state in states] + list(configured)
        print(f"no deliveries for action {args.action!r}" + _unknown(args.action, known))
    elif not rows:
        print("no deliveries" + (f" for request {args.request_id!r}" if args.request_id else ""))
    else:
        print_deliveries(_console(), rows, parked_actions=disabled | off_in_config, now=now)
    return 0


def _console() -> Console:
    """The terminal's width (COLUMNS when set); piped without COLUMNS, lines are not cut."""
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").strip().isdigit():
        return Console(highlight=False)
    return Console(width=100_000, highlight=False)


def run_retry(args: argparse.Namespace) -> int:
    async def retry(store: Store) -> str:
        job = await store.job(args.job)
        if job is None:
            raise CliError(f"no job {args.job}")
        if not await store.retry_job(args.job):
            raise CliError(f"job {args.job} is {job.state}: only failing or dead jobs are retried")
        return f"job {args.job} ({job.action}) will be retried now"

    print(_with_store(args, retry))
    return 0


def run_reset(args: argparse.Namespace) -> int:
    async def reset(store: Store) -> str:
        await _known_action(store, args.action)
        if await store.reset_action(args.action):
            return f"action {args.action!r}: oldest failed job retried now, schedule restarted"
        return f"action {args.action!r} has no failing or dead job: nothing to reset"

    print(_with_store(args, reset))
    return 0


def run_set_enabled(args: argparse.Namespace) -> int:
    async def switch(store: Store) -> str:
        await _known_action(store, args.action)
        await store.set_enabled(args.action, args.enabled)
        if args.enabled:
            configured = _config_actions().get(args.action)
            if configured is not None and not configured.delivery.enabled:
                return (
                    f"action {args.action!r} enabled in the store, but the config says "
                    "`enabled: false`: its jobs stay parked until the config changes"
                )
            return f"action {args.action!r} enabled: parked jobs resume in order"
        return f"action {args.action!r} disabled: its jobs are parked (kept) until enabled"

    print(_with_store(args, switch))
    return 0


def run_replay(args: argparse.Namespace) -> int:
    from bridge.cli import replay

    return replay.run(args, _with_store)


def run_upgrade(args: argparse.Namespace) -> int:
    applied = _with_store(args, _applied, create=True)
    print("applied " + ", ".join(applied) if applied else "database is up to date")
    return 0


async def _applied(store: Store) -> list[str]:
    return list(store.migrations_applied)


# -- helpers -----------------------------------------------------------------------------------


def _db_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--db",
        metavar="URL",
        help=f"database URL (default: BRIDGE_DB, the file BRIDGE_DB_FILE names, or {DEFAULT_DB})",
    )


def _job_id(text: str) -> int:
    # The admin routes' parser: `42` or `kb-42` (any case), at most the stores' 64-bit maximum;
    # the blanks around a pasted id are trimmed here (a URL path keeps ` 1` as no job).
    value = params.job_id(text.strip())
    if value is None:
        raise argparse.ArgumentTypeError(
            f"expected a job id: a whole number from 1 to {params.MAX_ID}, or kb-N as the log "
            f"names it, got {text[:40]!r}"
        )
    return value


def _positive_int(text: str) -> int:
    # The admin API's parser: ASCII digits, at most the stores' 64-bit maximum (int() took
    # `٣` and `1_000`, and a 20-digit job id overflowed SQLite's INTEGER with a traceback).
    value = params.whole_number(text.strip())
    if value is None or value < 1:
        raise argparse.ArgumentTypeError(
            f"expected a whole number from 1 to {params.MAX_ID}, got {text[:40]!r}"
        )
    return value


def _with_store(
    args: argparse.Namespace, work: Callable[[Store], Awaitable[T]], *, create: bool = False
) -> T:
    """Open the store, run `work`, close it; store failures become one-line CLI errors."""
    try:
        url = args.db or database_url()
        if url.startswith("sqlite:") and not create and not Path(sqlite_path(url)).exists():
            raise CliError(
                f"no database at {sqlite_path(url)} (set BRIDGE_DB or --db; "
                "`bridge db upgrade` creates one)"
            )
        store = open_store(url, SystemClock())
    except (StoreError, SettingsError) as exc:
        raise CliError(str(exc)) from None

    async def run() -> T:
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreError as exc:
        raise CliError(str(exc)) from None


def _config_actions() -> dict[str, Any]:
    """The actions of the current config, if it loads (these commands do not need it)."""
    path = os.environ.get("BRIDGE_CONFIG") or "rules.yaml"
    if not Path(path).exists():
        return {}
    try:
        return dict(load(path).actions)
    except CliError:
        return {}


def _unknown(name: str, known: list[str]) -> str:
    """`: no action has that name (did you mean ...?)` for a name neither the store nor the
    config knows (an empty list is most likely a typo), else nothing."""
    if name in known:
        return ""
    return ": no action has that name" + did_you_mean(name, known)


async def _known_action(store: Store, name: str) -> None:
    """An action the store has never seen is most likely a typo: say so, with a suggestion."""
    names = [state.name for state in await store.action_states()]
    if name in names:
        return
    names += list(_config_actions())
    if name in names:
        return
    raise CliError(f"unknown action {name!r}{did_you_mean(name, names)}")
