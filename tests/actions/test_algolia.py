from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import pytest

from bridge.actions import sent
from bridge.actions.algolia import AlgoliaAction
from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.kontent.client import DeliveryClient, Keys
from bridge.payloads import parse_body
from tests.fakes.algolia import FakeAlgolia
from tests.fakes.events import MakeCall, make_event, rendered_call
from tests.fakes.kontent import FakeDelivery, item_json
from tests.fakes.server import Recorder

ENV = "env-1"


def uid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


ELEMENTS: dict[str, Any] = {
    "title": {"type": "text", "name": "Title", "value": "Hello world"},
    "body": {
        "type": "rich_text",
        "name": "Body",
        "value": "<p>Hello <strong>bold</strong></p>\n<p>x</p>",
    },
    "rating": {"type": "number", "name": "Rating", "value": 4.5},
    "date": {"type": "date_time", "name": "Date", "value": "2026-11-01T00:00:00Z"},
    "tags": {
        "type": "taxonomy",
        "name": "Tags",
        "taxonomy_group": "topics",
        "value": [{"name": "News", "codename": "news"}],
    },
    "kind": {
        "type": "multiple_choice",
        "name": "Kind",
        "value": [{"name": "Long", "codename": "long"}],
    },
    "related": {"type": "modular_content", "name": "Related", "value": ["other_item"]},
    "image": {
        "type": "asset",
        "name": "Image",
        "value": [{"name": "a.png", "url": "https://assets.example/a.png"}],
    },
    "slug": {"type": "url_slug", "name": "Slug", "value": "hello-world"},
}


@dataclass
class Setup:
    action: AlgoliaAction
    delivery: FakeDelivery
    algolia: FakeAlgolia
    options: dict[str, Any]


@pytest.fixture
async def setup(http: aiohttp.ClientSession) -> AsyncIterator[Setup]:
    async with FakeDelivery(preview_key="pk") as delivery, FakeAlgolia() as algolia:
        kontent = DeliveryClient(
            http, delivery.url, delivery.url + "/preview", {ENV: Keys(preview_api_key="pk")}
        )
        action = AlgoliaAction("search", Resources(http=http, kontent=kontent))
        options = {
            "app_id": algolia.app_id,
            "api_key": algolia.api_key,
            "index": "articles",
            "hosts": [algolia.url],
        }
        yield Setup(action, delivery, algolia, options)
        await action.close()


async def test_published_item_is_saved_with_fresh_flattened_content(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("hello_world", id=uid(1), elements=ELEMENTS))
    result = await setup.action.send(
        make_call(AlgoliaAction, setup.options, [make_event(id=uid(1))])
    )
    record = setup.algolia.indexes["articles"]["hello_world_en"]
    assert record == {
        "objectID": "hello_world_en",
        "id": uid(1),
        "name": "Hello World",
        "codename": "hello_world",
        "language": "en",
        "type": "article",
        "collection": "default",
        "last_modified": "2026-11-23T10:00:00.0000000Z",
        "workflow": "default",
        "workflow_step": "published",
        "title": "Hello world",
        "body": "Hello bold x",
        "rating": 4.5,
        "date": "2026-11-01T00:00:00Z",
        "tags": ["news"],
        "kind": ["long"],
        "related": ["other_item"],
        "image": ["https://assets.example/a.png"],
        "slug": "hello-world",
        # Beside the values: names, assets, and dates as numbers (Algolia sorts on numbers).
        "tags_names": ["News"],
        "kind_names": ["Long"],
        "image_assets": [{"name": "a.png", "url": "https://assets.example/a.png"}],
        "date_timestamp": 1793491200,
        "last_modified_timestamp": 1795428000,
    }
    assert "saved 1, deleted 0" in result.response
    assert setup.algolia.polls == {1: 2}  # polled until the task was published


