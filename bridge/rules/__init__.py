"""Rules: matchers over Events, the rule index and the engine that plans jobs.

Names are resolved lazily, so importing one module of the package does not import the engine.
Templates live in bridge.templates (config imports them; the engine imports config).
"""

from __future__ import annotations

from typing import Any

__all__ = ["EventExplanation", "RuleEngine", "RuleExplanation", "TemplateError"]


def __getattr__(name: str) -> Any:
    if name == "RuleEngine":
        from bridge.rules.engine import RuleEngine

        return RuleEngine
    if name in ("EventExplanation", "RuleExplanation", "DoExplanation"):
        from bridge.rules import explain

        return getattr(explain, name)
    if name == "TemplateError":
        from bridge.templates import TemplateError

        return TemplateError
    raise AttributeError(name)
