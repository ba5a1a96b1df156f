"""A whole-request 400 from Azure AI Search: the documents it is about, found by halving.

Azure answers 400 for the whole request when one document holds a property the index does not
declare, or a value of another type than its field: it names no document. One item of a
content type an editor gave a new element, in a debounced batch of hundreds, kept every other
item of the batch out of the index, and the job died with the rest unsaved.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bridge.actions.azure_client import MAX_ISOLATION_REQUESTS, NOT_SENT
from bridge.actions.azure_search import AzureSearchAction
from bridge.actions.base import PermanentFailure, Resources, Retry
from tests.actions.test_azure_search import ENV, kontent, uid
from tests.fakes.azure_search import FakeAzureSearch
from tests.fakes.events import MakeCall, make_event
from tests.fakes.kontent import FakeDelivery, item_json

pytestmark = pytest.mark.timeout(60)

STRINGS = ("key", "title", "id", "name", "codename", "language", "type", "collection")
STRINGS += ("last_modified", "workflow", "workflow_step")
INDEX: list[dict[str, Any]] = [
    {"name": name, "type": "Edm.String", "key": name == "key"} for name in STRINGS
] + [{"name": "last_modified_timestamp", "type": "Edm.Int64"}]
TITLE = {"type": "text", "name": "Title", "value": "Hello"}
PROMO = {"type": "text", "name": "Promo", "value": "new element, not in the index yet"}


@pytest.fixture
async def world(
    http: aiohttp.ClientSession,
) -> AsyncIterator[tuple[FakeDelivery, FakeAzureSearch, AzureSearchAction]]:
    async with FakeDelivery(preview_key="pk") as delivery, FakeAzureSearch(fields=INDEX) as azure:
        action = AzureSearchAction("search", Resources(http=http, kontent=kontent(http, delivery)))
        try:
            yield delivery, azure, action
        finally:
            await action.close()


def publish(delivery: FakeDelivery, count: int, promo: set[int]) -> list[Any]:
    events = []
    for n in range(count):
        elements = {"title": TITLE, **({"promo": PROMO} if n in promo else {})}
        delivery.publish(ENV, item_json(f"i{n}", id=uid(n), elements=elements))
        events.append(make_event(id=uid(n), codename=f"i{n}"))
    return events


async def test_one_document_the_index_refuses_keeps_no_other_out(
    world: tuple[FakeDelivery, FakeAzureSearch, AzureSearchAction], make_call: MakeCall
) -> None:
    delivery, azure, action = world
    events = publish(delivery, 16, promo={11})
    old = {"key": "i11_en", "title": "the old version"}
    azure.indexes["articles"] = {"i11_en": dict(old)}
    options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}

    with pytest.raises(PermanentFailure) as caught:
        await action.send(make_call(AzureSearchAction, options, events))

    saved = azure.indexes["articles"]
    assert sorted(saved) == sorted(f"i{n}_en" for n in range(16) if n != 11)  # was: none
    assert "i11_en refused by Azure AI Search (400: The request is invalid. Details: The " in (
        caught.value.reason
    )
    assert "property 'promo' does not exist" in caught.value.reason
    assert "old document deleted" in caught.value.reason  # as for any refused document
    # Halving 16 -> 8 -> 4 -> 2 -> 1, depth first: each level saves one half (the fake keeps
    # the batches it took), then the delete.
    assert [len(b) for b in azure.batches] == [8, 2, 1, 4, 1]


async def test_an_index_refusing_every_document_deletes_none(
    world: tuple[FakeDelivery, FakeAzureSearch, AzureSearchAction], make_call: MakeCall
) -> None:
    """Fields wrong for every document (the index of another site, say): nothing is saved, so
    the refusal is the batch's failure and no old document is deleted."""
    delivery, azure, action = world
    events = publish(delivery, 8, promo=set(range(8)))
    azure.indexes["articles"] = {f"i{n}_en": {"key": f"i{n}_en"} for n in range(8)}
    options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}

    with pytest.raises(PermanentFailure) as caught:
        await action.send(make_call(AzureSearchAction, options, events))

    assert sorted(azure.indexes["articles"]) == sorted(f"i{n}_en" for n in range(8))
    assert caught.value.reason.startswith("Azure AI Search answered 400: The request is invalid")
    assert "deleted" not in caught.value.reason
    assert all(b[0]["@search.action"] != "delete" for b in azure.batches)
    assert len(azure.batches) <= 1 + MAX_ISOLATION_REQUESTS


async def test_halving_stops_at_its_budget_and_the_rest_is_sent_again(
    world: tuple[FakeDelivery, FakeAzureSearch, AzureSearchAction], make_call: MakeCall
) -> None:
    """Refused documents spread through a large batch: past the requests one attempt allows,
    what halving had not reached is neither saved nor taken for refused (its old version
    stays), and the job is retried."""
    delivery, azure, action = world
    events = publish(delivery, 200, promo=set(range(0, 200, 7)))
    azure.indexes["articles"] = {f"i{n}_en": {"key": f"i{n}_en"} for n in range(200)}
    options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}

    with pytest.raises(Retry) as caught:
        await action.send(make_call(AzureSearchAction, options, events))

    assert len(azure.batches) <= 1 + MAX_ISOLATION_REQUESTS + 1  # and one delete
    assert f"document(s) {NOT_SENT}" in caught.value.reason
    refused = {f"i{n}_en" for n in range(0, 200, 7)}
    deletes = [a["key"] for b in azure.batches for a in b if a["@search.action"] == "delete"]
    assert deletes and set(deletes) <= refused  # only documents refused on their own
    kept = azure.indexes["articles"]
    assert all(key in kept for key in set(f"i{n}_en" for n in range(200)) - set(deletes))
    saved = [k for k, doc in kept.items() if doc.get("title") == "Hello"]
    assert saved and not set(saved) & refused