async def test_unpublished_and_missing_items_are_deleted(setup: Setup, make_call: MakeCall) -> None:
    setup.delivery.publish(ENV, item_json("a", id=uid(1)))
    setup.delivery.publish(ENV, item_json("b", id=uid(2)))
    await setup.action.send(
        make_call(
            AlgoliaAction,
            setup.options,
            [make_event(id=uid(1), codename="a"), make_event(id=uid(2), codename="b")],
        )
    )
    assert set(setup.algolia.indexes["articles"]) == {"a_en", "b_en"}
    setup.delivery.unpublish(ENV, uid(1), "en")
    setup.delivery.unpublish(ENV, uid(2), "en")
    events = [
        make_event(id=uid(1), codename="a", action="unpublished"),
        make_event(id=uid(2), codename="b", action="changed"),  # changed, but gone from the API
    ]
    result = await setup.action.send(make_call(AlgoliaAction, setup.options, events))
    assert setup.algolia.indexes["articles"] == {}
    assert "saved 0, deleted 2" in result.response
    assert "not deleted" not in result.response
    assert len(setup.delivery.requests) == 4  # the unpublished event was checked, too


async def test_an_unpublish_older_than_the_live_item_keeps_its_record(
    setup: Setup, make_call: MakeCall
) -> None:
    """An old `unpublished` delivered after a newer publish (a replay, a retried dead job,
    `ordering: none`): the Delivery API still has the variant, so its record is saved from it
    rather than deleted; a `delete_on` action outside unpublished/deleted deletes unasked."""
    setup.delivery.publish(ENV, item_json("a", id=uid(1), name="Republished"))
    stale = make_event(id=uid(1), codename="a", action="unpublished")
    result = await setup.action.send(make_call(AlgoliaAction, setup.options, [stale]))
    assert setup.algolia.indexes["articles"]["a_en"]["name"] == "Republished"
    assert "saved 1, deleted 0" in result.response
    assert "unpublished, but the Delivery API still has it" in result.response
    fetches = len(setup.delivery.requests)
    assert fetches == 1

    archived = make_event(id=uid(1), codename="a", action="workflow_step_changed")
    options = {**setup.options, "delete_on": ["unpublished", "workflow_step_changed"]}
    result = await setup.action.send(make_call(AlgoliaAction, options, [archived]))
    assert setup.algolia.indexes["articles"] == {}
    assert "saved 0, deleted 1" in result.response
    assert len(setup.delivery.requests) == fetches  # deleted as configured, nothing asked


async def test_preview_events_index_preview_content(setup: Setup, make_call: MakeCall) -> None:
    setup.delivery.publish(ENV, item_json("draft", id=uid(3)), preview=True)
    event = make_event(id=uid(3), codename="draft", delivery_slot="preview", action="changed")
    await setup.action.send(
        make_call(AlgoliaAction, {**setup.options, "index": "preview"}, [event])
    )
    assert setup.algolia.indexes["preview"]["draft_en"]["codename"] == "draft"
    assert setup.delivery.requests[-1].path.startswith("/preview/")


async def test_a_large_batch_uses_as_few_batch_requests_as_allowed(
    setup: Setup, make_call: MakeCall
) -> None:
    events = [make_event(id=uid(n), codename=f"item_{n}", action="deleted") for n in range(2500)]
    result = await setup.action.send(make_call(AlgoliaAction, setup.options, events))
    assert [len(batch) for batch in setup.algolia.batches] == [1000, 1000, 500]
    assert "deleted 2500" in result.response


async def test_duplicate_events_become_one_operation_last_wins(
    setup: Setup, make_call: MakeCall
) -> None:
    events = [  # the item is gone from the Delivery API by the time the batch is sent
        make_event(id=uid(1), codename="a"),
        make_event(id=uid(1), codename="a", action="deleted"),
    ]
    await setup.action.send(make_call(AlgoliaAction, setup.options, events))
    assert setup.algolia.batches == [[{"action": "deleteObject", "body": {"objectID": "a_en"}}]]


