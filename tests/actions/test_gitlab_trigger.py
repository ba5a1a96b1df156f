from __future__ import annotations

from urllib.parse import parse_qs

import pytest

from bridge.actions.base import Resources, Retry
from bridge.actions.gitlab import GitlabTriggerAction
from tests.fakes.events import MakeCall
from tests.fakes.server import Recorder


async def test_triggers_a_pipeline_with_variables(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder(status=201, body='{"id": 7}') as gitlab:
        options = {
            "project": "acme/site",
            "token": "glptt-x",
            "ref": "prod",
            "variables": {"CODENAME": "hello"},
            "api_url": gitlab.url + "/api/v4",
        }
        result = await GitlabTriggerAction("gl", resources).send(
            make_call(GitlabTriggerAction, options)
        )
    assert result.status == 201
    sent = gitlab.requests[0]
    assert sent.raw_path == "/api/v4/projects/acme%2Fsite/trigger/pipeline"
    form = parse_qs(sent.text)
    assert form == {"token": ["glptt-x"], "ref": ["prod"], "variables[CODENAME]": ["hello"]}


async def test_server_error_retries(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder(status=502) as gitlab:
        options = {"project": "42", "token": "t", "api_url": gitlab.url}
        with pytest.raises(Retry, match="502"):
            await GitlabTriggerAction("gl", resources).send(make_call(GitlabTriggerAction, options))
