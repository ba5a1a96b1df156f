"""Hot reload of rules.yaml: on SIGHUP and when the file changes, validate, then swap atomically.

The new config is loaded and validated completely (in a thread: YAML parsing must not stall the
event loop), then `runtime.swap(config)` builds the rule engine and action instances and installs
them with one reference assignment, so a request or a worker sees the old set or the new one,
never half of each. A config that does not load changes nothing: every error is logged with its
line, `bridge_config_last_reload_successful` drops to 0, and the running config stays.

The file is polled (size, mtime and a SHA-256 of the bytes, every second; no extra dependency)
and reloaded once its content has been the same for two polls in a row, so an editor that
writes in two steps does not produce a spurious failure.

Wiring (bridge/app.py lifespan, after `runtime.start`)::

    stack.push_async_callback(await reload.start_reloader(runtime, settings))
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from bridge import metrics, redaction

log = logging.getLogger("bridge.reload")

POLL_INTERVAL_S = 1.0


class Swappable(Protocol):
    async def swap(self, config: Any) -> None: ...


Loader = Callable[[Path], Any]


@dataclass
class ReloadState:
    """What /readyz and operators can ask: is a config loaded, and how did the last reload go."""

    loaded: bool = False
    source: str | None = None
    ok: bool | None = None
    last_attempt_at: float | None = None
    last_success_at: float | None = None
    errors: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "loaded": self.loaded,
            "source": self.source,
            "last_reload_ok": self.ok,
            "last_attempt_at": self.last_attempt_at,
            "last_success_at": self.last_success_at,
            "errors": list(self.errors),
        }


# The process-wide state (one config file per process); the receiver's /readyz may read it.
reload_state = ReloadState()


def fingerprint(path: Path) -> tuple[int, int, str] | None:
    """(size, mtime_ns, sha256) of the file, or None when it cannot be read right now."""
    try:
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    return (stat.st_size, stat.st_mtime_ns, digest)


def _default_loader(path: Path) -> Any:
    from bridge.config import load_config

    return load_config(path)


class Reloader:
    """Reloads one config file into one runtime; reloads never overlap."""

    def __init__(
        self,
        path: Path | str,
        runtime: Swappable,
        *,
        loader: Loader = _default_loader,
        interval_s: float = POLL_INTERVAL_S,
        state: ReloadState | None = None,
        extra_secrets: tuple[str | None, ...] = (),
    ) -> None:
        self.path = Path(path)
        self.runtime = runtime
        self.loader = loader
        self.interval_s = interval_s
        self.state = state if state is not None else reload_state
        self.extra_secrets = extra_secrets
        self._lock = asyncio.Lock()
        self._seen = fingerprint(self.path)
        self._loaded_digest = self._seen[2] if self._seen else None
        self._task: asyncio.Task[None] | None = None
        self._signal_installed = False
        self.reloads = 0  # attempts, for tests and logs

    def mark_loaded(self) -> None:
        """The config running now came from this file (the first load, done by the app)."""
        now = time.time()
        self.state.loaded = True
        self.state.source = str(self.path)
        self.state.ok = True
        self.state.last_attempt_at = self.state.last_success_at = now
        self.state.errors = []
        metrics.config_reloaded(True, now)

    async def reload(self, reason: str = "requested") -> bool:
        """Load, validate and install the file now; False (and nothing changed) when it fails."""
        async with self._lock:
            self.reloads += 1
            seen = fingerprint(self.path)
            now = time.time()
            self.state.last_attempt_at = now
            try:
                config = await asyncio.to_thread(self.loader, self.path)
                # Learnt before the new actions can run, and added to the secrets known so
                # far: calls the old actions began may still answer with a rotated-out token.
                redaction.redactor.learn(redaction.secrets_of(config, self.extra_secrets))
                await self.runtime.swap(config)
            except Exception as exc:
                self._rejected(exc, reason, now)
                return False
            if seen is not None:
                self._loaded_digest = seen[2]
            self.state.loaded = True
            self.state.ok = True
            self.state.last_success_at = now
            self.state.errors = []
            metrics.config_reloaded(True, now)
            log.info("config reloaded (%s) from %s", reason, self.path)
            return True

    def _rejected(self, exc: Exception, reason: str, now: float) -> None:
        issues = getattr(exc, "issues", None)
        errors = [str(i) for i in issues] if issues else [f"{self.path}: {exc}"]
        self.state.ok = False
        self.state.errors = errors
        metrics.config_reloaded(False, now)
        log.error(
            "config reload (%s) rejected with %d error(s); the running config stays",
            reason,
            len(errors),
        )
        for error in errors:
            log.error("config: %s", error)

    async def poll_once(self) -> bool | None:
        """One poll: reload when the content changed and has been stable since the last poll."""
        current = fingerprint(self.path)
        previous, self._seen = self._seen, current
        if current is None or current != previous or current[2] == self._loaded_digest:
            return None
        self._loaded_digest = current[2]  # a bad file is reported once, not every second
        return await self.reload("file changed")

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.poll_once()
            except Exception:  # the watcher must outlive any surprise
                log.exception("config watcher: unexpected error")

    def start(self) -> None:
        """Watch the file, and reload on SIGHUP when this loop may install signal handlers."""
        loop = asyncio.get_running_loop()
        self._task = loop.create_task(self._poll(), name="config-watcher")
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._signal_installed = True
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
            log.debug("SIGHUP reload unavailable in this thread; watching the file only")

    def _on_sighup(self) -> None:
        log.info("SIGHUP: reloading %s", self.path)
        task = asyncio.get_running_loop().create_task(self.reload("SIGHUP"))
        task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    async def stop(self) -> None:
        if self._signal_installed:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal_installed = False
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


async def start_reloader(
    runtime: Swappable, settings: Any, *, interval_s: float = POLL_INTERVAL_S
) -> Callable[[], Awaitable[None]]:
    """Start watching `settings.config` for `runtime` (already started); returns the stopper."""
    reloader = Reloader(
        settings.config,
        runtime,
        interval_s=interval_s,
        extra_secrets=redaction.settings_secrets(settings),
    )
    reloader.mark_loaded()
    reloader.start()
    return reloader.stop
