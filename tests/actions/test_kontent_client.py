from __future__ import annotations

import json
from collections.abc import Callable

import aiohttp
import pytest

from bridge.actions.base import PermanentFailure, Retry
from bridge.actions.records import build_record
from bridge.kontent.client import WAIT_HEADER, DeliveryClient, Keys
from tests.fakes.kontent import FakeDelivery, item_json, not_found

ENV = "env-1"
ID = "11111111-1111-1111-1111-111111111111"


def client(http: aiohttp.ClientSession, fake: FakeDelivery, **keys: str) -> DeliveryClient:
    return DeliveryClient(http, fake.url, fake.url + "/preview", {ENV: Keys(**keys)})


async def test_fetches_the_published_variant_by_id_with_the_wait_header(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, item_json("hello", id=ID, language="en"))
        fake.publish(ENV, item_json("hello", id=ID, language="de"))
        got = await client(http, fake).fetch_item(ENV, ID, "de", preview=False, depth=2)
    assert got is not None
    assert got["item"]["system"]["language"] == "de"
    sent = fake.requests[-1]
    assert sent.path == f"/{ENV}/items"
    assert sent.query == {"system.id": ID, "language": "de", "system.language": "de", "depth": "2"}
    assert sent.headers[WAIT_HEADER] == "true"
    assert "Authorization" not in sent.headers


async def test_secure_access_key_is_sent_for_published_content(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, item_json("hello", id=ID))
        await client(http, fake, secure_access_key="sak").fetch_item(ENV, ID, "en", preview=False)
    assert fake.requests[-1].headers["Authorization"] == "Bearer sak"