async def test_record_mapping_and_object_id_templates(setup: Setup, make_call: MakeCall) -> None:
    setup.delivery.publish(ENV, item_json("hello", id=uid(1), elements=ELEMENTS))
    options = {
        **setup.options,
        "object_id": "{type}-{id}-{language}",
        "record": {
            "title": "{title}",
            "url": "/articles/{elements.slug}",
            "topics": "{tags}",
            "section": "{system.collection}",
            "absent": "{nope}",
            "constant": 3,
        },
    }
    await setup.action.send(make_call(AlgoliaAction, options, [make_event(id=uid(1))]))
    object_id = f"article-{uid(1)}-en"
    assert setup.algolia.indexes["articles"][object_id] == {
        "objectID": object_id,
        "title": "Hello world",
        "url": "/articles/hello-world",
        "topics": ["news"],
        "section": "default",
        "absent": None,
        "constant": 3,
    }


async def test_unknown_object_id_name_is_permanent(setup: Setup, make_call: MakeCall) -> None:
    options = {**setup.options, "object_id": "{slug}"}
    with pytest.raises(PermanentFailure, match="unknown name 'slug'"):
        await setup.action.send(make_call(AlgoliaAction, options, [make_event(action="deleted")]))


async def test_legacy_workflow_events_without_a_codename_never_share_one_object_id(
    setup: Setup, make_call: MakeCall, payload_bytes: Callable[[str], bytes]
) -> None:
    # Kontent.ai's legacy workflow notification (webhook-helper-js's workflow-response.json
    # shape) names the item by id only: `{codename}_{language}` used to make it "_default",
    # one objectID that every such item overwrote, and that a delete removed.
    body = payload_bytes("legacy/content_item_variant_change_workflow_step.json")
    [event] = [e for n in parse_body(body, "w") for e in n.events]
    event = replace(event, environment_id=ENV)
    assert (event.id, event.codename, event.language) == (
        "ad2db98c-f4fe-5ce7-bd99-488b6b61d280",
        None,
        "default",
    )
    draft = item_json("draft", id=str(event.id), language="default")
    setup.delivery.publish(ENV, draft, preview=True)
    with pytest.raises(PermanentFailure, match=r"has no codename, so it cannot name a record"):
        await setup.action.send(make_call(AlgoliaAction, setup.options, [event]))
    assert setup.algolia.indexes.get("articles", {}) == {}
    by_id = {**setup.options, "object_id": "{id}_{language}"}
    await setup.action.send(make_call(AlgoliaAction, by_id, [event]))
    assert list(setup.algolia.indexes["articles"]) == [f"{event.id}_default"]


async def test_an_oversized_record_is_shrunk_to_fit_longest_text_first(
    setup: Setup, make_call: MakeCall, caplog: pytest.LogCaptureFixture
) -> None:
    big = {
        "text": {"type": "text", "name": "T", "value": "x" * 20_000},
        "summary": {"type": "text", "name": "S", "value": "short summary"},
    }
    setup.delivery.publish(ENV, item_json("big", id=uid(1), elements=big))
    setup.delivery.publish(ENV, item_json("small", id=uid(2)))
    events = [make_event(id=uid(1), codename="big"), make_event(id=uid(2), codename="small")]
    result = await setup.action.send(make_call(AlgoliaAction, setup.options, events))
    index = setup.algolia.indexes["articles"]
    assert set(index) == {"big_en", "small_en"}
    record = index["big_en"]
    assert len(json.dumps(record).encode()) <= 10_000
    assert record["summary"] == "short summary"  # the longest text gave way, nothing else
    assert record["codename"] == "big"
    assert record["text"].startswith("xxxx") and record["text"].endswith("…")
    assert 9_000 < len(record["text"]) < 10_000  # cut just enough, not emptied
    assert "big_en shrunk to fit (text cut to " in result.response
    assert "big_en shrunk" in caplog.text


