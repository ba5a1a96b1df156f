from __future__ import annotations

import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.buildhooks import CloudflarePagesAction
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder


async def test_a_batch_triggers_one_build(resources: Resources, make_call: MakeCall) -> None:
    events = [make_event(codename=f"item_{i}") for i in range(5)]
    async with Recorder(status=200, body='{"id": "build-1"}') as hook:
        call = make_call(CloudflarePagesAction, {"url": f"{hook.url}/build_hooks/abc"}, events)
        result = await CloudflarePagesAction("site", resources).send(call)
    assert [(r.method, r.path) for r in hook.requests] == [("POST", "/build_hooks/abc")]
    assert result.status == 200


def test_debounces_by_default() -> None:
    assert CloudflarePagesAction.defaults == {"debounce": "60s", "max_wait": "10m"}
    assert "url" in CloudflarePagesAction.secret_options


async def test_failures(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder(status=404) as hook:
        with pytest.raises(PermanentFailure, match="404"):
            await CloudflarePagesAction("site", resources).send(
                make_call(CloudflarePagesAction, {"url": hook.url + "/x"})
            )
        hook.status = 500
        with pytest.raises(Retry):
            await CloudflarePagesAction("site", resources).send(
                make_call(CloudflarePagesAction, {"url": hook.url + "/x"})
            )
