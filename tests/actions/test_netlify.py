"""`netlify`: a build-hook preset (what the presets share: test_buildhooks.py)."""

from __future__ import annotations

import re

import pytest

from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.buildhooks import NetlifyAction
from tests.fakes.events import MakeCall
from tests.fakes.server import Recorder


async def test_a_failure_names_the_action_and_netlify(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder(status=404) as hook:
        call = make_call(NetlifyAction, {"url": hook.url + "/x"})
        expected = re.escape("site (Netlify) answered 404")
        with pytest.raises(PermanentFailure, match=expected):
            await NetlifyAction("site", resources).send(call)
    assert "Netlify" in NetlifyAction.summary
