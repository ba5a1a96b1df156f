from __future__ import annotations

import logging

import pytest
from pydantic import ValidationError

from bridge.actions.base import Resources
from bridge.actions.log import LogAction, LogOptions
from tests.fakes.events import MakeCall, make_event


async def test_logs_one_line_per_event(
    resources: Resources, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    events = [make_event(name="One"), make_event(name="Two")]
    with caplog.at_level(logging.INFO, logger="bridge.actions.log"):
        result = await LogAction("audit", resources).send(make_call(LogAction, {}, events))
    assert result.response == "logged 2 line(s)"
    lines = [r.getMessage() for r in caplog.records if r.name == "bridge.actions.log"]
    assert lines == [
        "[audit] content_item published article 'One' (en) [published]",
        "[audit] content_item published article 'Two' (en) [published]",
    ]


async def test_message_and_level(
    resources: Resources, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="bridge.actions.log"):
        await LogAction("audit", resources).send(
            make_call(LogAction, {"message": "hello", "level": "warning"})
        )
    [record] = [r for r in caplog.records if r.name == "bridge.actions.log"]
    assert (record.levelname, record.getMessage()) == ("WARNING", "[audit] hello")


def test_an_unknown_level_is_a_config_error() -> None:
    with pytest.raises(ValidationError, match="level"):
        LogOptions(level="loud")  # type: ignore[arg-type]
