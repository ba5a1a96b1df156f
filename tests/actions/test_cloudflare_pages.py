"""`cloudflare_pages`: a build-hook preset (what the presets share: test_buildhooks.py)."""

from __future__ import annotations

import re

import pytest

from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.buildhooks import CloudflarePagesAction
from tests.fakes.events import MakeCall
from tests.fakes.server import Recorder


async def test_a_failure_names_the_action_and_cloudflare_pages(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder(status=404) as hook:
        call = make_call(CloudflarePagesAction, {"url": hook.url + "/x"})
        expected = re.escape("site (Cloudflare Pages) answered 404")
        with pytest.raises(PermanentFailure, match=expected):
            await CloudflarePagesAction("site", resources).send(call)
    assert "Cloudflare Pages" in CloudflarePagesAction.summary
