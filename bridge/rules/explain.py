"""What `bridge explain` prints: per event, per rule, matched or the first failed condition."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from bridge.events import Event

Outcome = Literal["matched", "failed", "skipped"]


@dataclass(frozen=True, slots=True)
class DoExplanation:
    """One action a matched rule would run, with its inputs rendered over the event."""

    action: str
    type: str
    inputs: Mapping[str, Any]  # rendered, secrets redacted
    enabled: bool = True
    error: str | None = None  # a template that failed to render

    @property
    def expands(self) -> str | None:
        """The planned used-in fan-out (`expand:`), looked up only when the job runs."""
        if "expand" not in self.inputs:
            return None
        from bridge.actions.used_in import describe  # presentation only

        return describe(self.inputs["expand"])

    def to_json(self) -> dict[str, Any]:
        shown = {
            "action": self.action,
            "type": self.type,
            "enabled": self.enabled,
            "inputs": dict(self.inputs),
            "error": self.error,
        }
        if self.expands:
            shown["expands"] = self.expands
        return shown


@dataclass(frozen=True, slots=True)
class RuleExplanation:
    rule: str
    outcome: Outcome
    reason: str | None = None  # the first failed condition, or why the rule was skipped
    do: tuple[DoExplanation, ...] = ()
    stop: bool = False

    @property
    def matched(self) -> bool:
        return self.outcome == "matched"

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "matched": self.matched,
            "outcome": self.outcome,
            "reason": self.reason,
            "stop": self.stop,
            "do": [item.to_json() for item in self.do],
        }


@dataclass(frozen=True, slots=True)
class EventExplanation:
    event: Event
    rules: tuple[RuleExplanation, ...]

    @property
    def jobs(self) -> int:
        return sum(len(rule.do) for rule in self.rules if rule.matched)

    def to_json(self) -> dict[str, Any]:
        return {
            "event": self.event.fields(),
            "summary": self.event.summary(),
            "jobs": self.jobs,
            "rules": [rule.to_json() for rule in self.rules],
        }

    def to_text(self) -> str:
        """Human lines; `bridge explain` prints them, coloured on a terminal."""
        lines = [f"event: {self.event.summary()}"]
        if len(self.event.actions) > 1:  # a legacy operation that stands for several actions
            lines.append(f"  action: {self.event.action_text()}")
        for rule in self.rules:
            if rule.matched:
                lines.append(f"  [matched] {rule.rule}" + ("  (stop)" if rule.stop else ""))
                for item in rule.do:
                    state = "" if item.enabled else " (disabled: jobs are parked)"
                    lines.append(f"      -> {item.action} ({item.type}){state}")
                    if item.error:
                        lines.append(f"         error: {item.error}")
                    for key, value in item.inputs.items():
                        lines.append(f"         {key}: {value!r}")
                    if item.expands:
                        lines.append(f"         ({item.expands})")
            else:
                lines.append(f"  [{rule.outcome}] {rule.rule}: {rule.reason}")
        return "\n".join(lines)
