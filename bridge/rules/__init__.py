"""Rules: matchers over Events, the rule index, the engine that plans jobs, templates.

Names are resolved lazily so that `bridge.config` may import `bridge.rules.templates` (a leaf)
without importing the engine, which itself depends on `bridge.config`.
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
        from bridge.rules.templates import TemplateError

        return TemplateError
    raise AttributeError(name)
