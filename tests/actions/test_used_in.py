"""Used-in fan-out against a local Delivery API: paging, dedupe, depth, bounds, 429, templates."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

from bridge.actions import used_in_taxonomy
from bridge.actions.algolia import AlgoliaAction
from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.cloudflare import CloudflareAction
from bridge.actions.fastly import FastlyAction, FastlyOptions
from bridge.actions.used_in import UsedIn, describe, expand_call
from bridge.actions.varnish import VarnishAction
from bridge.config import ConfigError, parse_config
from bridge.kontent.client import WAIT_HEADER, DeliveryClient, Keys
from bridge.payloads import parse_body
from bridge.rules import RuleEngine
from tests.fakes.algolia import FakeAlgolia
from tests.fakes.events import MakeCall, make_event
from tests.fakes.kontent import FakeDelivery, item_json
from tests.fakes.server import Recorder

ENV = "env-1"
FASTLY = {"service_id": "SVC", "token": "t", "keys": "item-{{ event.codename }}"}


def client(http: aiohttp.ClientSession, fake: FakeDelivery) -> DeliveryClient:
    return DeliveryClient(http, fake.url, fake.url + "/preview", {ENV: Keys(preview_api_key="pk")})


def page(codename: str, *links: str, type: str = "page", language: str = "en") -> dict[str, Any]:
    elements = {"parts": {"type": "modular_content", "name": "Parts", "value": list(links)}}
    return item_json(codename, id=f"id-{codename}", type=type, language=language, elements=elements)


def call_for(make_call: MakeCall, *events: Any, expand: Any = "used_in", **extra: Any) -> Any:
    """A fastly call whose keys template is rendered per event, as the worker does."""
    options = {**FASTLY, "expand": expand, **extra}
    return make_call(
        FastlyAction,
        {**options, "keys": "batch"},
        list(events),
        per_event=lambda e: {"keys": f"item-{e.codename}"},
        templates=options,
    )


def codenames(expanded: Any) -> list[str]:
    return [item.event.codename for item in expanded.parents]


async def test_every_page_is_followed_with_x_continuation(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake:
        fake.page_size = 2
        for n in range(5):
            fake.publish(ENV, page(f"page_{n}", "teaser"))
        expanded = await expand_call(
            call_for(make_call, make_event(codename="teaser", type="teaser")), client(http, fake)
        )
    assert codenames(expanded) == [f"page_{n}" for n in range(5)]
    used_in = [r for r in fake.requests if r.path.endswith("/used-in")]
    assert [r.path for r in used_in] == [f"/{ENV}/items/teaser/used-in"] * 3 + [
        f"/{ENV}/items/page_{n}/used-in" for n in range(5)
    ]
    assert [r.headers.get("X-Continuation") for r in used_in[:3]] == [None, "page-2", "page-4"]
    assert all(r.headers[WAIT_HEADER] == "true" for r in used_in)
    assert used_in[0].query == {"language": "en"}
    # Each parent's options are the action's templates rendered for the parent.
    assert [item.options.keys for item in expanded.parents] == [f"item-page_{n}" for n in range(5)]
    parent = expanded.parents[0].event
    assert (parent.action, parent.actions) == ("changed", ("changed",))
    assert parent.dependent_of == "content_item:teaser"
    assert (parent.id, parent.type, parent.language) == ("id-page_0", "page", "en")
    assert "5 item(s) using the changed content" in expanded.summary()


async def test_parents_are_deduplicated_over_the_call(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, page("home", "teaser", "author"))
        fake.publish(ENV, page("about", "author"))
        fake.publish(ENV, page("teaser", "author", type="teaser"))
        events = [
            make_event(codename="teaser", type="teaser", id="id-teaser"),
            make_event(codename="author", type="author", id="id-author"),
            make_event(codename="about", type="page", id="id-about"),  # itself in the batch
        ]
        expanded = await expand_call(call_for(make_call, *events), client(http, fake))
    # home uses both changed items, about is already in the batch, teaser too.
    assert codenames(expanded) == ["home"]


async def test_depth_bounds_the_walk_up(http: aiohttp.ClientSession, make_call: MakeCall) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, page("b", "a"))
        fake.publish(ENV, page("c", "b"))
        fake.publish(ENV, page("d", "c"))
        fake.publish(ENV, page("a", "d"))  # a cycle back to the changed item: no loop
        kontent = client(http, fake)
        event = make_event(codename="a")
        two = await expand_call(call_for(make_call, event), kontent)
        three = await expand_call(call_for(make_call, event, expand={"depth": 3}), kontent)
        ten = await expand_call(call_for(make_call, event, expand={"depth": 10}), kontent)
    assert codenames(two) == ["b", "c"]
    assert codenames(three) == ["b", "c", "d"]
    assert codenames(ten) == ["b", "c", "d"]
    assert ten.lookups == 4  # a, b, c, d, then nothing new to look up


async def test_max_items_bounds_the_fan_out_and_says_so(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake:
        fake.page_size = 2
        for n in range(20):
            fake.publish(ENV, page(f"page_{n:02}", "teaser"))
        expanded = await expand_call(
            call_for(make_call, make_event(codename="teaser"), expand={"max_items": 4}),
            client(http, fake),
        )
    assert codenames(expanded) == [f"page_{n:02}" for n in range(4)]
    assert "used-in stopped at max_items 4" in expanded.summary()
    # Paging stops once the listing holds more than can be added: 3 of its 10 pages are read.
    assert len(fake.requests) == 3


async def test_types_keep_only_some_parents_but_walk_through_the_others(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, page("card", "author", type="card"))
        fake.publish(ENV, page("home", "card"))
        expanded = await expand_call(
            call_for(make_call, make_event(codename="author"), expand={"types": ["page"]}),
            client(http, fake),
        )
    assert codenames(expanded) == ["home"]


async def test_rate_limit_retries_the_call_after_the_apis_delay(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, page("home", "teaser"))
        fake.fail_next(429, {"message": "Too many requests"}, {"Retry-After": "7"})
        call = call_for(make_call, make_event(codename="teaser"))
        with pytest.raises(Retry) as caught:
            await expand_call(call, client(http, fake))
        assert caught.value.delay_s == 7
        assert caught.value.status == 429
        assert codenames(await expand_call(call, client(http, fake))) == ["home"]


async def test_assets_and_preview_use_their_own_listing_and_key(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery(preview_key="pk") as fake:
        image = {"type": "asset", "name": "I", "value": [{"codename": "beans_jpg", "url": "u"}]}
        for language in ("en", "de"):
            draft = item_json("draft", id="id-draft", language=language, elements={"i": image})
            fake.publish(ENV, draft, preview=True)
        event = make_event(
            object_type="asset", codename="beans_jpg", delivery_slot="preview", language=None
        )
        expanded = await expand_call(call_for(make_call, event), client(http, fake))
    assert [(i.event.codename, i.event.language) for i in expanded.parents] == [
        ("draft", "de"),
        ("draft", "en"),
    ]
    first = fake.requests[0]
    assert first.path == f"/preview/{ENV}/assets/beans_jpg/used-in"
    assert first.headers["Authorization"] == "Bearer pk"
    assert first.query == {}  # assets have no language: every variant using it comes back


def tagged(
    codename: str, *terms: str, type: str = "article", language: str = "en", group: str = "category"
) -> dict[str, Any]:
    """An item whose `category` taxonomy element (of `group`) holds `terms`, linking nothing."""
    value = [{"name": term.title(), "codename": term} for term in terms]
    elements = {
        "category": {"type": "taxonomy", "name": "C", "taxonomy_group": group, "value": value}
    }
    return item_json(codename, id=f"id-{codename}", type=type, language=language, elements=elements)


RENAMED = {
    "object_type": "taxonomy",
    "action": "term_changed",
    "actions": ("term_changed",),
    "codename": "handheld",
    "name": "Handheld devices",
    "taxonomy_group": "category",
    "type": None,
    "language": None,
}


async def test_a_renamed_term_reaches_every_item_tagged_with_it_in_every_language(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    # Records hold a term's name (`category_names`): the Delivery API has no used-in listing
    # for terms, so a rename left every tagged item's record with the old name.
    async with FakeDelivery() as fake:
        fake.page_size = 1  # every listing paged, one entry at a time
        fake.publish(ENV, tagged("phone", "handheld", "audio"))
        fake.publish(ENV, tagged("phone", "handheld", language="de"))
        fake.publish(ENV, tagged("speaker", "audio"))  # not tagged with the term
        fake.publish(ENV, tagged("tablet", "handheld", type="product"))
        # the same term codename in another group's element: not the renamed term
        fake.publish(ENV, tagged("mug", "handheld", type="merch", group="merch"))
        fake.publish(ENV, page("home", "phone"))  # shows the phone: level 2, by its used-in
        expanded = await expand_call(call_for(make_call, make_event(**RENAMED)), client(http, fake))
    found = [(i.event.codename, i.event.language, i.event.type) for i in expanded.parents]
    assert found == [
        ("phone", "de", "article"),
        ("phone", "en", "article"),
        ("tablet", "en", "product"),
        ("home", "en", "page"),
    ]
    assert expanded.parents[0].event.dependent_of == "taxonomy:handheld"
    item_queries = [q for listing, q in fake.listing_requests if listing == "items"]
    assert {"system.type", "elements.category[contains]", "system.language"} <= set(item_queries[0])
    assert item_queries[0]["elements.category[contains]"] == "handheld"
    # every page followed, one entry each: four content types, two languages
    listings = [listing for listing, _ in fake.listing_requests]
    assert (listings.count("types"), listings.count("languages")) == (4, 2)


async def test_listings_of_types_and_languages_are_bounded(
    http: aiohttp.ClientSession, make_call: MakeCall, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(used_in_taxonomy, "LISTED_AT_MOST", 3)  # an API that keeps saying next_page
    async with FakeDelivery() as fake:
        fake.page_size = 1
        for n in range(6):
            fake.publish(ENV, tagged(f"item_{n}", "handheld", type=f"type_{n}"))
        expanded = await expand_call(call_for(make_call, make_event(**RENAMED)), client(http, fake))
    listings = [listing for listing, _ in fake.listing_requests]
    assert listings.count("types") == 3
    assert [i.event.codename for i in expanded.parents] == ["item_0", "item_1", "item_2"]


async def test_a_deleted_term_refreshes_every_item_of_the_types_using_its_group(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    # The term is already gone from every item's value, so `[contains]` finds none of the items
    # whose records still show its name: every item of the types with an element of the group
    # is refreshed instead, in each language.
    deleted = {**RENAMED, "action": "term_deleted", "actions": ("term_deleted",)}
    async with FakeDelivery() as fake:
        fake.publish(ENV, tagged("phone", "audio"))  # had `handheld`, now only `audio`
        fake.publish(ENV, tagged("phone", language="de"))  # had only `handheld`: now empty
        fake.publish(ENV, tagged("tablet", type="product"))
        fake.publish(ENV, tagged("mug", "handheld", type="merch", group="merch"))  # other group
        fake.publish(ENV, page("home", "phone"))  # shows the phone: level 2, by its used-in
        expanded = await expand_call(call_for(make_call, make_event(**deleted)), client(http, fake))
    found = [(i.event.codename, i.event.language, i.event.type) for i in expanded.parents]
    assert found == [
        ("phone", "de", "article"),
        ("phone", "en", "article"),
        ("tablet", "en", "product"),
        ("home", "en", "page"),
    ]
    item_queries = [q for listing, q in fake.listing_requests if listing == "items"]
    assert not any(key.endswith("[contains]") for query in item_queries for key in query)
    assert {query["system.type"] for query in item_queries} == {"article", "product"}


async def test_other_taxonomy_events_change_no_record_and_ask_nothing(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, tagged("phone", "handheld"))
        events = [
            make_event(**{**RENAMED, "action": action, "actions": (action,)})
            for action in ("term_created", "terms_moved", "metadata_changed", "created", "deleted")
        ]
        expanded = await expand_call(call_for(make_call, *events), client(http, fake))
    assert expanded.parents == [] and fake.requests == []
    assert "terms_moved changes no item's record (only term_changed and term_deleted do)" in (
        expanded.summary()
    )


async def test_objects_without_a_listing_are_noted_and_no_client_is_permanent(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake:
        taxonomy = make_event(object_type="taxonomy", codename="topics", language=None)
        expanded = await expand_call(call_for(make_call, taxonomy), client(http, fake))
    assert expanded.parents == [] and fake.requests == []
    assert (
        "published changes no item's record (only term_changed and term_deleted do)"
        in expanded.summary()
    )
    with pytest.raises(PermanentFailure, match="Delivery API client"):
        await expand_call(call_for(make_call, make_event()), None)


def test_expand_option_shorthand_bounds_and_description() -> None:
    assert FastlyOptions.model_validate({**FASTLY, "expand": "used_in"}).expand == UsedIn()
    assert FastlyOptions.model_validate({**FASTLY, "expand": False}).expand is None
    for wrong in ({"depth": 0}, {"max_items": 0}, {"deep": 2}, "children"):
        with pytest.raises(ValidationError):
            FastlyOptions.model_validate({**FASTLY, "expand": wrong})
    assert describe("used_in") == (
        "expands to items using it, depth 2, at most 500 items, at delivery"
    )
    assert describe({"used_in": False}) is None


def test_explain_shows_the_expansion_as_planned() -> None:
    config = parse_config(
        """\
