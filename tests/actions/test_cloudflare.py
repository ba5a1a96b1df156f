from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.cloudflare import NOTHING_TO_PURGE, CloudflareAction, CloudflareOptions
from tests.fakes.events import MakeCall, make_event, rendered_call
from tests.fakes.server import Recorder

OK = '{"success": true, "errors": [], "messages": [], "result": {"id": "p1"}}'


def cf_options(url: str, **extra: object) -> dict[str, object]:
    return {"zone_id": "abc123", "token": "cft", "api_url": url, **extra}


async def test_each_kind_is_sent_separately_in_chunks_of_100(
    resources: Resources, make_call: MakeCall
) -> None:
    events = [make_event(codename=f"i{n}") for n in range(150)]
    async with Recorder(body=OK) as cf:
        call = make_call(
            CloudflareAction,
            cf_options(cf.url, tags="x"),
            events,
            per_event=lambda e: {
                "tags": f"article-{e.codename}",
                "files": [f"https://www.example.test/articles/{e.codename}"],
                "hosts": "www.example.test",
            },
        )
        result = await CloudflareAction("cdn", resources).send(call)
    bodies = [r.json() for r in cf.requests]
    assert [sorted(b) for b in bodies] == [["tags"], ["tags"], ["files"], ["files"], ["hosts"]]
    assert [len(next(iter(b.values()))) for b in bodies] == [100, 50, 100, 50, 1]
    assert {r.path for r in cf.requests} == {"/zones/abc123/purge_cache"}
    assert cf.requests[0].headers["Authorization"] == "Bearer cft"
    assert result.response == "purged 150 tags, 150 files, 1 hosts"


async def test_enterprise_chunk_size_and_prefixes(
    resources: Resources, make_call: MakeCall
) -> None:
    prefixes = [f"www.example.test/p{n}/" for n in range(300)]
    async with Recorder(body=OK) as cf:
        call = make_call(CloudflareAction, cf_options(cf.url, prefixes=prefixes, chunk_size=500))
        await CloudflareAction("cdn", resources).send(call)
    assert [len(r.json()["prefixes"]) for r in cf.requests] == [300]


async def test_unsuccessful_answers_fail(resources: Resources, make_call: MakeCall) -> None:
    refused = {
        "success": False,
        "errors": [{"code": 1012, "message": "Request must contain one of"}],
    }
    async with Recorder() as cf:
        cf.fail_next(200, refused)
        with pytest.raises(PermanentFailure, match="Request must contain one of"):
            await CloudflareAction("cdn", resources).send(
                make_call(CloudflareAction, cf_options(cf.url, tags="t"))
            )
        cf.fail_next(429, refused, {"Retry-After": "60"})
        with pytest.raises(Retry) as caught:
            await CloudflareAction("cdn", resources).send(
                make_call(CloudflareAction, cf_options(cf.url, tags="t"))
            )
    assert caught.value.delay_s == 60


def test_needs_something_to_purge() -> None:
    with pytest.raises(ValidationError, match="at least one of"):
        CloudflareOptions.model_validate({"zone_id": "z", "token": "t"})


@pytest.mark.parametrize(
    ("errors", "reason"),
    [
        ([{"code": 1, "message": "m" * 600}], "Cloudflare refused the purge: mmmm"),
        (["not allowed"], "Cloudflare refused the purge: not allowed"),
    ],
    ids=["longer-than-the-excerpt", "errors-as-strings"],
)
async def test_a_refusal_in_a_2xx_is_read_from_the_answer_not_its_excerpt(
    resources: Resources, make_call: MakeCall, errors: list[object], reason: str
) -> None:
    """Before: a refusal over the 500-character excerpt no longer parsed and passed for a purge
    done, and errors that were not objects raised AttributeError."""
    refusal = json.dumps({"success": False, "errors": errors})
    async with Recorder(body=refusal) as cf:
        call = make_call(CloudflareAction, cf_options(cf.url, tags="x"), [make_event()])
        with pytest.raises(PermanentFailure, match=reason):
            await CloudflareAction("cdn", resources).send(call)


async def test_values_that_render_empty_are_not_sent(resources: Resources) -> None:
    """Before: tags rendering None failed the 'at least one of' check after rendering (the job
    died), and a None inside a list failed validation."""
    options = cf_options(
        "http://placeholder",
        tags="{{ event.codename }}",
        files=[
            "{{ event.codename }}",
            "{% if event.codename %}https://x.test/{{ event.codename }}{% endif %}",
        ],
    )
    async with Recorder() as cf:
        options["api_url"] = cf.url
        events = [make_event(codename=None), make_event(codename="hello")]
        result = await CloudflareAction("cdn", resources).send(
            rendered_call(CloudflareAction, options, events)
        )
        assert [r.json() for r in cf.requests] == [
            {"tags": ["hello"]},
            {"files": ["hello", "https://x.test/hello"]},
        ]
        alone = rendered_call(CloudflareAction, options, [make_event(codename=None)])
        nothing = await CloudflareAction("cdn", resources).send(alone)
    assert len(cf.requests) == 2
    assert result.response == "purged 1 tags, 2 files"
    assert nothing.status is None and nothing.response == NOTHING_TO_PURGE
