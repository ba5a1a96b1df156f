"""Configuration: rules.yaml with line numbers, `${ENV}` interpolation, models, cross-checks."""

from __future__ import annotations

from bridge.config.durations import format_duration, parse_duration
from bridge.config.errors import ConfigError, ConfigIssue
from bridge.config.loader import load_config, parse_config
from bridge.config.model import (
    ActionConfig,
    Config,
    DeliverySettings,
    DoItem,
    EnvironmentConfig,
    KontentConfig,
    Rule,
    WebhookConfig,
)

__all__ = [
    "ActionConfig",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "DeliverySettings",
    "DoItem",
    "EnvironmentConfig",
    "KontentConfig",
    "Rule",
    "WebhookConfig",
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
]
