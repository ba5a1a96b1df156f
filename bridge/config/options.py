"""An action's own options, checked at load against its `Options` model.

Templated values (`{{` or `{%`) are compiled but not type-checked: their type is only known once
rendered. They are still passed to the model as written, so that checks across options ("give
tags, files or hosts") see that they are there; errors about a templated option's own value are
ignored. A required option may be left to every rule's `with:`, so "missing" is judged per use
(each `do:` item and alert), where the merged options are known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from bridge.actions import endpoints
from bridge.actions.base import Action
from bridge.config.document import Document
from bridge.config.errors import Path, did_you_mean, option_prefix
from bridge.config.model import ActionConfig, DeliverySettings
from bridge.config.template_checks import check_templates

ActionClass = type[Action]  # type: ignore[type-arg]


def option_names(action_class: ActionClass) -> list[str]:
    """The keys a user writes: each field's alias where it has one (`from` for `from_`)."""
    return [f.alias or name for name, f in action_class.Options.model_fields.items()]


def check_endpoints(
    doc: Document, action: str, action_class: ActionClass, options: Mapping[str, Any], path: Path
) -> None:
    """Templates in the options that say where the action connects (`endpoint_options`): a URL
    template must write its scheme and host literally; a host option takes no template."""
    declared = getattr(action_class, "endpoint_options", {})
    for key, value in options.items():
        kind = declared.get(key)
        if kind is None:
            continue
        for sub, message in endpoints.load_problems(kind, value):
            doc.error((*path, key, *sub), f"{option_prefix(action, key)}: {message}")


def check_action_options(
    doc: Document,
    name: str,
    action_class: ActionClass,
    settings: DeliverySettings,
    options: Mapping[str, Any],
    path: Path,
) -> frozenset[str]:
    """Unknown keys, templates and value types of an action's own options."""
    known = option_names(action_class)
    for key in options:
        if key not in known:
            hint = did_you_mean(key, known)
            doc.error((*path, key), f"{option_prefix(name, key)}: unknown option{hint}", key=True)
    values = {k: v for k, v in options.items() if k in known}
    templated = check_templates(doc, name, action_class, settings, values, path)
    check_endpoints(doc, name, action_class, values, path)
    for loc, kind, message in _errors(action_class, values):
        if loc and kind != "missing" and loc[0] not in templated:
            doc.error((*path, *loc), f"{option_prefix(name, loc[0])}: {message}")
    return frozenset(templated)


def check_use(doc: Document, action: ActionConfig, inputs: Mapping[str, Any], path: Path) -> None:
    """One use of an action (`do:` item or alert): its `with:` keys and the merged options.

    `path` is the use itself; `with:` values are reported under `path.with.key`.
    """
    name, action_class, options = action.name, action.action_class, action.options
    with_path = (*path, "with")
    known = option_names(action_class)
    for key in inputs:
        if key not in known:
            hint = did_you_mean(key, known)
            message = f"{option_prefix(name, key)}: unknown option{hint}"
            doc.error((*with_path, key), message, key=True)
    known_inputs = {k: v for k, v in inputs.items() if k in known}
    input_templates = check_templates(
        doc, name, action_class, action.delivery, known_inputs, with_path
    )
    check_endpoints(doc, name, action_class, known_inputs, with_path)
    merged = dict(options) | {k: v for k, v in inputs.items() if k in known}
    skip = (action.templated - inputs.keys()) | input_templates
    for loc, kind, message in _errors(action_class, merged):
        if not loc:
            doc.error(path, f"action {name!r}: {message}")
        elif kind == "missing":
            sets = "sets it" if len(loc) == 1 else f"sets {_dotted(loc)!r}"
            neither = f"required, but neither the action nor 'with:' {sets}"
            doc.error(path, f"{option_prefix(name, loc[0])}: {neither}")
        elif loc[0] in inputs and loc[0] not in skip:
            doc.error((*with_path, *loc), f"{option_prefix(name, loc[0])}: {message}")


def check_unused(
    doc: Document,
    name: str,
    action_class: ActionClass,
    options: Mapping[str, Any],
    templated: frozenset[str],
    path: Path,
) -> None:
    """An action no rule uses is still checked for what a `with:` could have supplied."""
    for loc, kind, message in _errors(action_class, options):
        if not loc:
            doc.error(path, f"action {name!r}: {message}")
        elif kind == "missing":
            doc.error(path, f"{option_prefix(name, loc[0])}: required option is missing")


def _dotted(loc: Path) -> str:
    return ".".join(str(part) for part in loc)


def _errors(action_class: ActionClass, values: Mapping[str, Any]) -> list[tuple[Path, str, str]]:
    try:
        action_class.Options.model_validate(dict(values))
    except ValidationError as exc:
        return [
            (tuple(error["loc"]), error["type"], _message(error["msg"]))
            for error in exc.errors(include_url=False)
        ]
    return []


def _message(text: str) -> str:
    # Pydantic prefixes model-validator errors with "Value error, "; users need only the reason.
    return text.removeprefix("Value error, ")
