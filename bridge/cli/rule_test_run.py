"""One case of `bridge test` run through the rules engine, as the receiver would plan it.

The rules that match come from `RuleEngine.matching` (the index, `stop:` and all), the inputs
from `RuleEngine.render_inputs` (what `bridge explain` renders). Every planned call is rendered,
so a template that fails is a failure of the case even when no `inputs:` names its action.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bridge.cli import rule_test_compare as compare
from bridge.cli.rule_test_cases import Case, InputsCheck
from bridge.config import DoItem
from bridge.events import Event
from bridge.rules import RuleEngine
from bridge.templates import TemplateError, redact


@dataclass(frozen=True, slots=True)
class Failure:
    """One expectation that did not hold; `expected` and `got` are redacted, for --json."""

    expectation: str  # match, not_match, actions, inputs, or render (a template error)
    message: str
    detail: tuple[str, ...] = ()  # diff lines, reasons
    expected: Any = None
    got: Any = None

    def to_json(self) -> dict[str, Any]:
        return {
            "expectation": self.expectation,
            "message": self.message,
            "detail": list(self.detail),
            "expected": self.expected,
            "got": self.got,
        }


@dataclass(frozen=True, slots=True)
class CaseResult:
    case: Case
    failures: tuple[Failure, ...]

    @property
    def passed(self) -> bool:
        return not self.failures


@dataclass(frozen=True, slots=True)
class _Call:
    """A planned call: the event, the rule that matched it, and the do item."""

    event: int  # position among the case's events
    rule: str
    item: DoItem
    inputs: dict[str, Any] | None  # rendered; None when a template failed
    error: str | None


def run_case(engine: RuleEngine, case: Case) -> CaseResult:
    events = case.events
    matched: list[str] = []
    calls: list[_Call] = []
    with engine.one_plan():  # the case's regexes share one budget, as a received payload's do
        for position, event in enumerate(events):
            for rule in engine.matching(event):
                matched.append(rule.name)
                calls += [_call(engine, position, event, rule.name, item) for item in rule.do]
    failures: list[Failure] = []
    if case.match is not None and list(case.match) != matched:
        failures.append(_match_failure(engine, case, matched))
    failures += [
        Failure("not_match", f"rule {name!r} matched, but the case says it must not")
        for name in case.not_match
        if name in matched
    ]
    ran = [call.item.action for call in calls]
    if case.actions is not None and list(case.actions) != ran:
        detail = tuple(compare.diff_lines(list(case.actions), ran))
        failures.append(
            Failure("actions", "the actions that run differ", detail, case.actions, ran)
        )
    failures += [
        Failure("render", f"{_label(call, events)}: {call.error}") for call in calls if call.error
    ]
    for check in case.inputs:
        failures += _inputs_failures(engine, check, calls, events)
    return CaseResult(case, tuple(failures))


def _call(engine: RuleEngine, position: int, event: Event, rule: str, item: DoItem) -> _Call:
    try:
        return _Call(position, rule, item, engine.render_inputs(item, event), None)
    except TemplateError as exc:
        return _Call(position, rule, item, None, f"template error: {exc}")


def _label(call: _Call, events: tuple[Event, ...]) -> str:
    label = f"rule {call.rule!r} action {call.item.action!r}"
    if len(events) > 1:
        label += f" (event {call.event}: {events[call.event].summary()})"
    return label


def _match_failure(engine: RuleEngine, case: Case, matched: list[str]) -> Failure:
    """The diff of rule names, and why each expected rule that is missing did not match."""
    expected = list(case.match or ())
    detail = compare.diff_lines(expected, matched)
    missing = [name for name in expected if name not in matched]
    with engine.one_plan():
        explained = [e for n in case.notifications for e in engine.explain(n)]
    if case.event is not None:
        explained = [explained[case.event]]
    for position, explanation in enumerate(explained):
        where = f" (event {position}: {explanation.event.summary()})" if len(explained) > 1 else ""
        detail += [
            f"rule {rule.rule!r}{where} "
            + (
                f"was {rule.reason}"
                if rule.outcome == "skipped"
                else f"did not match: {rule.reason}"
            )
            for rule in explanation.rules
            if rule.rule in missing and not rule.matched
        ]
    return Failure("match", "the rules that match differ", tuple(detail), expected, matched)


def _inputs_failures(
    engine: RuleEngine, check: InputsCheck, calls: list[_Call], events: tuple[Event, ...]
) -> list[Failure]:
    """Every call of the check's action (and rule) must satisfy it; at least one must run."""
    chosen = [
        call
        for call in calls
        if call.item.action == check.action and (check.rule is None or check.rule == call.rule)
    ]
    if not chosen:
        of_rule = f" for rule {check.rule!r}" if check.rule else ""
        return [Failure("inputs", f"action {check.action!r} does not run{of_rule}")]
    secrets = engine.config.actions[check.action].action_class.secret_options
    mode = "exact" if check.exact else "partial"
    failures: list[Failure] = []
    for call in chosen:
        if call.inputs is None:
            continue  # its template error is a failure of its own
        shown = redact(call.inputs, secrets)
        if compare.inputs_match(
            check.expected, call.inputs, shown, exact=check.exact, written=check.written
        ):
            continue
        expected = redact(check.expected, secrets)
        got = shown if check.exact else compare.restricted(expected, shown)
        message = f"{_label(call, events)}: the inputs differ ({mode})"
        failures.append(
            Failure("inputs", message, tuple(compare.diff(expected, got)), expected, got)
        )
    return failures
