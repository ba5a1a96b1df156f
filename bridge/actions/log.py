"""`log`: write a line to the bridge's own log. Needs no account: the first-run action."""

from __future__ import annotations

import logging
from typing import Literal

from bridge.actions.base import Action, ActionOptions, Call, Success

log = logging.getLogger("bridge.actions.log")


class LogOptions(ActionOptions):
    message: str | None = None
    level: Literal["debug", "info", "warning", "error"] = "info"


class LogAction(Action[LogOptions]):
    Options = LogOptions
    summary = "Write a line to the bridge's log."

    async def send(self, call: Call[LogOptions]) -> Success:
        level = logging.getLevelNamesMapping()[call.options.level.upper()]
        if call.options.message is not None:
            lines = [call.options.message]
        else:
            lines = [item.event.summary() for item in call.items]
        for line in lines:
            log.log(level, "[%s] %s", self.name, line, extra={"delivery_id": call.delivery_id})
        return Success(response=f"logged {len(lines)} line(s)")