async def test_a_record_that_cannot_fit_deletes_the_old_one_and_fails_the_job(
    setup: Setup, make_call: MakeCall
) -> None:
    long = "a" * 500  # a codename, so an objectID, longer than the limit: nothing can shrink it
    setup.delivery.publish(ENV, item_json(long, id=uid(1)))
    setup.delivery.publish(ENV, item_json("b", id=uid(2), name="B renamed"))
    index = setup.algolia.indexes.setdefault("articles", {})
    index[f"{long}_en"] = {"objectID": f"{long}_en", "name": "the old version"}
    index["b_en"] = {"objectID": "b_en", "name": "B"}
    options = {**setup.options, "max_record_bytes": 400}
    events = [make_event(id=uid(1), codename=long), make_event(id=uid(2), codename="b")]
    with pytest.raises(PermanentFailure) as caught:
        await setup.action.send(make_call(AlgoliaAction, options, events))
    assert f"{long}_en" not in index  # never left stale and searchable
    assert index["b_en"]["name"] == "B renamed"  # the rest of the batch was applied
    assert "too large to fit in 400 bytes" in caught.value.reason
    assert "old record deleted" in caught.value.reason
    assert "saved 1, deleted 1" in caught.value.response


async def test_wrong_api_key_is_permanent(setup: Setup, make_call: MakeCall) -> None:
    options = {**setup.options, "api_key": "wrong"}
    with pytest.raises(PermanentFailure, match="403"):
        await setup.action.send(make_call(AlgoliaAction, options, [make_event(action="deleted")]))


async def test_server_errors_and_unreachable_hosts_retry(setup: Setup, make_call: MakeCall) -> None:
    setup.algolia.fail_next(500, {"message": "oops"})
    call = make_call(AlgoliaAction, setup.options, [make_event(action="deleted")])
    with pytest.raises(Retry) as caught:  # the SDK tried its only host
        await setup.action.send(call)
    # The SDK says "Unreachable hosts"; the reason says what the host answered.
    assert caught.value.status == 500
    assert "every Algolia host failed: 127.0.0.1 answered 500 Internal Server Error" in str(
        caught.value
    )
    assert '"oops"' in str(caught.value)
    # The next attempt tries the host again (the SDK alone would skip it for 5 minutes).
    result = await setup.action.send(call)
    assert "deleted 1" in result.response


async def test_delivery_api_rate_limit_retries(setup: Setup, make_call: MakeCall) -> None:
    setup.delivery.fail_next(429, {"message": "slow"}, {"Retry-After": "3"})
    with pytest.raises(Retry) as caught:
        await setup.action.send(make_call(AlgoliaAction, setup.options, [make_event()]))
    assert caught.value.delay_s == 3
    assert setup.algolia.batches == []


async def test_other_object_types_are_skipped(setup: Setup, make_call: MakeCall) -> None:
    event = make_event(object_type="asset")
    result = await setup.action.send(make_call(AlgoliaAction, setup.options, [event]))
    assert "not a content item" in result.response
    assert setup.algolia.requests == []


async def test_each_event_goes_to_the_index_its_own_options_name(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("a", id=uid(1), language="en"))
    setup.delivery.publish(ENV, item_json("a", id=uid(1), language="de"))
    events = [make_event(id=uid(1), codename="a", language=lang) for lang in ("en", "de")]
    result = await setup.action.send(
        make_call(
            AlgoliaAction,
            setup.options,
            events,
            per_event=lambda e: {"index": f"articles_{e.language}"},
        )
    )
    assert set(setup.algolia.indexes) == {"articles_en", "articles_de"}
    assert setup.algolia.indexes["articles_de"]["a_de"]["language"] == "de"
    assert result.response.startswith("index articles_en: saved 1, deleted 0; index articles_de")


