from __future__ import annotations

import email.utils
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from bridge.actions.base import Action, PermanentFailure, Resources, Retry
from bridge.actions.buildhooks import NetlifyAction
from bridge.actions.cloudflare import CloudflareAction
from bridge.actions.fastly import FastlyAction
from bridge.actions.github import GithubDispatchAction
from bridge.actions.gitlab import GitlabTriggerAction
from bridge.actions.http import HttpAction, HttpOptions
from bridge.actions.httputil import answered, retry_after_s
from bridge.actions.slack import SlackAction
from bridge.actions.varnish import VarnishAction
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import Recorder


async def test_default_body_carries_every_event_with_an_idempotency_key(
    resources: Resources, make_call: MakeCall
) -> None:
    events = [make_event(codename="a"), make_event(codename="b", action="unpublished")]
    async with Recorder(status=202, body="queued") as hook:
        call = make_call(HttpAction, {"url": f"{hook.url}/hook"}, events, delivery_id="d-42")
        result = await HttpAction("notify", resources).send(call)
    assert (result.status, result.response) == (202, "queued")
    sent = hook.requests[0]
    assert (sent.method, sent.path) == ("POST", "/hook")
    assert sent.headers["Idempotency-Key"] == "d-42"
    body = sent.json()
    assert [e["codename"] for e in body["events"]] == ["a", "b"]
    assert body["events"][1]["action"] == "unpublished"


