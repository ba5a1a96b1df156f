"""What a running bridge holds: the current config, its rule engine and one instance per action.

The three are replaced together by `swap()`, so a worker or a request always sees a consistent
set: the new set is built completely first, then one reference assignment installs it. Old
action instances are closed after a grace period, when calls that resolved them have finished.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiohttp

from bridge import metrics
from bridge.actions.base import Action, Resources
from bridge.actions.httputil import client_session
from bridge.delivery.followups import FollowUpQueue
from bridge.kontent.client import DeliveryClient
from bridge.kontent.management import ManagementResolver

if TYPE_CHECKING:
    from bridge.config import Config
    from bridge.delivery.store import Store
    from bridge.rules import RuleEngine
    from bridge.settings import Settings

log = logging.getLogger("bridge.runtime")

# An action resolved just before a swap may still be sending; the longest timeout bounds it.
MIN_CLOSE_GRACE_S = 5.0


class UnknownAction(LookupError):
    """The current configuration has no action of this name (it was removed by a reload)."""


@dataclass(frozen=True, slots=True, eq=False)
class Snapshot:
    """One consistent set; compared by identity (two swaps to equal configs are two sets)."""

    config: Config
    engine: RuleEngine
    actions: Mapping[str, Action[Any]]


class Runtime:
    """The bridge's live state, shared by the receiver, the workers and the admin API."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store: Store | None = None
        self._http: aiohttp.ClientSession | None = None
        self._snapshot: Snapshot | None = None
        self._resolver: ManagementResolver | None = None
        self._retired: list[Snapshot] = []  # replaced by a swap, not closed yet
        self._closing: set[asyncio.Task[None]] = set()

    async def start(self, config: Config, store: Store) -> None:
        """Open the shared HTTP session and build everything for `config`."""
        self.store = store
        # Every read on it is bounded (httputil.BoundedResponse), the SDKs' reads included.
        self._http = client_session(timeout=aiohttp.ClientTimeout(total=None))
        self._snapshot = self._build(config)
        self._resolver = ManagementResolver(self._http, lambda: self.config.kontent)

    @property
    def loaded(self) -> bool:
        return self._snapshot is not None

    @property
    def config(self) -> Config:
        return self._current().config

    @property
    def engine(self) -> RuleEngine:
        return self._current().engine

    @property
    def actions(self) -> Mapping[str, Action[Any]]:
        return self._current().actions

    @property
    def resolver(self) -> ManagementResolver:
        """Resolves legacy workflow notifications' ids to codenames before planning."""
        if self._resolver is None:
            raise RuntimeError("runtime not started")
        return self._resolver

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None:
            raise RuntimeError("runtime not started")
        return self._http

    def resolve(self, action_name: str) -> Action[Any]:
        """The instance a worker calls for `action_name` under the current config."""
        try:
            return self._current().actions[action_name]
        except KeyError:
            raise UnknownAction(f"no action named {action_name!r} in the current config") from None

    async def swap(self, config: Config) -> None:
        """Install `config`: build the new set first (a failure leaves the old one), then switch."""
        new = self._build(config)
        old, self._snapshot = self._snapshot, new
        if old is not None:
            grace_s = max(
                [MIN_CLOSE_GRACE_S, *(a.delivery.timeout_s for a in old.config.actions.values())]
            )
            self._retired.append(old)
            task = asyncio.create_task(self._close_later(old, grace_s))
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def aclose(self) -> None:
        """Close every action instance, then the shared HTTP session (workers must be stopped)."""
        closing = list(self._closing)
        for task in closing:
            task.cancel()
        await asyncio.gather(*closing, return_exceptions=True)
        snapshot, self._snapshot = self._snapshot, None
        retired, self._retired = self._retired, []
        for old in [*retired, *([snapshot] if snapshot is not None else [])]:
            await _close_actions(old)
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _current(self) -> Snapshot:
        if self._snapshot is None:
            raise RuntimeError("runtime not started: no configuration loaded")
        return self._snapshot

    def _build(self, config: Config) -> Snapshot:
        resources = Resources(
            http=self.http,
            kontent=self._kontent_client(config),
            follow_ups=FollowUpQueue(lambda: self.store, lambda: self.config),
            management_url=config.kontent.management_url,
        )
        actions: dict[str, Action[Any]] = {}
        for name, action_config in config.actions.items():
            action_class: type[Action[Any]] = action_config.action_class
            actions[name] = action_class(name, resources)
        return Snapshot(config=config, engine=_engine_for(config), actions=actions)

    def _kontent_client(self, config: Config) -> DeliveryClient:
        """A Delivery API client for actions that fetch fresh content (algolia)."""
        kontent = config.kontent
        return DeliveryClient(
            self.http,
            kontent.delivery_url,
            kontent.preview_url,
            kontent.environments,
            max_response_bytes=kontent.max_response_bytes,
        )

    async def _close_later(self, snapshot: Snapshot, grace_s: float) -> None:
        await asyncio.sleep(grace_s)
        if snapshot in self._retired:  # aclose() may have closed it already
            self._retired.remove(snapshot)
            await _close_actions(snapshot)


def _engine_for(config: Config) -> RuleEngine:
    from bridge.rules import RuleEngine  # resolved lazily by bridge.rules itself

    return RuleEngine(config, on_regex_timeout=metrics.regex_timed_out)


async def _close_actions(snapshot: Snapshot) -> None:
    for name, action in snapshot.actions.items():
        try:
            await action.close()
        except Exception:  # one action's failure to close must not keep the others open
            log.warning("action %r failed to close", name, exc_info=True)
