"""The rate-limited log: a flood of one message becomes a few lines and a count."""

from __future__ import annotations

import logging

import pytest

from bridge.logthrottle import RateLimitFilter, install


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, level: int = logging.ERROR, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, msg, args, None)


def test_a_flood_of_one_message_passes_a_burst_per_window_then_a_count() -> None:
    clock = Clock()
    limiter = RateLimitFilter(window_s=10, burst=5, clock=clock)
    accept_error = "socket.accept() out of system resource"
    passed = [limiter.filter(record("asyncio", accept_error)) for _ in range(2048)]
    assert sum(passed) == 5
    clock.now = 10.0
    next_window = record("asyncio", accept_error)
    assert limiter.filter(next_window)
    assert next_window.getMessage() == f"{accept_error} [2043 like it dropped before this one]"


def test_the_rules_engines_warnings_are_limited_too() -> None:
    # It warns once per event whose regex was given up, and crafted names come by the batch.
    limiter = RateLimitFilter(window_s=10, burst=2, clock=Clock())
    gave_up = "rule %r did not run for an event: %s"
    passed = [
        limiter.filter(record("bridge.rules", gave_up, logging.WARNING, "r", "x")) for _ in range(4)
    ]
    assert passed == [True, True, False, False]


def test_messages_are_counted_apart_by_format_string_not_arguments() -> None:
    limiter = RateLimitFilter(window_s=10, burst=1, clock=Clock())
    refused = "refused a connection: %d connections are open"
    assert limiter.filter(record("bridge.receiver.connections", refused, logging.WARNING, 20))
    assert not limiter.filter(record("bridge.receiver.connections", refused, logging.WARNING, 21))
    assert limiter.filter(record("uvicorn.error", "Invalid HTTP request received."))


@pytest.mark.parametrize(
    ("name", "level"),
    [("bridge.delivery", logging.ERROR), ("asyncio", logging.INFO), ("asynciox", logging.ERROR)],
)
def test_other_loggers_and_lower_levels_are_never_dropped(name: str, level: int) -> None:
    limiter = RateLimitFilter(window_s=10, burst=1, clock=Clock())
    assert all(limiter.filter(record(name, "same", level)) for _ in range(100))


def test_install_puts_it_on_the_root_handlers() -> None:
    root = logging.Logger("test-root")
    handler = logging.NullHandler()
    root.addHandler(handler)
    limiter = install(root)
    assert handler.filters == [limiter]
