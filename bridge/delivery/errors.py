"""The store's own exceptions: driver errors are translated into these at the connector."""

from __future__ import annotations


class StoreError(Exception):
    """Base of the store's own exceptions; driver errors never leave a store."""


class StoreUnavailable(StoreError):
    """The store cannot durably write (or read) now: the receiver answers 503, workers back off."""
