"""Moved to bridge.templates: config imports it there without importing the rules package."""

from __future__ import annotations

from bridge.templates import (
    REDACTED,
    TemplateError,
    batch_context,
    check_template,
    compile_template,
    event_context,
    is_template,
    redact,
    render,
    render_options,
    template_sources,
)

__all__ = [
    "REDACTED",
    "TemplateError",
    "batch_context",
    "check_template",
    "compile_template",
    "event_context",
    "is_template",
    "redact",
    "render",
    "render_options",
    "template_sources",
]
