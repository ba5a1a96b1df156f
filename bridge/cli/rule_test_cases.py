"""The cases file `bridge test` reads: payloads and the outcome each should have.

Read with the config's Document machinery, so a mistake is reported as the config's are
(`file:line:col: path: message`, unknown keys with did-you-mean), and checked against the
config: a rule or action a case names must exist, or a `not_match:` typo would pass forever.
Every problem is collected before anything runs; any problem exits 2 (1 means a case failed).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any

from bridge.cli.common import CliError, load, read_bounded
from bridge.config import Config, checks
from bridge.config.document import Document, read_document, unreadable
from bridge.config.errors import Path, did_you_mean, sort_issues
from bridge.events import Event, Notification, PayloadError
from bridge.payloads import UnknownWebhook, parse_body, receiving_webhook

TOP_LEVEL = ("version", "config", "tests")
PAYLOAD_KEYS = ("payload", "payload_file")
EXPECTATIONS = ("match", "not_match", "actions", "inputs")
CASE_KEYS = ("name", *PAYLOAD_KEYS, "webhook", "event", *EXPECTATIONS)
INPUTS_KEYS = ("action", "rule", "exact", "partial")


@dataclass(frozen=True, slots=True)
class InputsCheck:
    """`inputs:` for one action (of one rule, if `rule` is given): exact or a subset."""

    action: str
    rule: str | None
    expected: Mapping[str, Any]
    exact: bool
    # The source text of plain scalars under `expected`, by path relative to it: `code: 2024`
    # also matches the text "2024" a template renders (as `when:` compares the text written).
    written: Mapping[Path, str]


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    line: int
    notifications: tuple[Notification, ...]
    event: int | None  # the one event the expectations are about; None: every event, in order
    match: tuple[str, ...] | None
    not_match: tuple[str, ...]
    actions: tuple[str, ...] | None
    inputs: tuple[InputsCheck, ...]

    @property
    def events(self) -> tuple[Event, ...]:
        every = tuple(e for n in self.notifications for e in n.events)
        return every if self.event is None else (every[self.event],)


@dataclass(frozen=True, slots=True)
class Cases:
    file: str
    config_file: str
    config: Config
    cases: tuple[Case, ...]


def read_cases(file: str, config_file: str | None) -> Cases:
    """The cases and the config they test (`config_file`, else the file's `config:` key);
    raises CliError(code=2) listing every problem."""
    doc = read_document(file, os.environ)
    if doc.errors:
        raise _broken(doc)
    top = checks.mapping(doc, doc.data if doc.data is not None else {}, (), allowed=TOP_LEVEL)
    top = top or {}
    checks.version(doc, top)  # a missing version was a KeyError traceback
    base = FilePath(file).parent
    config_file = config_file or _config_key(doc, top, base)
    if config_file is None or doc.errors:
        raise _broken(doc)
    config = load(config_file, error_code=2)
    cases = _cases(doc, top, config, base)
    if doc.errors:
        raise _broken(doc)
    return Cases(file, config_file, config, cases)


def _broken(doc: Document) -> CliError:
    issues = "\n".join(str(issue) for issue in sort_issues(doc.errors))
    return CliError(f"{doc.file}: {len(doc.errors)} error(s):\n{issues}", code=2)


def _config_key(doc: Document, top: Mapping[str, Any], base: FilePath) -> str | None:
    if "config" not in top:
        doc.error(
            ("config",), "required key is missing (add 'config: rules.yaml' or pass --config)"
        )
        return None
    name = checks.string(doc, top["config"], ("config",), nonempty=True)
    return str(base / name) if name is not None else None


def _cases(
    doc: Document, top: Mapping[str, Any], config: Config, base: FilePath
) -> tuple[Case, ...]:
    if "tests" not in top:
        doc.error(("tests",), "required key is missing")
        return ()
    items = checks.sequence(doc, top["tests"], ("tests",)) or []
    if top["tests"] == []:
        doc.error(("tests",), "needs at least one case")
    cases = [_case(doc, item, ("tests", i), config, base) for i, item in enumerate(items)]
    names: list[tuple[str, Path]] = [  # also of cases that failed, as for rules
        (n, ("tests", i, "name"))
        for i, item in enumerate(items)
        if isinstance(item, dict) and isinstance(n := item.get("name"), str)
    ]
    checks.unique(doc, names, "case")
    return tuple(case for case in cases if case is not None)


def _case(doc: Document, value: Any, path: Path, config: Config, base: FilePath) -> Case | None:
    spec = checks.mapping(doc, value, path, allowed=CASE_KEYS, required=("name",))
    if spec is None:
        return None
    name = checks.string(doc, spec.get("name"), (*path, "name"), nonempty=True)
    if not any(key in spec for key in EXPECTATIONS):
        doc.error(path, f"a case needs at least one of {', '.join(EXPECTATIONS)}")
    notifications = _notifications(doc, spec, path, config, base)
    event = _event(doc, spec, path, notifications)
    rules = [rule.name for rule in config.rules]
    match = _names(doc, spec, path, "match", rules, "rule")
    not_match = _names(doc, spec, path, "not_match", rules, "rule")
    actions = _names(doc, spec, path, "actions", list(config.actions), "action")
    inputs = [
        _inputs_check(doc, item, (*path, "inputs", i), config)
        for i, item in enumerate(
            checks.sequence(doc, spec.get("inputs", []), (*path, "inputs")) or []
        )
    ]
    if name is None or notifications is None or None in inputs:
        return None
    return Case(
        name,
        doc.mark(path).line,
        notifications,
        event,
        match,
        not_match or (),
        actions,
        tuple(i for i in inputs if i is not None),
    )


def _notifications(
    doc: Document, spec: Mapping[str, Any], path: Path, config: Config, base: FilePath
) -> tuple[Notification, ...] | None:
    """The payload parsed as the case's webhook would parse it (the same strict decoder)."""
    given = [key for key in PAYLOAD_KEYS if key in spec]
    if len(given) != 1:
        problem = (
            "give payload or payload_file, not both" if given else "needs payload or payload_file"
        )
        doc.error((*path, given[-1]) if given else path, problem, key=bool(given))
        return None
    webhook = _webhook(doc, spec, path, config)
    at = (*path, given[0])
    body = (
        _payload_file(doc, spec, at, base) if given[0] == "payload_file" else _inline(doc, spec, at)
    )
    if body is None:
        return None
    try:
        notifications = tuple(parse_body(body, webhook))
    except PayloadError as exc:
        doc.error(at, f"payload is not a Kontent.ai notification: {exc}")
        return None
    if not any(n.events for n in notifications):
        doc.error(at, "the payload holds no events")
        return None
    return notifications


def _webhook(doc: Document, spec: Mapping[str, Any], path: Path, config: Config) -> str | None:
    requested = None
    if "webhook" in spec:
        requested = checks.string(doc, spec["webhook"], (*path, "webhook"), nonempty=True)
    try:
        return receiving_webhook([w.name for w in config.webhooks], requested)
    except UnknownWebhook as exc:
        doc.error((*path, "webhook"), str(exc))
        return None


def _payload_file(doc: Document, spec: Mapping[str, Any], at: Path, base: FilePath) -> bytes | None:
    name = checks.string(doc, spec["payload_file"], at, nonempty=True)
    if name is None:
        return None
    file = base / name
    try:
        with file.open("rb") as stream:
            return read_bounded(stream)
    except (OSError, ValueError) as exc:
        doc.error(at, f"cannot read payload file {str(file)!r}: {unreadable(exc)}")
        return None


def _inline(doc: Document, spec: Mapping[str, Any], at: Path) -> bytes | None:
    value = spec["payload"]
    if not isinstance(value, dict):
        checks.mapping(doc, value, at)  # reports the type
        return None
    return json.dumps(value, ensure_ascii=False).encode()


def _event(
    doc: Document,
    spec: Mapping[str, Any],
    path: Path,
    notifications: tuple[Notification, ...] | None,
) -> int | None:
    if "event" not in spec:
        return None
    index = spec["event"]
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        doc.error(
            (*path, "event"), f"expected the index of an event (0 for the first), got {index!r}"
        )
        return None
    count = sum(len(n.events) for n in notifications or ())
    if notifications is not None and index >= count:
        doc.error(
            (*path, "event"), f"the payload holds {count} event(s): event must be {_indexes(count)}"
        )
        return None
    return index


def _indexes(count: int) -> str:
    return "0" if count == 1 else f"0 to {count - 1}"


def _names(
    doc: Document, spec: Mapping[str, Any], case: Path, key: str, known: list[str], what: str
) -> tuple[str, ...] | None:
    """A list of rule or action names, each one the config defines."""
    if key not in spec:
        return None
    path = (*case, key)
    names: list[str] = []
    for i, item in enumerate(checks.sequence(doc, spec[key], path) or []):
        name = checks.string(doc, item, (*path, i), nonempty=True)
        if name is not None and name not in known:
            doc.error((*path, i), f"unknown {what} {name!r}{did_you_mean(name, known)}")
        elif name is not None:
            names.append(name)
    return tuple(names)


def _inputs_check(doc: Document, value: Any, path: Path, config: Config) -> InputsCheck | None:
    spec = checks.mapping(doc, value, path, allowed=INPUTS_KEYS, required=("action",))
    if spec is None or "action" not in spec:
        return None
    action = checks.string(doc, spec["action"], (*path, "action"), nonempty=True)
    if action is not None and action not in config.actions:
        doc.error(
            (*path, "action"), f"unknown action {action!r}{did_you_mean(action, config.actions)}"
        )
        return None
    rule = _rule_running(doc, spec, path, config, action) if "rule" in spec else None
    modes = [key for key in ("exact", "partial") if key in spec]
    if len(modes) != 1:
        problem = "give exact or partial, not both" if modes else "needs exact or partial inputs"
        doc.error((*path, modes[-1]) if modes else path, problem, key=bool(modes))
        return None
    at = (*path, modes[0])
    expected = checks.mapping(doc, spec[modes[0]], at)
    if action is None or expected is None or ("rule" in spec and rule is None):
        return None
    written = {p[len(at) :]: text for p, text in doc.plain_text.items() if p[: len(at)] == at}
    return InputsCheck(action, rule, expected, modes[0] == "exact", written)


def _rule_running(
    doc: Document, spec: Mapping[str, Any], path: Path, config: Config, action: str | None
) -> str | None:
    """The `rule:` of an inputs check: a rule that exists and runs the action."""
    name = checks.string(doc, spec["rule"], (*path, "rule"), nonempty=True)
    rules = {rule.name: rule for rule in config.rules}
    if name is None:
        return None
    if name not in rules:
        doc.error((*path, "rule"), f"unknown rule {name!r}{did_you_mean(name, rules)}")
        return None
    runs = [item.action for item in rules[name].do]
    if action is not None and action not in runs:
        doc.error(
            (*path, "rule"),
            f"rule {name!r} does not run action {action!r} (it runs: {', '.join(runs)})",
        )
        return None
    return name
