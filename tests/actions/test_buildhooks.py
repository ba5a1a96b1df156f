"""What `netlify`, `vercel` and `cloudflare_pages` share: one empty POST to the hook URL."""

from __future__ import annotations

import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.buildhooks import (
    BuildHookAction,
    CloudflarePagesAction,
    NetlifyAction,
    VercelAction,
)
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder

PRESETS = pytest.mark.parametrize(
    "preset",
    [NetlifyAction, VercelAction, CloudflarePagesAction],
    ids=["netlify", "vercel", "cloudflare_pages"],
)


@PRESETS
async def test_a_batch_triggers_one_build(
    preset: type[BuildHookAction], resources: Resources, make_call: MakeCall
) -> None:
    events = [make_event(codename=f"item_{i}") for i in range(5)]
    async with Recorder(status=200, body='{"id": "build-1"}') as hook:
        call = make_call(preset, {"url": f"{hook.url}/build_hooks/abc"}, events)
        result = await preset("site", resources).send(call)
    assert [(r.method, r.path) for r in hook.requests] == [("POST", "/build_hooks/abc")]
    assert result.status == 200


@PRESETS
def test_debounces_by_default(preset: type[BuildHookAction]) -> None:
    assert preset.defaults == {"debounce": "60s", "max_wait": "10m"}
    assert "url" in preset.secret_options


@PRESETS
async def test_failures(
    preset: type[BuildHookAction], resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder(status=404) as hook:
        with pytest.raises(PermanentFailure, match="404"):
            await preset("site", resources).send(make_call(preset, {"url": hook.url + "/x"}))
        hook.status = 500
        with pytest.raises(Retry):
            await preset("site", resources).send(make_call(preset, {"url": hook.url + "/x"}))
