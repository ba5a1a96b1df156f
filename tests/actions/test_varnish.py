from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import aiohttp
import pytest

from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.varnish import NOTHING_TO_PURGE, VarnishAction
from tests.fakes.events import MakeCall, make_event, rendered_call
from tests.fakes.server import Recorder
from tests.fakes.varnish import Origin, RealVarnish, varnishd


@dataclass
class Cache:
    varnish: RealVarnish
    origin: Origin
    http: aiohttp.ClientSession

    async def get(self, path: str, host: str = "www.example.test") -> str:
        async with self.http.get(self.varnish.url + path, headers={"Host": host}) as resp:
            assert resp.status == 200
            return await resp.text()


@pytest.fixture
async def cache(http: aiohttp.ClientSession) -> AsyncIterator[Cache]:
    binary = varnishd()
    if binary is None:
        print("varnishd not found: run .ci/install-varnish.sh (skipping)")
        pytest.skip("varnishd not installed (run .ci/install-varnish.sh)")
    tags = {"/articles/hello": "article-hello listing", "/articles/other": "article-other listing"}
    async with Origin(tags) as origin, RealVarnish(binary, origin.url) as varnish:
        yield Cache(varnish, origin, http)


@pytest.mark.varnish
async def test_url_purge_makes_varnish_fetch_the_page_again(
    cache: Cache, resources: Resources, make_call: MakeCall
) -> None:
    await cache.get("/articles/hello")
    await cache.get("/articles/hello")
    assert cache.origin.hits["/articles/hello"] == 1  # cached

    options = {"url": cache.varnish.url}
    call = make_call(
        VarnishAction,
        options,
        [make_event(codename="hello")],
        per_event=lambda e: {"purge_urls": f"https://www.example.test/articles/{e.codename}"},
    )
    result = await VarnishAction("cdn", resources).send(call)
    assert "1 URL(s)" in result.response

    assert await cache.get("/articles/hello") == "/articles/hello #2"
    assert cache.origin.hits["/articles/hello"] == 2


@pytest.mark.varnish
async def test_xkey_purge_invalidates_every_tagged_page(
    cache: Cache, resources: Resources, make_call: MakeCall
) -> None:
    for path in ("/articles/hello", "/articles/other", "/about"):
        await cache.get(path)
        await cache.get(path)
    call = make_call(
        VarnishAction,
        {"url": cache.varnish.url},
        [make_event(codename="hello"), make_event(codename="hello")],
        per_event=lambda e: {"xkey": f"article-{e.codename}"},
    )
    await VarnishAction("cdn", resources).send(call)
    for path in ("/articles/hello", "/articles/other", "/about"):
        await cache.get(path)
    assert cache.origin.hits == {"/articles/hello": 2, "/articles/other": 1, "/about": 1}


@pytest.mark.varnish
async def test_ban_expression(cache: Cache, resources: Resources, make_call: MakeCall) -> None:
    for path in ("/articles/hello", "/articles/other", "/about"):
        await cache.get(path)
    call = make_call(
        VarnishAction, {"url": cache.varnish.url, "ban": "obj.http.x-url ~ ^/articles/"}
    )
    await VarnishAction("cdn", resources).send(call)
    for path in ("/articles/hello", "/articles/other", "/about"):
        await cache.get(path)
    assert cache.origin.hits == {"/articles/hello": 2, "/articles/other": 2, "/about": 1}


@pytest.mark.varnish
async def test_invalid_ban_is_permanent(
    cache: Cache, resources: Resources, make_call: MakeCall
) -> None:
    call = make_call(VarnishAction, {"url": cache.varnish.url, "ban": "not an expression"})
    with pytest.raises(PermanentFailure, match="400"):
        await VarnishAction("cdn", resources).send(call)


async def test_requests_go_to_the_cache_with_merged_values(
    resources: Resources, make_call: MakeCall
) -> None:
    events = [make_event(codename="a"), make_event(codename="b"), make_event(codename="a")]
    async with Recorder() as cache:
        call = make_call(
            VarnishAction,
            {"url": cache.url, "xkey_header": "X-Purge-Keys", "host": "site.test"},
            events,
            per_event=lambda e: {
                "purge_urls": [f"/a/{e.codename}", "https://evil.test/x?y=1"],
                "xkey": f"k-{e.codename} shared",
            },
        )
        await VarnishAction("cdn", resources).send(call)
    sent = [(r.method, r.path, r.query, r.headers["Host"]) for r in cache.requests]
    assert sent == [
        ("PURGE", "/a/a", {}, "site.test"),
        ("PURGE", "/x", {"y": "1"}, "evil.test"),  # the host is a header; the cache gets it
        ("PURGE", "/a/b", {}, "site.test"),
        ("PURGE", "/", {}, cache.url.removeprefix("http://")),
    ]
    assert cache.requests[-1].headers["X-Purge-Keys"] == "k-a shared k-b"


async def test_urls_bans_and_tags_that_render_empty_are_not_sent(resources: Resources) -> None:
    """Before: a None failed validation (the job died). Requests go to a recorder: nothing here
    needs a cache, only what would be sent to one (aiohttp's server refuses BAN, so the batch
    that sends has no ban)."""
    purge_urls = [
        "{{ event.codename }}",
        "{% if event.codename %}/a/{{ event.codename }}{% endif %}",
    ]
    ban = "{% if event.codename %}obj.http.x-codename == {{ event.codename }}{% endif %}"
    async with Recorder() as cache:
        options = {"url": cache.url, "purge_urls": purge_urls, "xkey": "{{ event.codename }}"}
        alone = rendered_call(VarnishAction, options | {"ban": ban}, [make_event(codename=None)])
        nothing = await VarnishAction("cdn", resources).send(alone)
        assert cache.requests == []
        both = rendered_call(
            VarnishAction, options, [make_event(codename=None), make_event(codename="c")]
        )
        result = await VarnishAction("cdn", resources).send(both)
    assert nothing.status is None and nothing.response == NOTHING_TO_PURGE
    sent = [(r.method, r.path, r.headers.get("xkey-purge")) for r in cache.requests]
    assert sent == [("PURGE", "/c", None), ("PURGE", "/a/c", None), ("PURGE", "/", "c")]
    assert result.response == "purged 2 URL(s), 0 ban(s), 1 xkey(s)"