version: 1
webhooks: [{name: production, path: /webhooks/kontent, secrets: [s]}]
actions:
  cdn: {type: fastly, service_id: SVC, token: t, keys: "item-{{ event.codename }}",
        expand: {used_in: true, depth: 3, max_items: 50}}
rules:
  - name: purge
    when: {object_type: content_item}
    do: [cdn]
""",
        env={},
    )
    body = (
        b'{"notifications": [{"data": {"system": {"id": "1", "codename": "teaser", '
        b'"language": "en", "type": "teaser"}}, "message": {"environment_id": "e", '
        b'"object_type": "content_item", "action": "published", "delivery_slot": "published"}}]}'
    )
    [notification] = parse_body(body, "production")
    [explained] = RuleEngine(config).explain(notification)
    planned = "expands to items using it, depth 3, at most 50 items, at delivery"
    assert f"({planned})" in explained.to_text()
    assert explained.to_json()["rules"][0]["do"][0]["expands"] == planned


def test_check_names_a_wrong_expand_option_with_its_line() -> None:
    source = """\
version: 1
webhooks: [{name: production, path: /webhooks/kontent, secrets: [s]}]
actions:
  cdn: {type: fastly, service_id: SVC, token: t, keys: "k",
        expand: {used_in: true, depth: 0, maxitems: 50}}
