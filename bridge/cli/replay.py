"""`bridge replay`: stored notifications re-evaluated against the current rules, targeted.

Without targets it recreates the jobs of every matching action, as before. `--action` and
`--rule` (repeatable) keep only those actions' and rules' jobs, `--notification KEY` only that
notification's, `--since`/`--until` bound the time range. `--dry-run` lists each job it would
create (action, rule, notification, event) and creates none, so an operator sees exactly what
the real run will do. Every job created shares one request id, `replay-...`, printed at the end,
by which `bridge deliveries --request-id` and the admin API's `/deliveries?request_id=` find them.
"""

from __future__ import annotations

import argparse
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bridge.cli.common import CliError, load_rules
from bridge.cli.delivery_table import one_line
from bridge.cli.progress import progress
from bridge.config.errors import did_you_mean
from bridge.delivery.replaying import replay_batches, shortfall
from bridge.delivery.store import Store
from bridge.plan import PlannedJob

SHOWN_JOBS = 50
USAGE = 2  # the exit code of a command line that cannot be used, as argparse's own errors


def add_arguments(replay: argparse.ArgumentParser) -> None:
    replay.add_argument(
        "--since",
        metavar="WHEN",
        help="a duration back from now (30m, 2h, 3d) or a UTC time (2026-12-02T01:30); "
        "required unless --notification is given (then: the whole retention)",
    )
    replay.add_argument("--until", metavar="WHEN", help="the end of the range (default: now)")
    replay.add_argument(
        "--action",
        metavar="NAME",
        action="append",
        default=[],
        help="only jobs for this action (repeatable)",
    )
    replay.add_argument(
        "--rule",
        metavar="NAME",
        action="append",
        default=[],
        help="only this rule's jobs (repeatable)",
    )
    replay.add_argument(
        "--notification", metavar="KEY", help="only this stored notification (its key)"
    )
    replay.add_argument(
        "--config", metavar="FILE", help="rules file (default: $BRIDGE_CONFIG or rules.yaml)"
    )
    replay.add_argument(
        "--dry-run", action="store_true", help="list the jobs it would create, create none"
    )


@dataclass(frozen=True, slots=True)
class Target:
    since: Callable[[float], float] | None  # now -> the range's start
    until: Callable[[float], float] | None
    actions: frozenset[str]
    rules: frozenset[str]
    key: str | None


def when(option: str, raw: str | None) -> Callable[[float], float] | None:
    """A --since/--until value as a function of now: a duration back, or an absolute time."""
    from bridge.config import parse_duration
    from bridge.config.durations import DurationTooLong

    if raw is None:
        return None
    try:
        seconds = parse_duration(raw)
        return lambda now: now - seconds
    except DurationTooLong as exc:
        raise CliError(f"{option}: {exc}, got {raw!r}", USAGE) from None
    except ValueError:
        pass
    try:
        at = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise CliError(
            f"{option}: expected a duration such as 2h or a UTC time such as 2026-12-02T01:30, "
            f"got {raw!r}",
            USAGE,
        ) from None
    stamp = (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    return lambda now: stamp


def _checked(option: str, chosen: list[str], known: list[str], what: str) -> frozenset[str]:
    for name in chosen:
        if name not in known:
            hint = did_you_mean(name, known)
            raise CliError(f"{option}: the config has no {what} {name!r}{hint}")
    return frozenset(chosen)


def usable(args: argparse.Namespace) -> tuple[Callable[[float], float] | None, ...]:
    """The range the command line asks for, or its error (exit 2), before any file is read."""
    if args.since is None and args.notification is None:
        raise CliError("--since is required unless --notification names one notification", USAGE)
    return when("--since", args.since), when("--until", args.until)


def target(args: argparse.Namespace, config: Any) -> Target:
    since, until = usable(args)
    return Target(
        since=since,
        until=until,
        actions=_checked("--action", args.action, list(config.actions), "action"),
        rules=_checked("--rule", args.rule, [r.name for r in config.rules], "rule"),
        key=args.notification,
    )


def _describe(args: argparse.Namespace) -> str:
    """`in the last 1h`, `since 2026-12-02T01:30 until ...`, `of notification K`."""
    from bridge.config import parse_duration

    parts = []
    if args.notification:
        parts.append(f"of notification {args.notification}")
    if args.since:
        try:
            parse_duration(args.since)
            parts.append(f"in the last {args.since}")
        except ValueError:
            parts.append(f"since {args.since}")
    if args.until:
        parts.append(f"until {args.until}")
    return " ".join(parts)


def _line(job: PlannedJob) -> str:
    try:
        event = job.event.summary()
    except Exception:  # a stored event of any shape still gets a line
        event = "(an event that cannot be summarised)"
    # As `bridge deliveries` prints it: a stored name printed 4.9 MB lines, its URL credentials
    # and the secrets the config knows unredacted.
    event = one_line(event)
    return f"  {job.action} <- {job.rule}: {event} [notification {job.notification_key}]"


async def replay(store: Store, engine: Any, aim: Target, args: argparse.Namespace) -> str:
    now = store.clock.now()
    since = aim.since(now) if aim.since else now - store.retention_s
    until = aim.until(now) if aim.until else now
    if since > until:
        raise CliError("--since must be before --until", USAGE)
    request_id = f"replay-{uuid.uuid4().hex[:12]}"
    counts: dict[str, int] = {}
    shown: list[str] = []
    seen, planned, created = 0, 0, 0
    # Counted from `since` to now: an upper bound when --until ends the range sooner.
    stored = await store.count_notifications(since=since)
    with progress("replaying stored notifications", stored) as advance:
        batches = replay_batches(
            store,
            engine,
            since=since,
            until=until,
            key=aim.key,
            actions=aim.actions,
            rules=aim.rules,
        )
        async for part in batches:
            advance(part.read)
            seen += part.notifications
            for job in part.jobs:
                counts[job.action] = counts.get(job.action, 0) + 1
                if len(shown) < SHOWN_JOBS:
                    shown.append(_line(job))
            if part.jobs and not args.dry_run:
                planned += len(part.jobs)
                created += await store.enqueue(part.jobs, request_id=request_id)
    if aim.key is not None and seen == 0:
        raise CliError(f"no stored notification {aim.key!r} in that range")
    total = sum(counts.values())
    per_action = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items())) or "none"
    verb = "would create" if args.dry_run else "created"
    done = total if args.dry_run else created
    lines = [f"{seen} notification(s) {_describe(args)}: {verb} {done} job(s) ({per_action})"]
    if missing := shortfall(planned, created):
        lines.append(missing)
    if args.dry_run:
        lines += shown
        if total > len(shown):
            lines.append(f"  ... and {total - len(shown)} more")
    elif total:
        lines.append(f"request id {request_id}")
    return "\n".join(lines)


def run(args: argparse.Namespace, with_store: Callable[..., str]) -> int:
    from bridge.rules import RuleEngine

    usable(args)
    config = load_rules(args.config)
    aim = target(args, config)
    engine = RuleEngine(config)
    print(with_store(args, lambda store: replay(store, engine, aim, args)))
    return 0
