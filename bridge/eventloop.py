"""The event loop `bridge serve` and `bridge worker` run on: uvloop when it is installed.

uvicorn picks uvloop by itself only when it creates the loop (`uvicorn.run`); the bridge starts
uvicorn inside its own `asyncio.run`, which meant the pure-Python selector loop. Under wrk
(bench/receive.py) that loop's socket transport and scheduling were a large share of the CPU
spent per accepted webhook; uvloop does the same work in C. uvicorn[standard], a dependency,
brings uvloop on CPython/Linux; where it is missing the standard loop still works.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's loop constructor, or None (asyncio's default) when uvloop is not installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvicorn[standard] installs it on Linux
        return None
    return uvloop.new_event_loop


def run(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)` on the fastest loop available."""
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        return runner.run(main)
