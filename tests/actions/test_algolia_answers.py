"""Algolia's error answers judged by the shared rules, without the SDK's own waiting."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest

from bridge.actions.algolia import AlgoliaAction
from bridge.actions.base import PermanentFailure, Resources, Retry
from tests.actions.harness import opened
from tests.fakes.algolia import FakeAlgolia
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder


async def test_a_429_fails_the_attempt_instead_of_sleeping_inside_it(
    resources: Resources, make_call: MakeCall
) -> None:
    """Before: the SDK slept the Retry-After and asked again (3 times) within the attempt, so a
    long Retry-After ended as 'timed out' and the 429 was never the job's reason."""
    async with FakeAlgolia() as algolia, opened(AlgoliaAction("search", resources)) as action:
        options = {"app_id": algolia.app_id, "api_key": algolia.api_key, "index": "articles"}
        options["hosts"] = [algolia.url]
        algolia.fail_next(429, {"message": "Too many requests"}, {"Retry-After": "1"})
        call = make_call(AlgoliaAction, options, [make_event(action="deleted")])
        with pytest.raises(Retry) as caught:
            await action.send(call)
    assert caught.value.status == 429
    assert "Algolia answered 429: Too many requests" in caught.value.reason
    assert len(algolia.requests) == 1


@pytest.mark.parametrize(
    ("status", "expected"), [(408, Retry), (409, Retry), (422, PermanentFailure)]
)
async def test_4xx_answers_follow_the_shared_status_rules(
    resources: Resources, make_call: MakeCall, status: int, expected: type[Exception]
) -> None:
    async with FakeAlgolia() as algolia, opened(AlgoliaAction("search", resources)) as action:
        options = {"app_id": algolia.app_id, "api_key": algolia.api_key, "index": "articles"}
        options["hosts"] = [algolia.url]
        algolia.fail_next(status, {"message": "no"})
        call = make_call(AlgoliaAction, options, [make_event(action="deleted")])
        with pytest.raises(expected, match=f"Algolia answered {status}"):
            await action.send(call)


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("<html>a proxy</html>", "JSONDecodeError"),
        ([1, 2], "ValidationError"),
        ({}, "ValidationError"),
    ],
    ids=["html", "list", "no-task"],
)
async def test_a_2xx_the_sdk_cannot_read_retries_saying_so(
    resources: Resources, make_call: MakeCall, body: object, why: str
) -> None:
    """Before: the SDK's own exception (a bare JSONDecodeError, a pydantic ValidationError)
    was the job's whole reason, not naming Algolia."""
    async with Recorder(200, body) as host, opened(AlgoliaAction("search", resources)) as action:
        options = {"app_id": "APP", "api_key": "key", "index": "articles", "hosts": [host.url]}
        call = make_call(AlgoliaAction, options, [make_event(action="deleted")])
        with pytest.raises(Retry, match=f"Algolia answered something its SDK cannot read: {why}"):
            await action.send(call)


@pytest.fixture
def closed_port_url() -> Iterator[str]:
    """A URL whose port refuses connections: bound (so nothing else takes it), never listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


async def test_a_host_that_cannot_be_reached_hands_over_to_the_next(
    resources: Resources, make_call: MakeCall, closed_port_url: str
) -> None:
    """Before: the SDK moved on only after a timeout, so a refused first host ended the attempt
    as 'unreachable' with the working second host never asked."""
    async with FakeAlgolia() as algolia, opened(AlgoliaAction("search", resources)) as action:
        options = {"app_id": algolia.app_id, "api_key": algolia.api_key, "index": "articles"}
        options["hosts"] = [closed_port_url, algolia.url]
        result = await action.send(
            make_call(AlgoliaAction, options, [make_event(action="deleted")])
        )
    assert "deleted 1" in result.response
    assert [r.path for r in algolia.requests].count("/1/indexes/articles/batch") == 1


async def test_every_host_failing_says_what_each_one_answered(
    resources: Resources, make_call: MakeCall, closed_port_url: str
) -> None:
    async with FakeAlgolia() as algolia, opened(AlgoliaAction("search", resources)) as action:
        options = {"app_id": algolia.app_id, "api_key": algolia.api_key, "index": "articles"}
        options["hosts"] = [algolia.url, closed_port_url]
        algolia.fail_next(503, "upstream overloaded")
        with pytest.raises(Retry) as caught:
            await action.send(make_call(AlgoliaAction, options, [make_event(action="deleted")]))
    assert caught.value.status == 503
    first, second = caught.value.reason.removeprefix("every Algolia host failed: ").split("; ")
    assert first == "127.0.0.1 answered 503 Service Unavailable: upstream overloaded"
    assert second.startswith("127.0.0.1: no connection: ClientConnectorError")