KONTENT_NOT_FOUND = {
    "message": "The requested content item 'a' was not found.",
    "request_id": "|4c7f2a7e1d9b4c4e.1b2c3d4e_",
    "error_code": 100,
    "specific_code": 0,
}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(404, "<html><body>Not Found</body></html>", id="html-404"),
        pytest.param(404, "", id="empty-404"),
        pytest.param(404, {"error": "no such route"}, id="json-404"),
        pytest.param(404, {**KONTENT_NOT_FOUND, "error_code": 1}, id="kontent-route-404"),
        pytest.param(200, {}, id="json-200-without-items"),
    ],
)
async def test_a_wrong_delivery_url_never_deletes_records(
    http: aiohttp.ClientSession, make_call: MakeCall, status: int, body: object
) -> None:
    async with Recorder(status, body) as wrong, FakeAlgolia() as algolia:
        kontent = DeliveryClient(http, wrong.url + "/not-kontent", wrong.url)
        action = AlgoliaAction("search", Resources(http=http, kontent=kontent))
        algolia.indexes["articles"] = {"a_en": {"objectID": "a_en", "title": "kept"}}
        options = {
            "app_id": algolia.app_id,
            "api_key": algolia.api_key,
            "index": "articles",
            "hosts": [algolia.url],
        }
        try:
            with pytest.raises(Retry) as caught:
                await action.send(
                    make_call(AlgoliaAction, options, [make_event(id=uid(1), codename="a")])
                )
        finally:
            await action.close()
    assert algolia.indexes["articles"] == {"a_en": {"objectID": "a_en", "title": "kept"}}
    assert algolia.batches == []
    assert "check kontent.delivery_url" in caught.value.reason


async def test_kontents_item_not_found_answer_deletes_the_record(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.algolia.indexes["articles"] = {"a_en": {"objectID": "a_en"}}
    setup.delivery.fail_next(404, KONTENT_NOT_FOUND)
    result = await setup.action.send(
        make_call(AlgoliaAction, setup.options, [make_event(id=uid(1), codename="a")])
    )
    assert setup.algolia.indexes["articles"] == {}
    assert "saved 0, deleted 1" in result.response


async def test_the_sdk_requests_are_recorded_with_the_api_key_hidden(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("hello_world", id=uid(1), elements=ELEMENTS))
    call = make_call(AlgoliaAction, setup.options, [make_event(id=uid(1))])
    with sent.recording() as recorder:
        await setup.action.send(call)
    stored = recorder.as_json()
    assert stored is not None and setup.algolia.api_key not in stored
    shown = json.loads(stored)  # the last: the poll that saw the task published
    assert shown["method"] == "GET"
    assert shown["url"].startswith(f"{setup.algolia.url}/1/indexes/articles/task/")
    assert shown["headers"]["x-algolia-api-key"] == "***"
    # the Delivery API read, the batch and both polls; the batch was noted on the way
    assert shown["requests_sent"] == 4


async def test_what_a_template_prints_into_record_is_never_a_placeholder(setup: Setup) -> None:
    """Jinja renders first, then `{path}` fills: an item named `{elements.body.value}` put the
    body (any element, one the mapping leaves out included) into a public record's title."""
    name = "{elements.body.value} {type}"
    setup.delivery.publish(ENV, item_json("hello", id=uid(1), elements=ELEMENTS))
    options = {
        **setup.options,
        "object_id": "{{ event.name | replace(' ', '_') }}-{id}",
        "record": {
            "title": "{{ event.name }} ({title})",
            "names": "{{ [event.name, event.codename] }}",
            "url": "/{{ event.language }}/{elements.slug}",
        },
    }
    call = rendered_call(AlgoliaAction, options, [make_event(id=uid(1), name=name)])
    await setup.action.send(call)
    object_id = f"{{elements.body.value}}_{{type}}-{uid(1)}"
    assert setup.algolia.indexes["articles"][object_id] == {
        "objectID": object_id,
        "title": f"{name} (Hello world)",
        "names": [name, "hello_world"],
        "url": "/en/hello-world",
    }