rules:
  - {name: purge, when: {object_type: content_item}, do: [cdn]}
"""
    with pytest.raises(ConfigError) as caught:
        parse_config(source, env={})
    assert str(caught.value).splitlines() == [
        "rules.yaml:5:40: actions.cdn.expand.depth: action 'cdn' option 'expand': "
        "Input should be greater than or equal to 1",
        "rules.yaml:5:53: actions.cdn.expand.maxitems: action 'cdn' option 'expand': "
        "Extra inputs are not permitted",
    ]


async def test_cloudflare_and_varnish_purge_the_parents_values_too(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake, Recorder(body='{"success": true}') as target:
        fake.publish(ENV, page("home", "teaser"))
        fake.publish(ENV, page("about", "teaser"))
        resources = Resources(http=http, kontent=client(http, fake))
        event = make_event(codename="teaser", type="teaser")
        cloudflare = {"zone_id": "Z1", "token": "t", "api_url": target.url, "expand": "used_in"}
        cf_templates = {**cloudflare, "tags": "item-{{ event.codename }}"}
        await CloudflareAction("cf", resources).send(
            make_call(
                CloudflareAction,
                {**cloudflare, "tags": "x"},
                [event],
                per_event=lambda e: {"tags": f"item-{e.codename}"},
                templates=cf_templates,
            )
        )
        varnish = {"url": target.url, "expand": "used_in"}
        v_templates = {**varnish, "xkey": "item-{{ event.codename }}"}
        result = await VarnishAction("cache", resources).send(
            make_call(
                VarnishAction,
                varnish,
                [event],
                per_event=lambda e: {"xkey": f"item-{e.codename}"},
                templates=v_templates,
            )
        )
    cf, cache = (r for r in target.requests if r.method in ("POST", "PURGE"))
    assert cf.json() == {"tags": ["item-teaser", "item-about", "item-home"]}
    assert cache.headers["xkey-purge"] == "item-teaser item-about item-home"
    assert "used-in: 2 item(s) using the changed content" in result.response


async def test_algolia_says_why_it_skips_assets_and_taxonomies(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeDelivery() as fake, FakeAlgolia() as algolia:
        resources = Resources(http=http, kontent=client(http, fake))
        action = AlgoliaAction("search", resources)
        options = {"app_id": "APPID", "api_key": "admin-key", "index": "i", "hosts": [algolia.url]}
        asset = make_event(
            object_type="asset",
            action="changed",
            codename="beans_jpg",
            name="beans.jpg",
            type=None,
            language=None,
        )
        plain = await action.send(make_call(AlgoliaAction, options, [asset]))
        taxonomy = make_event(object_type="taxonomy", codename="topics", name="Topics")
        expanded = await action.send(
            make_call(AlgoliaAction, {**options, "expand": "used_in"}, [asset, taxonomy])
        )
        await action.close()
    assert plain.response == (
        "nothing to do; skipped 1: asset changed 'beans.jpg' [published]: "
        "not a content item (asset): it has no record; set `expand: used_in` to reindex the "
        "items using it"
    )
    assert "asset changed 'beans.jpg' [published]: reindexed the items using it" in (
        expanded.response
    )
    assert (
        "published changes no item's record (only term_changed and term_deleted do)"
        in expanded.response
    )
    assert algolia.requests == []
