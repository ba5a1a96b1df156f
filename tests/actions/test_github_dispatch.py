from __future__ import annotations

import pytest
from pydantic import ValidationError

from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.github import GithubDispatchAction, GithubDispatchOptions
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder


async def test_dispatch_with_default_payload(resources: Resources, make_call: MakeCall) -> None:
    events = [make_event(codename="a"), make_event(codename="b")]
    async with Recorder(status=204, body="") as github:
        options = {"repo": "acme/site", "token": "ghp_x", "api_url": github.url}
        result = await GithubDispatchAction("gh", resources).send(
            make_call(GithubDispatchAction, options, events)
        )
    assert result.status == 204
    sent = github.requests[0]
    assert (sent.method, sent.path) == ("POST", "/repos/acme/site/dispatches")
    assert sent.headers["Authorization"] == "Bearer ghp_x"
    assert sent.headers["Accept"] == "application/vnd.github+json"
    body = sent.json()
    assert body["event_type"] == "kontent-bridge"
    assert [e["codename"] for e in body["client_payload"]["events"]] == ["a", "b"]
    assert "raw" not in body["client_payload"]["events"][0]


async def test_custom_event_type_and_payload(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder(status=204, body="") as github:
        options = {
            "repo": "acme/site",
            "token": "t",
            "api_url": github.url,
            "event_type": "content",
            "client_payload": {"codename": "hello"},
        }
        await GithubDispatchAction("gh", resources).send(make_call(GithubDispatchAction, options))
    assert github.requests[0].json() == {
        "event_type": "content",
        "client_payload": {"codename": "hello"},
    }


def test_repo_must_be_owner_slash_name() -> None:
    with pytest.raises(ValidationError, match="repo"):
        GithubDispatchOptions.model_validate({"repo": "acme/site/../x", "token": "t"})


async def test_bad_credentials_are_permanent(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder(status=401, body='{"message": "Bad credentials"}') as github:
        options = {"repo": "acme/site", "token": "t", "api_url": github.url}
        with pytest.raises(PermanentFailure, match="401"):
            await GithubDispatchAction("gh", resources).send(
                make_call(GithubDispatchAction, options)
            )
