"""How a call to the outside world fails: `Retry` (try again, perhaps not before `delay_s`) or
`PermanentFailure` (no retry can help: the job is dead at once).

Part of the action contract (plugins import them from bridge.actions.base, which re-exports
them), defined here, below both bridge.actions and bridge.kontent, because the Kontent.ai
clients raise them too and must not import the actions package (pyproject's import contracts).
"""

from __future__ import annotations


class ActionError(Exception):
    def __init__(self, reason: str, *, status: int | None = None, response: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.response = response


class Retry(ActionError):
    """Try again later; a `delay_s` (a Retry-After, say) longer than the schedule's wins."""

    def __init__(
        self,
        reason: str,
        *,
        delay_s: float | None = None,
        status: int | None = None,
        response: str = "",
    ) -> None:
        super().__init__(reason, status=status, response=response)
        self.delay_s = delay_s


class PermanentFailure(ActionError):
    """Retrying cannot help: the job is dead at once (kept, visible, replayable)."""
