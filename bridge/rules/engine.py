"""The rules engine: notifications in, planned jobs out, in rule order, honouring `stop`.

A regex condition given up on (bridge/config/timed_regex.py) fails its rule for that event; the
notification is still accepted and stored (`bridge replay` runs it again once the regex is
fixed), and `plan` says so in a warning naming the rule and the condition, never the text. Each
`plan`, `explain` and `matching` is one plan's regex budget (timed_regex.plan_budget): past it,
the matches left are given up unrun, and `plan` warns once with how many.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from bridge.config.model import Config, DoItem, Rule
from bridge.config.timed_regex import (
    MATCH_TIMEOUT_S,
    PLAN_REGEX_BUDGET_S,
    RegexBudgetSpent,
    RegexTimeout,
    budget,
    plan_budget,
)
from bridge.events import Event, Notification
from bridge.plan import PlannedJob
from bridge.rules.explain import DoExplanation, EventExplanation, RuleExplanation
from bridge.rules.index import RuleIndex
from bridge.rules.matchers import (
    Predicate,
    compile_when,
    compile_wheres,
    gave_up,
    has_regex,
    why_not,
)
from bridge.rules.paths import Found
from bridge.templates import TemplateError, batch_context, redact, render_options

log = logging.getLogger("bridge.rules")

# The regex time a plan may take on the event loop (one match's bound): past it, `plan_async`
# plans again in a worker thread, where the `regex` engine lets the loop run while it matches.
INLINE_REGEX_BUDGET_S = MATCH_TIMEOUT_S
Timeouts = list[tuple[int, RegexTimeout]]  # positions of rules whose regex was given up, and how


class RuleEngine:
    """Built once per config; `plan` is pure and cheap enough to run inside a request.

    `indexed=False` evaluates every rule for every event: the baseline the benchmark compares
    against, and the reference the index is tested against.
    """

    def __init__(
        self,
        config: Config,
        *,
        indexed: bool = True,
        on_regex_timeout: Callable[[str], None] | None = None,  # gets the rule's name
    ) -> None:
        self.config = config
        self._on_regex_timeout = on_regex_timeout
        self.rules: tuple[Rule, ...] = config.rules
        self._index = RuleIndex.build(self.rules) if indexed else None
        exact = self._index.exact if self._index is not None else set()
        # None: the index's lookup already proved the rule matches (bridge/rules/index.py).
        self._whens: list[Predicate | None] = [
            None if position in exact else compile_when(rule.when)
            for position, rule in enumerate(self.rules)
        ]
        self._wheres = [compile_wheres(rule) for rule in self.rules]
        self._stops = [rule.stop for rule in self.rules]
        self._calls = [
            tuple((item.action, rule.name, item.inputs) for item in rule.do) for rule in self.rules
        ]
        self._everything = range(len(self.rules))
        # Without a regex no match can take long: `plan` then skips the budgets (1 us a call).
        self._regexes = any(has_regex(rule) for rule in self.rules)

    def one_plan(self) -> AbstractContextManager[object]:
        """Inside, the calls of `matching` and `explain` share one plan's regex budget, as the
        events of one request do in `plan` (`bridge explain` of a payload, a `bridge test` case)."""
        return plan_budget()

    def matching(self, event: Event) -> list[Rule]:
        """The rules that run for `event`, in order, stopping after a matching `stop: true`."""
        with plan_budget():
            return [self.rules[position] for position in self._matching(event, [])]

    def _matching(self, event: Event, timeouts: Timeouts) -> list[int]:
        found: Found = {}  # the `where` paths read for this event, shared by index and rules
        candidates: Iterable[int] = (
            self._index.candidates(event, found) if self._index is not None else self._everything
        )
        matched: list[int] = []
        whens, wheres, stops = self._whens, self._wheres, self._stops
        for position in candidates:
            when = whens[position]
            if when is not None:
                try:
                    if not when(event):
                        continue
                    where = wheres[position]
                    if where is not None and not where(event.raw, found):
                        continue
                except RegexTimeout as exc:
                    timeouts.append((position, exc))
                    continue
            matched.append(position)
            if stops[position]:
                break
        return matched

    def plan(
        self, notifications: Sequence[Notification], *, regex_budget_s: float | None = None
    ) -> list[PlannedJob]:
        """One job per (matching rule, do item, event); `inputs` stay unrendered.

        With `regex_budget_s`, RegexBudgetSpent once the regexes have taken that long in all;
        nothing is reported then, as the caller plans again."""
        timeouts: Timeouts = []
        if not self._regexes:
            return self._plan(notifications, timeouts)
        with plan_budget():
            if regex_budget_s is None:
                jobs = self._plan(notifications, timeouts)
            else:
                with budget(regex_budget_s):
                    jobs = self._plan(notifications, timeouts)
        if timeouts:
            self._report(timeouts)
        return jobs

    async def plan_async(
        self, notifications: Sequence[Notification], *, large: bool = False
    ) -> list[PlannedJob]:
        """`plan`, holding the event loop for little: inline (a thread hop costs more than a
        small plan), or in a worker thread for a `large` body or once the regexes of the inline
        attempt take INLINE_REGEX_BUDGET_S, so crafted texts cost the loop one match's bound."""
        if not large:
            try:
                return self.plan(notifications, regex_budget_s=INLINE_REGEX_BUDGET_S)
            except RegexBudgetSpent:
                pass
        return await asyncio.to_thread(self.plan, notifications)

    def _plan(self, notifications: Sequence[Notification], timeouts: Timeouts) -> list[PlannedJob]:
        jobs: list[PlannedJob] = []
        calls = self._calls
        for notification in notifications:
            key = notification.key
            for event in notification.events:
                for position in self._matching(event, timeouts):
                    for action, rule, inputs in calls[position]:
                        jobs.append(PlannedJob(action, rule, key, event, inputs))
        return jobs

    def _report(self, timeouts: Timeouts) -> None:
        unrun: dict[int, int] = {}  # rule's position -> matches given up unrun (budget spent)
        for position, timeout in timeouts:
            rule = self.rules[position]
            if self._on_regex_timeout is not None:
                self._on_regex_timeout(rule.name)
            if timeout.unrun:
                unrun[position] = unrun.get(position, 0) + 1
                continue
            log.warning(
                "rule %r did not run for an event: %s (the notification is stored: bridge replay "
                "plans it again once the regex is fixed)",
                rule.name,
                gave_up(rule, timeout),
            )
        if unrun:
            rules = ", ".join(
                f"{self.rules[position].name!r} ({unrun[position]})" for position in sorted(unrun)
            )
            log.warning(
                "%d regex match(es) given up without running: the slow regex matches of the same "
                "batch had already taken %g s, all one batch may take; rules %s did not run for "
                "those events (the notifications are stored: bridge replay plans them again)",
                sum(unrun.values()),
                PLAN_REGEX_BUDGET_S,
                rules,
            )

    def explain(self, notification: Notification) -> list[EventExplanation]:
        """For each event, each rule: matched (with rendered, redacted inputs) or why not."""
        with plan_budget():
            return [self._explain_event(event) for event in notification.events]

    def _explain_event(self, event: Event) -> EventExplanation:
        results: list[RuleExplanation] = []
        stopped_by: str | None = None
        for rule in self.rules:
            if stopped_by is not None:
                reason = f"skipped: rule {stopped_by!r} matched and says stop: true"
                results.append(RuleExplanation(rule.name, "skipped", reason, stop=rule.stop))
                continue
            failure = why_not(rule, event)
            if failure is not None:
                results.append(RuleExplanation(rule.name, "failed", failure, stop=rule.stop))
                continue
            do = tuple(self._explain_do(item, event) for item in rule.do)
            results.append(RuleExplanation(rule.name, "matched", None, do, rule.stop))
            if rule.stop:
                stopped_by = rule.name
        return EventExplanation(event, tuple(results))

    def render_inputs(self, item: DoItem, event: Event) -> dict[str, Any]:
        """What `item`'s action would receive for `event`: its options | the rule's `with:`,
        rendered, secrets NOT hidden (callers redact what they show). Raises TemplateError."""
        return render_options(self._merged(item), batch_context([event]))

    def _merged(self, item: DoItem) -> dict[str, Any]:
        return dict(self.config.actions[item.action].options) | dict(item.inputs)

    def _explain_do(self, item: DoItem, event: Event) -> DoExplanation:
        action = self.config.actions[item.action]
        secrets = action.action_class.secret_options
        error = None
        try:
            rendered = self.render_inputs(item, event)
        except TemplateError as exc:
            error, rendered = str(exc), self._merged(item)
        return DoExplanation(
            item.action, action.type, redact(rendered, secrets), action.delivery.enabled, error
        )
