"""A progress bar on stderr for long CLI work (`bridge replay` over days of notifications).

Shown only when stderr is a terminal: scripts, pipes and CI logs get the command's result and
nothing else. The bar is transient: once the work is done, the result line stands alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

Advance = Callable[[int], None]


@contextmanager
def progress(
    description: str, total: int | None, console: Console | None = None
) -> Iterator[Advance]:
    """`advance(n)` moves the bar `n` steps of `total` (None: a count with no end known)."""
    console = console or Console(stderr=True)
    if not console.is_terminal:
        yield lambda _steps: None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=total)
        yield lambda steps: bar.advance(task, steps)
