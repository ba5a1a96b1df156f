"""What the admin routes need: the store, the running config, the guard, one place for both views.

The app builds its routes before its lifespan opens the store and loads the config, so both may
be given as zero-argument callables that are resolved on each request.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request

from bridge.admin import present
from bridge.admin.auth import Guard
from bridge.admin.params import job_id, plain_name, shown, whole_number
from bridge.admin.ratelimit import FailureLimiter

FILTERS = ("all", "failures", "active_failures")
MAX_LIMIT = 500


class BadRequest(ValueError):
    """A query parameter the admin cannot use; the message is the 400 reason."""


class NotFound(LookupError):
    """An action, job or rule that does not exist; the message is the 404 reason."""


def _resolve(source: Any, attribute: str) -> Any:
    """`source`, or what it returns when it is a getter (checked on the type: no property runs)."""
    if source is not None and not hasattr(type(source), attribute) and callable(source):
        return source()
    return source


@dataclass
class AdminContext:
    runtime: Any
    store_source: Any
    guard: Guard
    clock: Callable[[], float] | None = field(default=None)
    limiter: FailureLimiter = field(default_factory=FailureLimiter)

    def now(self) -> float:
        """The store's clock when it has one, so tests that move time see consistent ages."""
        if self.clock is not None:
            return self.clock()
        try:
            return float(self.store.clock.now())
        except (LookupError, AttributeError):
            return time.time()

    @property
    def store(self) -> Any:
        store = _resolve(self.store_source, "action_states")
        if store is None:
            raise LookupError("the store is not open yet")
        return store

    @property
    def config(self) -> Any:
        """The running config (None while none is loaded)."""
        runtime = _resolve(self.runtime, "config")
        try:
            return getattr(runtime, "config", None)
        except RuntimeError:  # the runtime has not loaded a config yet
            return None

    def configured_actions(self) -> Mapping[str, Any]:
        config = self.config
        return dict(config.actions) if config is not None else {}

    def rules(self) -> list[Any]:
        config = self.config
        return list(config.rules) if config is not None else []

    async def actions(self) -> list[dict[str, Any]]:
        """Every action the config names or the store remembers, with its health and counts."""
        states = {s.name: s for s in await self.store.action_states()}
        configured = self.configured_actions()
        rows: list[dict[str, Any]] = []
        for name in list(configured) + sorted(set(states) - set(configured)):
            state = states.get(name)
            row: dict[str, Any] = _fields(state) if state is not None else _ready(name)
            action_config = configured.get(name)
            row["in_config"] = action_config is not None
            row["type"] = getattr(action_config, "type", None)
            row["options"] = present.action_options(action_config) if action_config else {}
            if action_config is not None and state is None:
                row["enabled"] = bool(getattr(action_config.delivery, "enabled", True))
            rows.append(row)
        return rows

    async def known_action(self, name: str) -> bool:
        if not plain_name(name):
            return False
        if name in self.configured_actions():
            return True
        return any(s.name == name for s in await self.store.action_states())

    async def job(self, raw_id: str) -> Any:
        """The job detail for a path parameter (see params.job_id: anything else is a 404)."""
        number = job_id(raw_id)
        job = await self.store.job(number) if number is not None else None
        if job is None:
            raise NotFound(f"no job {shown(raw_id)}")
        return job

    def rule(self, name: str) -> Any:
        if plain_name(name):
            for rule in self.rules():
                if getattr(rule, "name", None) == name:
                    return rule
        raise NotFound(f"no rule named {shown(name)}")


def _fields(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return dict(vars(value))


def _ready(name: str) -> dict[str, Any]:
    """An action the store has not seen yet: ready, nothing sent."""
    return {
        "name": name,
        "health": "ready",
        "enabled": True,
        "pending": 0,
        "running": 0,
        "failing_since": None,
        "last_attempt_at": None,
        "succeeded": 0,
        "failed_attempts": 0,
        "dead": 0,
        "oldest_pending_age_s": None,
    }


def client_of(request: Request) -> str:
    """The address failed sign-ins are counted against: uvicorn's client address, which is
    X-Forwarded-For's only from a proxy listed in FORWARDED_ALLOW_IPS (default: localhost)."""
    return request.client.host if request.client else "unknown"


def paging(params: Mapping[str, str], *, default_limit: int = 50) -> tuple[int, int]:
    return (
        _int(params, "limit", default_limit, 1, MAX_LIMIT),
        _int(params, "offset", 0, 0, 10**9),
    )


def _int(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    value = whole_number(raw.removeprefix("-"))
    if value is None:
        raise BadRequest(f"{name} must be a whole number, got {shown(raw)}")
    if raw.startswith("-"):
        value = -value
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
    return value


def delivery_filter(params: Mapping[str, str]) -> str:
    value = params.get("filter") or "all"
    if value not in FILTERS:
        raise BadRequest(f"filter must be one of {', '.join(FILTERS)}, got {shown(value)}")
    return value


def action_filter(params: Mapping[str, str]) -> str | None:
    """The `action` query parameter: None for all actions; never a value no action can have."""
    value = params.get("action") or None
    if value is not None and not plain_name(value):
        raise BadRequest(f"action must be an action name, got {shown(value)}")
    return value