async def test_json_body_method_and_headers(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder() as hook:
        options = {
            "url": f"{hook.url}/items/hello?x=1",
            "method": "PUT",
            "headers": {"X-Token": "t"},
            "json": {"name": "Hello"},
        }
        await HttpAction("notify", resources).send(make_call(HttpAction, options))
    sent = hook.requests[0]
    assert (sent.method, sent.path, sent.query) == ("PUT", "/items/hello", {"x": "1"})
    assert sent.headers["X-Token"] == "t"
    assert sent.json() == {"name": "Hello"}


async def test_text_body(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder() as hook:
        options = {"url": f"{hook.url}/t", "body": "plain words"}
        await HttpAction("notify", resources).send(make_call(HttpAction, options))
    assert hook.requests[0].text == "plain words"
    assert hook.requests[0].headers["Content-Type"].startswith("text/plain")


def test_json_and_body_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="either json or body"):
        HttpOptions.model_validate({"url": "https://x.test/", "json": {}, "body": "b"})


def test_an_authorization_header_beside_url_credentials_is_refused_at_load() -> None:
    """aiohttp refuses to send both, so every attempt failed with a ValueError that was
    retried for three days, holding a FIFO queue."""
    with pytest.raises(ValidationError, match="cannot both be sent: keep one"):
        HttpOptions.model_validate(
            {"url": "https://user:pw@x.test/hook", "headers": {"authorization": "Bearer t"}}
        )
    HttpOptions.model_validate({"url": "https://user:pw@x.test/hook"})  # one of them: fine


async def test_a_request_aiohttp_refuses_to_build_is_permanent(resources: Resources) -> None:
    """What the options cannot see (a plugin's headers, say) fails at once, not on a schedule."""
    async with Recorder() as hook:
        url = hook.url.replace("http://", "http://user:pw@") + "/x"
        with pytest.raises(PermanentFailure, match="the request cannot be sent: Cannot combine"):
            await answered(
                resources.http, "POST", url, what="notify", headers={"Authorization": "Bearer t"}
            )
    assert hook.requests == []


@pytest.mark.parametrize(
    "template",
    [
        "{{ event.raw.url }}",
        "https://{{ event.codename }}.example.com/",
        "https://example.com{{ event.codename }}",
        "https://example.com:{{ port }}/x",
        "ftp://example.com/{{ x }}",
    ],
)
def test_templates_may_not_choose_scheme_or_host(template: str) -> None:
    with pytest.raises(ValidationError, match="url"):
        HttpOptions.model_validate({"url": template})


@pytest.mark.parametrize(
    "template",
    ["https://example.com/{{ event.codename }}", "https://example.com?item={{ event.id }}"],
)
def test_templates_may_fill_path_and_query(template: str) -> None:
    assert HttpOptions.model_validate({"url": template}).url == template


async def test_rendered_url_with_another_host_is_permanent(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder() as hook, Recorder() as evil:
        call = make_call(
            HttpAction,
            {"url": f"{evil.url}/steal"},
            templates={"url": f"{hook.url}/{{{{ event.codename }}}}"},
        )
        with pytest.raises(PermanentFailure, match="scheme or host"):
            await HttpAction("notify", resources).send(call)
    assert evil.requests == [] and hook.requests == []


@pytest.mark.parametrize("status", [500, 502, 408, 409, 425])
async def test_server_errors_retry(resources: Resources, make_call: MakeCall, status: int) -> None:
    async with Recorder(status=status, body="nope") as hook:
        with pytest.raises(Retry) as caught:
            await HttpAction("n", resources).send(make_call(HttpAction, {"url": hook.url + "/"}))
    assert caught.value.status == status
    assert caught.value.response == "nope"


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_is_honoured(
    resources: Resources, make_call: MakeCall, status: int
) -> None:
    async with Recorder() as hook:
        hook.fail_next(status, "busy", {"Retry-After": "12"})
        with pytest.raises(Retry) as caught:
            await HttpAction("n", resources).send(make_call(HttpAction, {"url": hook.url + "/"}))
    assert caught.value.delay_s == 12


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
async def test_client_errors_are_permanent(
    resources: Resources, make_call: MakeCall, status: int
) -> None:
    async with Recorder(status=status, body="bad") as hook:
        with pytest.raises(PermanentFailure, match=str(status)):
            await HttpAction("n", resources).send(make_call(HttpAction, {"url": hook.url + "/"}))


async def test_redirects_are_not_followed(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder() as hook, Recorder() as other:
        hook.fail_next(307, "", {"Location": f"{other.url}/x"})
        with pytest.raises(PermanentFailure, match="redirected"):
            await HttpAction("n", resources).send(make_call(HttpAction, {"url": hook.url + "/"}))
    assert other.requests == []


async def test_unreachable_endpoint_retries(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder() as hook:
        url = hook.url + "/"
    with pytest.raises(Retry, match="unreachable"):
        await HttpAction("n", resources).send(make_call(HttpAction, {"url": url}))


async def test_long_responses_are_bounded(resources: Resources, make_call: MakeCall) -> None:
    async with Recorder(body="x" * 5000) as hook:
        result = await HttpAction("n", resources).send(make_call(HttpAction, {"url": hook.url}))
    assert len(result.response) < 600


URL_OPTIONS = [
    (NetlifyAction, "url", {}),
    (GithubDispatchAction, "api_url", {"repo": "a/b", "token": "t"}),
    (GitlabTriggerAction, "api_url", {"project": "1", "token": "t"}),
    (FastlyAction, "api_url", {"service_id": "S", "token": "t", "keys": "k"}),
    (CloudflareAction, "api_url", {"zone_id": "z", "token": "t", "tags": "k"}),
    (VarnishAction, "url", {"purge_urls": "/x"}),
    (SlackAction, "webhook_url", {"text": "hi"}),
    (SlackAction, "base_url", {"token": "t", "channel": "c"}),
]


@pytest.mark.parametrize(("action", "option", "others"), URL_OPTIONS)
async def test_every_url_option_keeps_the_templates_literal_host(
    resources: Resources,
    make_call: MakeCall,
    action: type[Action[Any]],
    option: str,
    others: dict[str, Any],
) -> None:
    async with Recorder() as good, Recorder() as evil:
        call = make_call(
            action,
            {**others, option: f"{evil.url}/x"},
            templates={option: good.url + "/{{ event.raw.path }}"},
        )
        with pytest.raises(PermanentFailure, match="scheme or host"):
            await action("a", resources).send(call)
    assert evil.requests == []


def test_retry_after_takes_seconds_or_an_http_date() -> None:
    soon = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=90), usegmt=True)
    delay = retry_after_s({"Retry-After": soon})
    assert delay is not None and 80 <= delay <= 90
    assert retry_after_s({"Retry-After": "15"}) == 15
    assert retry_after_s({"Retry-After": "soon"}) is None
    assert retry_after_s({}) is None


@pytest.mark.parametrize("raw", ["inf", "-inf", "nan", "1e999"])
def test_retry_after_that_is_no_finite_number_is_unreadable(raw: str) -> None:
    """float() reads these; before, 'inf' came back as a wait of forever (the Sync API client
    slept it inside a cycle)."""
    assert retry_after_s({"Retry-After": raw}) is None


async def test_a_3xx_without_a_location_is_not_called_a_redirect(
    resources: Resources, make_call: MakeCall
) -> None:
    """Before: 'redirected (304) to ?; configure the final URL', for a 304 Not Modified."""
    async with Recorder() as hook:
        hook.fail_next(304)
        with pytest.raises(PermanentFailure) as caught:
            await HttpAction("n", resources).send(make_call(HttpAction, {"url": hook.url + "/"}))
    assert caught.value.reason == "n answered 304 without a Location"
