"""Durable delivery: store protocol and stores, workers, retries, debounce, health, alerts."""

from bridge.delivery.clock import Clock, ManualClock, SystemClock
from bridge.delivery.model import Accepted
from bridge.delivery.opening import open_store
from bridge.delivery.store import Store, StoreError, StoreUnavailable

__all__ = [
    "Accepted",
    "Clock",
    "ManualClock",
    "Store",
    "StoreError",
    "StoreUnavailable",
    "SystemClock",
    "open_store",
]
