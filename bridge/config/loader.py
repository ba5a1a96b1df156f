"""`load_config`: read, interpolate, validate and cross-check a rules.yaml, reporting every
problem at once as `file:line:col: path: message`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path as FilePath

from bridge.actions import registry
from bridge.config import checks, sections
from bridge.config.document import Document, parse_document, read_document
from bridge.config.errors import ConfigError, ConfigIssue, Path, did_you_mean, sort_issues
from bridge.config.model import DEFAULT_ALERT_FAILING_FOR_S, ActionConfig, Config, DoItem
from bridge.config.options import check_unused, check_use
from bridge.config.rules_section import alert_section
from bridge.config.rules_section import rules as parse_rules
from bridge.config.sources_section import sources as parse_sources

TOP_LEVEL = ("version", "webhooks", "kontent", "defaults", "actions", "rules", "alerts", "sources")


def load_config(
    path: FilePath | str,
    env: Mapping[str, str] | None = None,
    *,
    types: Mapping[str, type] | None = None,
) -> Config:
    """The validated config; raises ConfigError holding every problem found.

    `env` defaults to the process environment; `types` (name -> Action subclass) to the
    installed action types, and exists so tests can bring their own.
    """
    doc = read_document(path, os.environ if env is None else env)
    return _build(doc, FilePath(path), types)


def parse_config(
    text: str,
    file: str = "rules.yaml",
    env: Mapping[str, str] | None = None,
    *,
    types: Mapping[str, type] | None = None,
) -> Config:
    """`load_config` over text already in memory (the admin API, tests)."""
    doc = parse_document(text, file, os.environ if env is None else env)
    return _build(doc, FilePath(file), types)


def _build(doc: Document, source: FilePath, types: Mapping[str, type] | None) -> Config:
    if doc.errors:
        raise ConfigError(sort_issues(doc.errors))
    # Through the module, so that tests may monkeypatch registry.action_types.
    known_types = dict(registry.action_types() if types is None else types)
    top = checks.mapping(doc, doc.data if doc.data is not None else {}, (), allowed=TOP_LEVEL)
    top = top or {}
    checks.version(doc, top, required=isinstance(doc.data, dict) or doc.data is None)
    webhooks = sections.webhooks(doc, top.get("webhooks", []), ("webhooks",))
    kontent = sections.kontent(doc, top.get("kontent", {}), ("kontent",))
    sources = parse_sources(doc, top.get("sources", []), ("sources",), kontent)
    defaults = sections.defaults(doc, top.get("defaults", {}), ("defaults",))
    actions = sections.actions(doc, top.get("actions", {}), ("actions",), defaults, known_types)
    rules, do_uses = parse_rules(doc, top.get("rules", []), ("rules",))
    alerts, failing_for = alert_section(doc, top.get("alerts", []), ("alerts",))
    declared = set(top.get("actions") or {}) if isinstance(top.get("actions"), dict) else set()
    _check_references(doc, do_uses, alerts, actions, declared)
    if doc.errors:
        raise ConfigError(_dedupe(sort_issues(doc.errors)))
    return Config(
        source=source,
        webhooks=webhooks,
        kontent=kontent,
        defaults=defaults,
        actions=actions,
        rules=rules,
        alerts=tuple(name for name, _ in alerts),
        warnings=tuple(_dedupe(sort_issues(doc.warnings))),
        alert_failing_for_s=failing_for or DEFAULT_ALERT_FAILING_FOR_S,
        sources=sources,
    )


def _check_references(
    doc: Document,
    do_uses: list[tuple[DoItem, Path]],
    alerts: list[tuple[str, Path]],
    actions: Mapping[str, ActionConfig],
    declared: set[str],
) -> None:
    """Every named action exists and is used; each use supplies the options it needs.

    `declared` includes actions that failed validation, so that one bad action is reported once
    and not again at every rule using it.
    """
    used: set[str] = set()
    uses: list[tuple[str, Mapping[str, object], Path]] = [
        (item.action, item.inputs, path) for item, path in do_uses
    ]
    uses += [(name, {}, path) for name, path in alerts]
    uses += _referenced(actions)
    for name, inputs, use_path in uses:
        used.add(name)
        action = actions.get(name)
        if action is None:
            if name not in declared:
                name_path = use_path if use_path[0] == "alerts" else _action_key_path(doc, use_path)
                hint = did_you_mean(name, declared)
                doc.error(name_path, f"unknown action {name!r}{hint}")
            continue
        check_use(doc, action, inputs, use_path)
    for name, action in actions.items():
        if name not in used:
            check_unused(
                doc, name, action.action_class, action.options, action.templated, ("actions", name)
            )
            doc.warn(
                ("actions", name),
                f"action {name!r} is not used by any rule nor by alerts",
                key=True,
            )


def _referenced(
    actions: Mapping[str, ActionConfig],
) -> list[tuple[str, Mapping[str, object], Path]]:
    """Actions named in other actions' options (Action.action_references), as uses."""
    found: list[tuple[str, Mapping[str, object], Path]] = []
    for name, action in actions.items():
        for option in sorted(getattr(action.action_class, "action_references", ())):
            value = action.options.get(option)
            if isinstance(value, str):
                found.append((value, {}, ("actions", name, option)))
            elif isinstance(value, list | tuple):
                found += [
                    (target, {}, ("actions", name, option, index))
                    for index, target in enumerate(value)
                    if isinstance(target, str)
                ]
    return found


def _action_key_path(doc: Document, use_path: Path) -> Path:
    """`rules[2].do[0].action` for the long form, `rules[2].do[0]` for the shorthand."""
    return (*use_path, "action") if (*use_path, "action") in doc.marks else use_path


def _dedupe(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    return list(dict.fromkeys(issues))