async def test_preview_uses_the_preview_api_and_key(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery(preview_key="pk") as fake:
        fake.publish(ENV, item_json("draft", id=ID), preview=True)
        published = await client(http, fake, preview_api_key="pk").fetch_item(
            ENV, ID, "en", preview=False
        )
        preview = await client(http, fake, preview_api_key="pk").fetch_item(
            ENV, ID, "en", preview=True
        )
    assert published is None
    assert preview is not None and preview["item"]["system"]["codename"] == "draft"
    assert fake.requests[-1].path.startswith("/preview/")


async def test_preview_without_a_key_is_permanent(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery() as fake:
        with pytest.raises(PermanentFailure, match=r"no preview_api_key.*env-1"):
            await client(http, fake).fetch_item(ENV, ID, "en", preview=True)


async def test_codename_404_means_gone(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery() as fake:
        got = await client(http, fake).fetch_item(
            ENV, "missing", "en", preview=False, by="codename"
        )
        fake.publish(ENV, item_json("there", id=ID))
        there = await client(http, fake).fetch_item(
            ENV, "there", "en", preview=False, by="codename"
        )
    assert got is None
    assert there is not None and there["item"]["system"]["id"] == ID
    assert fake.requests[-1].path == f"/{ENV}/items/there"


async def test_language_fallback_counts_as_gone(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery() as fake:
        fake.publish(ENV, item_json("there", id=ID, language="en"))
        fake.fail_next(200, {"item": item_json("there", id=ID, language="en")})
        got = await client(http, fake).fetch_item(ENV, "there", "de", preview=False, by="codename")
    assert got is None


async def test_429_retries_after_the_servers_delay(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery() as fake:
        fake.fail_next(429, {"message": "slow down"}, {"Retry-After": "7"})
        with pytest.raises(Retry) as caught:
            await client(http, fake).fetch_item(ENV, ID, "en", preview=False)
    assert caught.value.delay_s == 7
    assert caught.value.status == 429


async def test_an_answer_marked_stale_retries_soon_instead_of_serving_the_old_version(
    http: aiohttp.ClientSession,
) -> None:
    """Kontent.ai marks an answer whose newer version is not served yet `X-Stale-Content: 1`.
    Built into a record or a purge, it held the version before the change, reported success."""
    old = item_json("hello", id=ID, language="en", name="Before the change")
    async with FakeDelivery() as fake:
        fake.publish(ENV, item_json("hello", id=ID, language="en", name="After the change"))
        fake.fail_next(200, {"items": [old], "modular_content": {}}, {"X-Stale-Content": "1"})
        kontent = client(http, fake)
        with pytest.raises(Retry) as caught:
            await kontent.fetch_item(ENV, ID, "en", preview=False)
        assert "stale content (X-Stale-Content: 1)" in caught.value.reason
        assert caught.value.delay_s is None  # the retry schedule decides when
        fresh = await kontent.fetch_item(ENV, ID, "en", preview=False)
    assert fresh is not None and fresh["item"]["system"]["name"] == "After the change"


async def test_5xx_retries(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery() as fake:
        fake.fail_next(503, "down")
        with pytest.raises(Retry, match="503"):
            await client(http, fake).fetch_item(ENV, ID, "en", preview=False)


async def test_401_is_permanent_and_names_the_environment_not_the_key(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeDelivery() as fake:
        fake.fail_next(401, {"message": "Missing or invalid API key."})
        with pytest.raises(PermanentFailure) as caught:
            await client(http, fake, secure_access_key="s3cret").fetch_item(
                ENV, ID, "en", preview=False
            )
    assert "env-1" in caught.value.reason
    assert "s3cret" not in caught.value.reason


async def test_unreachable_api_retries(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery() as fake:
        url = fake.url
    gone = DeliveryClient(http, url, url, {})
    with pytest.raises(Retry, match="unreachable"):
        await gone.fetch_item(ENV, ID, "en", preview=False)


WRONG_HOST_404S = [
    pytest.param("<html><body><h1>404 Not Found</h1></body></html>", id="html"),
    pytest.param("", id="empty"),
    pytest.param({"error": "not found"}, id="other-json"),
    pytest.param(["not", "an", "object"], id="json-list"),
    pytest.param(
        {
            "message": "No HTTP resource was found that matches the request.",
            "request_id": "|abc.1_",
            "error_code": 1,
            "specific_code": 0,
        },
        id="kontent-route-not-found",
    ),
    pytest.param(
        {"message": "The requested content item 'missing' was not found.", "error_code": 100},
        id="incomplete-kontent-shape",
    ),
]


@pytest.mark.parametrize("body", WRONG_HOST_404S)
@pytest.mark.parametrize("by", ["id", "codename"])
async def test_a_404_that_is_not_kontents_item_not_found_retries_and_names_delivery_url(
    http: aiohttp.ClientSession, body: object, by: str
) -> None:
    async with FakeDelivery() as fake:
        fake.fail_next(404, body)
        with pytest.raises(Retry) as caught:
            await client(http, fake).fetch_item(ENV, "missing", "en", preview=False, by=by)
    reason = caught.value.reason
    assert "answered 404 without Kontent.ai's 'content item not found' error" in reason
    assert "check kontent.delivery_url" in reason
    assert caught.value.status == 404


async def test_a_preview_404_names_preview_url(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery(preview_key="pk") as fake:
        fake.fail_next(404, "<html>nope</html>")
        with pytest.raises(Retry, match=r"check kontent\.preview_url"):
            await client(http, fake, preview_api_key="pk").fetch_item(ENV, ID, "en", preview=True)


async def test_kontents_own_item_not_found_means_gone_whichever_way_the_item_is_asked_for(
    http: aiohttp.ClientSession,
) -> None:
    async with FakeDelivery() as fake:
        fake.fail_next(404, not_found("missing"))
        by_id = await client(http, fake).fetch_item(ENV, ID, "en", preview=False)
    assert by_id is None


@pytest.mark.parametrize(
    ("by", "body"),
    [("id", {}), ("id", {"items": "none"}), ("codename", {}), ("codename", {"item": []})],
)
async def test_a_200_without_the_listing_or_item_shape_retries_instead_of_meaning_gone(
    http: aiohttp.ClientSession, by: str, body: dict[str, object]
) -> None:
    async with FakeDelivery() as fake:
        fake.fail_next(200, body)
        with pytest.raises(Retry, match=r"check kontent\.delivery_url"):
            await client(http, fake).fetch_item(ENV, "x", "en", preview=False, by=by)


async def test_an_empty_listing_means_gone(http: aiohttp.ClientSession) -> None:
    async with FakeDelivery() as fake:
        got = await client(http, fake).fetch_item(ENV, ID, "en", preview=False)
    assert got is None


async def test_the_sdks_circular_linked_items_answer_is_fetched_and_mapped_once_each(
    http: aiohttp.ClientSession, payload_bytes: Callable[[str], bytes]
) -> None:
    # delivery-sdk-js's fixture (tests/payloads/official/README.md): two linked items that link
    # each other and the item back. Served as the API sends it, fetched by the bridge's client.
    answer = json.loads(payload_bytes("official/delivery_circular_linked_items.json"))
    async with FakeDelivery() as fake:
        fake.fail_next(200, answer)
        got = await client(http, fake).fetch_item(
            ENV, "coffee_processing_techniques", "en-US", preview=False, by="codename", depth=3
        )
    assert got is not None
    record = build_record(got["item"], got["modular_content"])
    assert [(b["codename"], b["parents"]) for b in record["content"]] == [
        ("on_roasts", ["coffee_processing_techniques"]),
        # The item links it too: its nearest place (the first place, depth first, was under
        # on_roasts, one level deeper).
        ("which_brewing_fits_you_", ["coffee_processing_techniques"]),
    ]


@pytest.mark.parametrize("body", [{}, {"items": "none"}, {"message": "hello"}])
async def test_a_used_in_200_without_the_listing_retries_instead_of_meaning_no_parents(
    http: aiohttp.ClientSession, body: dict[str, object]
) -> None:
    async with FakeDelivery() as fake:
        fake.fail_next(200, body)
        with pytest.raises(Retry, match=r"without a used-in listing: check kontent\.delivery_url"):
            await client(http, fake).used_in_page(
                ENV, "assets", "beans_jpg", language=None, preview=False
            )


async def test_the_sdks_used_in_answer_is_read(
    http: aiohttp.ClientSession, payload_bytes: Callable[[str], bytes]
) -> None:
    # delivery-sdk-js's used-in fixture (tests/payloads/official/README.md), on its last page.
    answer = json.loads(payload_bytes("official/delivery_used_in.json"))
    async with FakeDelivery() as fake:
        fake.fail_next(200, answer)
        items, token = await client(http, fake).used_in_page(
            ENV, "items", "x", language="default", preview=False
        )
    assert [i["system"]["codename"] for i in items] == ["product"]
    assert token is None


def _listed(**system: object) -> dict[str, object]:
    return {"system": {"id": ID, "language": "en", **system}, "elements": {}}


@pytest.mark.parametrize(
    ("by", "body"),
    [
        pytest.param("id", {"items": [None]}, id="null-entry"),
        pytest.param("id", {"items": ["x"]}, id="text-entry"),
        pytest.param("id", {"items": [{"system": "x"}]}, id="system-not-object"),
        pytest.param("id", {"items": [{**_listed(), "elements": []}]}, id="elements-list"),
        pytest.param("id", {"items": [_listed(id="someone-else")]}, id="another-item"),
        pytest.param("id", {"items": [_listed()], "modular_content": "x"}, id="linked-text"),
        pytest.param("id", {"items": [_listed()], "modular_content": {"a": 1}}, id="linked-1"),
        pytest.param("codename", {"item": {"system": []}}, id="codename-system-list"),
    ],
)
async def test_a_200_with_entries_not_shaped_like_kontents_retries_instead_of_deleting(
    http: aiohttp.ClientSession, by: str, body: dict[str, object]
) -> None:
    # Before: a null or text entry read as "not there" (the record was deleted), and a
    # non-object system, elements or linked item crashed the record mapping (AttributeError).
    async with FakeDelivery() as fake:
        fake.fail_next(200, body)
        with pytest.raises(Retry, match=r"answered 200 with .*: check kontent\.delivery_url"):
            await client(http, fake).fetch_item(ENV, ID, "en", preview=False, by=by)


async def test_kontents_own_shapes_still_pass_the_checks(http: aiohttp.ClientSession) -> None:
    upper = {"items": [_listed(id=ID.upper())], "modular_content": {}}
    async with FakeDelivery() as fake:
        fake.fail_next(200, upper)
        got = await client(http, fake).fetch_item(ENV, ID, "en", preview=False)
    assert got is not None and got["modular_content"] == {}


async def test_the_net_sdks_item_of_every_element_type_maps_as_documented(
    http: aiohttp.ClientSession, payload_bytes: Callable[[str], bytes]
) -> None:
    # delivery-sdk-net's complete_content_item (tests/payloads/official/README.md): text, rich
    # text, number, multiple choice, date & time with display_timezone, asset, linked items,
    # taxonomy, URL slug, custom element. It held: no defect.
    answer = json.loads(payload_bytes("official/delivery_complete_content_item.json"))
    async with FakeDelivery() as fake:
        fake.fail_next(200, answer)
        got = await client(http, fake).fetch_item(
            ENV, "complete_content_item", "default", preview=False, by="codename"
        )
    assert got is not None
    record = build_record(got["item"], got["modular_content"])
    assert record["rich_text_field"] == "Rich text field value"
    assert record["number_field"] == 99
    assert record["multiple_choice_field_as_checkboxes"] == ["checkbox_1", "checkbox_2"]
    assert record["multiple_choice_field_as_checkboxes_names"] == ["Checkbox 1", "Checkbox 2"]
    # The value is UTC; display_timezone (Europe/Prague) is only how the UI shows it.
    assert record["date___time_field"] == "2017-02-23T00:00:00Z"
    assert record["date___time_field_timestamp"] == 1487808000
    assert record["complete_type_taxonomy_names"] == ["Option 1", "Option 2"]
    assert record["url_slug_field"] == "complete-content-item-url-slug"
    assert record["custom_element_field"] == "#d7e119"
    assert record["asset_field_assets"][0]["name"] == "Fire.jpg"
    assert record["last_modified_timestamp"] == 1487724723  # 7 fractional digits read
    assert [(b["codename"], b["kind"]) for b in record["content"]] == [("homepage", "linked_item")]
