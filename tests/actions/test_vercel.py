"""`vercel`: a build-hook preset (what the presets share: test_buildhooks.py)."""

from __future__ import annotations

import re

import pytest

from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.buildhooks import VercelAction
from tests.fakes.events import MakeCall
from tests.fakes.server import Recorder


async def test_a_failure_names_the_action_and_vercel(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder(status=404) as hook:
        call = make_call(VercelAction, {"url": hook.url + "/x"})
        expected = re.escape("site (Vercel) answered 404")
        with pytest.raises(PermanentFailure, match=expected):
            await VercelAction("site", resources).send(call)
    assert "Vercel" in VercelAction.summary
