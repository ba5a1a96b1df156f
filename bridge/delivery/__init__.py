"""Durable delivery: store protocol and stores, workers, retries, debounce, health, alerts."""

from bridge.delivery.clock import Clock, ManualClock, SystemClock
from bridge.delivery.model import Accepted
from bridge.delivery.store import Store, StoreError, StoreUnavailable, open_store

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
