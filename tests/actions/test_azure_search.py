"""`azure_search` through the official SDK against a local Azure AI Search (tests/fakes)."""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from bridge.actions import azure_search, sent
from bridge.actions.algolia import AlgoliaAction
from bridge.actions.azure_limits import FIELD_RULE, KEY_RULE, azure_field_name, batches
from bridge.actions.azure_search import AzureSearchAction, AzureSearchOptions, _document_key
from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.kontent.client import DeliveryClient, Keys
from tests.actions.harness import opened
from tests.fakes.algolia import FakeAlgolia
from tests.fakes.azure_search import FakeAzureSearch
from tests.fakes.events import MakeCall, make_event
from tests.fakes.huge import HugeAnswer
from tests.fakes.kontent import FakeDelivery, item_json

pytestmark = pytest.mark.timeout(60)
ENV = "env-1"
ELEMENTS: dict[str, Any] = {
    "title": {"type": "text", "name": "Title", "value": "Hello world"},
    "body": {"type": "rich_text", "name": "Body", "value": "<p>Hello <b>bold</b></p><p>x</p>"},
    "tags": {
        "type": "taxonomy",
        "name": "Tags",
        "value": [{"name": "Coffee beans", "codename": "coffee_beans"}],
    },
    "date": {"type": "date_time", "name": "Date", "value": "2026-11-01T00:00:00Z"},
    "_seo": {"type": "text", "name": "SEO", "value": "beans"},  # a codename Azure refuses
}


def uid(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


@dataclass
class Setup:
    action: AzureSearchAction
    delivery: FakeDelivery
    azure: FakeAzureSearch
    options: dict[str, Any]
    http: aiohttp.ClientSession

    @property
    def index(self) -> dict[str, dict[str, Any]]:
        return self.azure.indexes["articles"]


def kontent(http: aiohttp.ClientSession, delivery: FakeDelivery) -> DeliveryClient:
    return DeliveryClient(
        http, delivery.url, delivery.url + "/preview", {ENV: Keys(preview_api_key="pk")}
    )


@pytest.fixture
async def setup(http: aiohttp.ClientSession) -> AsyncIterator[Setup]:
    async with (
        FakeDelivery(preview_key="pk") as delivery,
        FakeAzureSearch(filterable=("title",)) as azure,
    ):
        action = AzureSearchAction("search", Resources(http=http, kontent=kontent(http, delivery)))
        options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}
        yield Setup(action, delivery, azure, options, http)
        await action.close()


async def test_a_published_item_is_merged_with_fresh_content_under_azure_names(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("hello_world", id=uid(1), elements=ELEMENTS))
    call = make_call(AzureSearchAction, setup.options, [make_event(id=uid(1))])
    result = await setup.action.send(call)
    [batch] = setup.azure.batches
    assert batch[0]["@search.action"] == "mergeOrUpload"
    document = setup.index["hello_world_en"]
    assert document["key"] == "hello_world_en"
    assert document["title"] == "Hello world"
    assert document["body"] == "Hello bold x"
    assert document["tags"] == ["coffee_beans"] and document["tags_names"] == ["Coffee beans"]
    assert document["date_timestamp"] == 1793491200
    assert document["f_seo"] == "beans"  # `_seo` is no Azure field name; the fake refuses it
    assert "objectID" not in document
    assert result.response == "index articles: merged or uploaded 1, deleted 0"
    assert setup.azure.requests[-1].headers["api-key"] == setup.azure.api_key


async def test_the_sdk_request_is_recorded_with_the_api_key_hidden(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("hello_world", id=uid(1), elements=ELEMENTS))
    call = make_call(AzureSearchAction, setup.options, [make_event(id=uid(1))])
    with sent.recording() as recorder:
        await setup.action.send(call)
    stored = recorder.as_json()
    assert stored is not None and setup.azure.api_key not in stored
    shown = json.loads(stored)
    assert shown["method"] == "POST"
    assert shown["url"].startswith(f"{setup.azure.url}/indexes('articles')/docs/search.index?")
    assert shown["headers"]["api-key"] == "***"
    [action] = json.loads(shown["body"])["value"]
    assert action["@search.action"] == "mergeOrUpload" and action["title"] == "Hello world"
    assert action["key"] == "***"  # a credential-named key to bridge.redaction, as in httputil's


async def test_unpublished_deleted_and_vanished_items_are_deleted_by_key(
    setup: Setup, make_call: MakeCall
) -> None:
    for n, codename in ((1, "a"), (2, "b"), (3, "c")):
        setup.delivery.publish(ENV, item_json(codename, id=uid(n)))
    events = [make_event(id=uid(n), codename=c) for n, c in ((1, "a"), (2, "b"), (3, "c"))]
    await setup.action.send(make_call(AzureSearchAction, setup.options, events))
    assert set(setup.index) == {"a_en", "b_en", "c_en"}
    for n in (1, 2, 3):
        setup.delivery.unpublish(ENV, uid(n), "en")
    fetches = len(setup.delivery.requests)
    events = [
        make_event(id=uid(1), codename="a", action="unpublished"),
        make_event(id=uid(2), codename="b", action="deleted"),
        make_event(id=uid(3), codename="c", action="changed"),  # changed, but gone from the API
    ]
    result = await setup.action.send(make_call(AzureSearchAction, setup.options, events))
    assert setup.index == {}
    assert len(setup.delivery.requests) == fetches + 3  # each delete is checked first
    assert [a["@search.action"] for a in setup.azure.batches[-1]] == ["delete"] * 3
    assert setup.azure.batches[-1][0] == {"@search.action": "delete", "key": "a_en"}
    assert "merged or uploaded 0, deleted 3" in result.response


async def test_an_unpublish_the_delivery_api_contradicts_saves_the_document(
    setup: Setup, make_call: MakeCall
) -> None:
    """The item is published again by the time an old `unpublished` is delivered: the
    document is merged from the Delivery API, not deleted, and the outcome says why."""
    setup.delivery.publish(ENV, item_json("a", id=uid(1), name="Back again"))
    stale = make_event(id=uid(1), codename="a", action="unpublished")
    result = await setup.action.send(make_call(AzureSearchAction, setup.options, [stale]))
    assert setup.index["a_en"]["name"] == "Back again"
    assert "unpublished, but the Delivery API still has it" in result.response


async def test_batches_keep_to_1000_actions_and_the_request_size_limit(
    setup: Setup, make_call: MakeCall
) -> None:
    events = [make_event(id=uid(n), codename=f"item_{n}", action="deleted") for n in range(2500)]
    await setup.action.send(make_call(AzureSearchAction, setup.options, events))
    assert [len(batch) for batch in setup.azure.batches] == [1000, 1000, 500]
    setup.azure.batches.clear()
    setup.azure.max_request_bytes = 20_000  # the fake refuses larger requests with 413
    options = {**setup.options, "max_request_bytes": 20_000}
    before = len(setup.azure.requests)
    await setup.action.send(make_call(AzureSearchAction, options, events))
    sent = setup.azure.requests[before:]
    assert len(sent) == len(setup.azure.batches)  # every request accepted: none was a 413
    assert max(len(r.body) for r in sent) <= 20_000
    assert sum(len(b) for b in setup.azure.batches) == 2500
    assert len(setup.azure.batches) == len(list(batches(
        [{"@search.action": "delete", "key": f"item_{n}_en"} for n in range(2500)], 1000, 20_000
    )))  # fmt: skip


def test_batches_are_cut_exactly_at_the_byte_limit() -> None:
    actions = [{"k": "x" * 10} for _ in range(5)]
    one = len(json.dumps(actions[0]))
    size = len('{"value": []}') + one * 3 + 2 * 2  # three actions and two separators
    assert [len(b) for b in batches(actions, 1000, size)] == [3, 2]
    assert [len(b) for b in batches(actions, 1000, size - 1)] == [2, 2, 1]
    assert [len(b) for b in batches(actions, 2, 10**6)] == [2, 2, 1]
    for cut in batches(actions, 1000, size):
        assert len(json.dumps({"value": cut})) <= size


async def test_the_record_mapping_is_the_one_algolia_uses(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("hello", id=uid(1), elements=ELEMENTS))
    record = {
        "title": "{title}",
        "url": "/articles/{elements.title}",
        "topics": "{tags_names}",
        "section": "{system.collection}",
        "nested": {"text": "{body}"},
        "absent": "{nope}",
    }
    event = make_event(id=uid(1), codename="hello")
    await setup.action.send(
        make_call(AzureSearchAction, {**setup.options, "record": record}, [event])
    )
    async with FakeAlgolia() as algolia:
        other = AlgoliaAction("algolia", setup.action.resources)
        options = {"app_id": "APPID", "api_key": "admin-key", "index": "a", "hosts": [algolia.url]}
        try:
            await other.send(make_call(AlgoliaAction, {**options, "record": record}, [event]))
        finally:
            await other.close()
    algolia_record = algolia.indexes["a"]["hello_en"]
    document = setup.index["hello_en"]
    assert {k: v for k, v in document.items() if k != "key"} == {
        k: v for k, v in algolia_record.items() if k != "objectID"
    }
    assert document["topics"] == ["Coffee beans"] and document["nested"] == {"text": "Hello bold x"}


def test_derived_field_names_follow_azures_rules() -> None:
    assert azure_field_name("title") == "title"
    assert azure_field_name("_seo") == "f_seo"
    assert azure_field_name("9lives") == "f9lives"
    assert azure_field_name("a.b-c") == "a_b_c"
    assert azure_field_name("azureSearchScore") == "fazureSearchScore"
    assert len(azure_field_name("x" * 300)) == 128


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"seo.title": "{title}"}, "record field 'seo.title': 'seo.title' is not an Azure field"),
        ({"_private": 1}, "'_private' is not an Azure field name"),
        ({"ok": {"sub-field": 1}}, "record field 'ok.sub-field'"),
        ({"azureSearchBoost": 1}, "may not start with 'azureSearch'"),
    ],
)
def test_record_field_names_azure_refuses_are_config_errors(
    record: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message.replace(".", r"\.")):
        AzureSearchOptions.model_validate(
            {
                "endpoint": "https://s.search.windows.net",
                "api_key": "k",
                "index": "i",
                "record": record,
            }
        )


async def test_keys_outside_azures_alphabet_are_url_safe_base64_and_deletes_find_them(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("a", id=uid(1)))
    options = {**setup.options, "key": "{type}.{codename}/{language}"}
    event = make_event(id=uid(1), codename="a")
    await setup.action.send(make_call(AzureSearchAction, options, [event]))
    encoded = base64.urlsafe_b64encode(b"article.a/en").decode()
    assert set(setup.index) == {encoded}
    setup.delivery.unpublish(ENV, uid(1), "en")
    await setup.action.send(
        make_call(
            AzureSearchAction, options, [make_event(id=uid(1), codename="a", action="deleted")]
        )
    )
    assert setup.index == {}
    setup.delivery.publish(ENV, item_json("a", id=uid(1)))
    always = {**setup.options, "key_encoding": "base64"}
    await setup.action.send(make_call(AzureSearchAction, always, [event]))
    assert set(setup.index) == {base64.urlsafe_b64encode(b"a_en").decode()}


async def test_a_rate_limit_retries_at_retry_after_and_applies_nothing(
    setup: Setup, make_call: MakeCall
) -> None:
    call = make_call(AzureSearchAction, setup.options, [make_event(action="deleted")])
    setup.azure.fail_next(429, {"error": {"message": "Too many requests"}}, {"Retry-After": "7"})
    with pytest.raises(Retry) as caught:
        await setup.action.send(call)
    assert caught.value.delay_s == 7 and caught.value.status == 429
    assert "Azure AI Search answered 429: Too many requests" in caught.value.reason
    setup.azure.fail_next(503, {"error": {"message": "busy"}}, {"retry-after-ms": "1500"})
    with pytest.raises(Retry) as caught:
        await setup.action.send(call)
    assert caught.value.delay_s == 1.5 and caught.value.status == 503
    assert len(setup.azure.requests) == 2  # the SDK's own retries are off: the schedule retries
    assert setup.azure.batches == []
    await setup.action.send(call)
    assert len(setup.azure.batches) == 1


async def test_a_busy_document_retries_the_call_after_the_rest_is_applied(
    setup: Setup, make_call: MakeCall
) -> None:
    for n, codename in ((1, "a"), (2, "b")):
        setup.delivery.publish(ENV, item_json(codename, id=uid(n)))
    events = [make_event(id=uid(1), codename="a"), make_event(id=uid(2), codename="b")]
    call = make_call(AzureSearchAction, setup.options, events)
    setup.azure.busy_keys = {"b_en"}
    with pytest.raises(Retry) as caught:
        await setup.action.send(call)
    assert "b_en (503: Service too busy" in caught.value.reason
    assert set(setup.index) == {"a_en"}
    await setup.action.send(call)
    assert set(setup.index) == {"a_en", "b_en"}


async def test_an_oversized_document_is_shrunk_and_a_merge_clears_what_was_dropped(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.index["big_en"] = {"key": "big_en", "text": "old", "meta": {"note": "an old note"}}
    elements = {
        "text": {"type": "text", "name": "T", "value": "Some words. " * 50},
        "note": {"type": "text", "name": "N", "value": "n" * 1_500},
    }
    setup.delivery.publish(ENV, item_json("big", id=uid(1), elements=elements))
    # The text is cut; the note is a token (a cut would corrupt it), so its field is dropped.
    record = {"text": "{text}", "meta": {"note": "{note}"}}
    options = {**setup.options, "max_record_bytes": 200, "record": record}
    result = await setup.action.send(
        make_call(AzureSearchAction, options, [make_event(id=uid(1), codename="big")])
    )
    document = setup.index["big_en"]
    assert document["meta"] is None  # sent as null: a merge would have kept "an old note"
    assert document["text"].startswith("Some words.") and document["text"].endswith("…")
    assert "big_en shrunk to fit (text cut to 148 of 600 characters, meta dropped;" in (
        result.response
    )
    assert len(json.dumps(setup.azure.batches[-1][0])) <= 200 + len(
        '"@search.action": "mergeOrUpload", '
    )


async def test_a_document_that_cannot_fit_deletes_the_old_version_and_fails_the_job(
    setup: Setup, make_call: MakeCall
) -> None:
    long = "a" * 500  # a codename, so a key, longer than the limit: nothing can shrink it
    setup.delivery.publish(ENV, item_json(long, id=uid(1)))
    setup.delivery.publish(ENV, item_json("b", id=uid(2), name="B renamed"))
    setup.index[f"{long}_en"] = {"key": f"{long}_en", "name": "the old version"}
    options = {**setup.options, "max_record_bytes": 400}
    events = [make_event(id=uid(1), codename=long), make_event(id=uid(2), codename="b")]
    with pytest.raises(PermanentFailure) as caught:
        await setup.action.send(make_call(AzureSearchAction, options, events))
    assert f"{long}_en" not in setup.index
    assert setup.index["b_en"]["name"] == "B renamed"
    assert "too large to fit in 400 bytes" in caught.value.reason
    assert "old document deleted" in caught.value.reason


async def test_a_document_azure_refuses_never_leaves_its_stale_version(
    setup: Setup, make_call: MakeCall
) -> None:
    """A term over 32,766 bytes in a filterable field: a per-document 400 in a 207 answer."""
    setup.index["big_en"] = {"key": "big_en", "title": "the old title"}
    elements = {"title": {"type": "text", "name": "T", "value": "y" * 40_000}}
    setup.delivery.publish(ENV, item_json("big", id=uid(1), elements=elements))
    setup.delivery.publish(ENV, item_json("b", id=uid(2)))
    events = [make_event(id=uid(1), codename="big"), make_event(id=uid(2), codename="b")]
    with pytest.raises(PermanentFailure) as caught:
        await setup.action.send(make_call(AzureSearchAction, setup.options, events))
    assert "big_en" not in setup.index and "b_en" in setup.index
    assert "big_en refused by Azure AI Search (400: Field 'title' contains a term" in (
        caught.value.reason
    )
    assert "old document deleted" in caught.value.reason
    assert setup.azure.batches[-1] == [{"@search.action": "delete", "key": "big_en"}]


async def test_a_413_halves_the_batch_and_a_lone_document_too_large_is_deleted(
    setup: Setup, make_call: MakeCall
) -> None:
    elements = {"text": {"type": "text", "name": "T", "value": "z" * 3_000}}
    for n in range(4):
        setup.delivery.publish(ENV, item_json(f"i{n}", id=uid(n)))
    setup.delivery.publish(ENV, item_json("huge", id=uid(9), elements=elements))
    setup.index["huge_en"] = {"key": "huge_en", "text": "stale"}
    setup.azure.max_request_bytes = 2_500  # below what the action believes (16 MB)
    events = [make_event(id=uid(n), codename=f"i{n}") for n in range(4)]
    events.append(make_event(id=uid(9), codename="huge"))
    with pytest.raises(PermanentFailure) as caught:
        await setup.action.send(make_call(AzureSearchAction, setup.options, events))
    assert set(setup.index) == {"i0_en", "i1_en", "i2_en", "i3_en"}
    assert "huge_en refused by Azure AI Search (too large for one request)" in caught.value.reason


async def test_a_wrong_key_and_a_missing_index_are_permanent(
    setup: Setup, make_call: MakeCall
) -> None:
    wrong = {**setup.options, "api_key": "wrong"}
    with pytest.raises(PermanentFailure, match=r"answered 403.*check api_key"):
        await setup.action.send(make_call(AzureSearchAction, wrong, [make_event(action="deleted")]))
    missing = {**setup.options, "index": "nope"}
    with pytest.raises(PermanentFailure, match=r"answered 404.*does the index exist"):
        await setup.action.send(
            make_call(AzureSearchAction, missing, [make_event(action="deleted")])
        )


async def test_an_unreachable_service_retries(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with FakeAzureSearch() as azure:
        url = azure.url
    action = AzureSearchAction("search", Resources(http=http))
    try:
        with pytest.raises(Retry, match="unreachable"):
            await action.send(
                make_call(
                    AzureSearchAction,
                    {"endpoint": url, "api_key": "k", "index": "articles"},
                    [make_event(action="deleted")],
                )
            )
    finally:
        await action.close()


async def test_used_in_reindexes_the_pages_showing_a_changed_teaser(
    setup: Setup, make_call: MakeCall
) -> None:
    teaser = item_json(
        "teaser", id=uid(2), elements={"text": {"type": "text", "name": "T", "value": "new"}}
    )
    parts = {"parts": {"type": "modular_content", "name": "P", "value": ["teaser"]}}
    setup.delivery.publish(ENV, teaser)
    setup.delivery.publish(ENV, item_json("home", id=uid(1), type="page", elements=parts))
    options = {**setup.options, "expand": "used_in"}
    event = make_event(id=uid(2), codename="teaser", action="changed")
    result = await setup.action.send(make_call(AzureSearchAction, options, [event]))
    assert set(setup.index) == {"teaser_en", "home_en"}
    assert setup.index["home_en"]["content"][0]["text"] == "new"
    assert "used-in: 1 item(s)" in result.response


def test_the_options_refuse_what_azure_or_the_sdk_would(monkeypatch: pytest.MonkeyPatch) -> None:
    base = {"endpoint": "https://s.search.windows.net", "index": "articles"}
    cases = [
        ({**base}, "set api_key, or credential: managed_identity"),
        ({**base, "api_key": "k", "credential": "managed_identity"}, "takes no api_key"),
        (
            {**base, "endpoint": "http://127.0.0.1:1", "credential": "managed_identity"},
            "needs an https endpoint",
        ),
        ({**base, "api_key": "k", "endpoint": "https://s.example/x"}, "takes no path"),
        ({**base, "api_key": "k", "index": "Articles"}, "is not an Azure index name"),
        ({**base, "api_key": "k", "index": "a--b"}, "is not an Azure index name"),
        ({**base, "api_key": "k", "index": "articles-en-US"}, "is not an Azure index name"),
        ({**base, "api_key": "k", "key_field": "my.key"}, "is not an Azure field name"),
        ({**base, "api_key": "k", "ca_file": "/nonexistent/ca.pem"}, "is not a file"),
    ]
    for options, message in cases:
        with pytest.raises(ValidationError, match=message):
            AzureSearchOptions.model_validate(options)
    AzureSearchOptions.model_validate({**base, "api_key": "k", "index": "a_{{ event.language }}"})
    monkeypatch.setattr(azure_search, "_sdk_installed", lambda: False)
    with pytest.raises(ValidationError, match=r"pip install 'kontent-bridge\[azure\]'"):
        AzureSearchOptions.model_validate({**base, "api_key": "k"})


def tls_files(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A CA made here, and a certificate for 127.0.0.1 it signed: the fake's TLS, and its trust."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "bridge test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file, cert_file, key_file = (tmp_path / n for n in ("ca.pem", "cert.pem", "key.pem"))
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, ca_file


def use_identity(monkeypatch: pytest.MonkeyPatch, identity: FakeAzureSearch, header: str) -> None:
    """App Service's managed identity endpoint: what ManagedIdentityCredential asks there."""
    monkeypatch.setenv("IDENTITY_ENDPOINT", identity.url + "/msi/token")
    monkeypatch.setenv("IDENTITY_HEADER", header)


def identity_options(azure: FakeAzureSearch, ca_file: Path) -> dict[str, Any]:
    return {
        "endpoint": azure.url,
        "index": "articles",
        "credential": "managed_identity",
        "ca_file": str(ca_file),
    }


async def test_a_managed_identity_token_goes_to_the_service_over_verified_tls(
    http: aiohttp.ClientSession,
    make_call: MakeCall,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context, ca_file = tls_files(tmp_path)
    async with FakeAzureSearch(ssl_context=context) as azure, FakeAzureSearch() as identity:
        use_identity(monkeypatch, identity, identity.identity_header)
        azure.tokens = identity.tokens  # the service accepts what the identity endpoint issued
        options = identity_options(azure, ca_file)
        async with opened(AzureSearchAction("search", Resources(http=http))) as action:
            await action.send(make_call(AzureSearchAction, options, [make_event(action="deleted")]))
            async with opened(AzureSearchAction("search", Resources(http=http))) as untrusted:
                without = {k: v for k, v in options.items() if k != "ca_file"}
                # The self-made CA is not trusted, and the reason says so in words.
                untrusted_ca = r"TLS certificate of 127\.0\.0\.1 rejected: unable"
                with pytest.raises(Retry, match=untrusted_ca):
                    await untrusted.send(
                        make_call(AzureSearchAction, without, [make_event(action="deleted")])
                    )
    assert identity.requests[0].query["resource"] == "https://search.azure.com"
    [indexed] = azure.requests
    assert indexed.headers["Authorization"] == "Bearer fake-token-1"
    assert "api-key" not in indexed.headers
    assert len(azure.batches) == 1


async def test_a_refused_token_names_the_identity_and_a_failing_one_retries(
    http: aiohttp.ClientSession,
    make_call: MakeCall,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    context, ca_file = tls_files(tmp_path)
    async with FakeAzureSearch(ssl_context=context) as azure, FakeAzureSearch() as identity:
        use_identity(monkeypatch, identity, "not-the-header")
        options = identity_options(azure, ca_file)
        call = make_call(AzureSearchAction, options, [make_event(action="deleted")])
        async with opened(AzureSearchAction("search", Resources(http=http))) as action:
            with pytest.raises(PermanentFailure) as refused:
                await action.send(call)
            identity.fail_next(500, {"error": "down"})
            with pytest.raises(Retry) as failing:
                await action.send(call)
    assert "token endpoint answered 401" in refused.value.reason
    assert "check the identity" in refused.value.reason
    assert "token endpoint answered 500" in failing.value.reason
    assert azure.requests == []  # no document request left without a token


async def test_preview_events_index_preview_content_and_each_event_its_own_index(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    async with (
        FakeDelivery(preview_key="pk") as delivery,
        FakeAzureSearch(indexes=("articles-en", "articles-de", "preview")) as azure,
    ):
        action = AzureSearchAction("search", Resources(http=http, kontent=kontent(http, delivery)))
        options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles-en"}
        try:
            for language in ("en", "de"):
                delivery.publish(ENV, item_json("a", id=uid(1), language=language))
            events = [make_event(id=uid(1), codename="a", language=lang) for lang in ("en", "de")]
            result = await action.send(
                make_call(
                    AzureSearchAction,
                    options,
                    events,
                    per_event=lambda e: {"index": f"articles-{e.language}"},
                )
            )
            delivery.publish(ENV, item_json("draft", id=uid(3)), preview=True)
            draft = make_event(id=uid(3), codename="draft", delivery_slot="preview")
            await action.send(
                make_call(AzureSearchAction, {**options, "index": "preview"}, [draft])
            )
        finally:
            await action.close()
    assert azure.indexes["articles-de"]["a_de"]["language"] == "de"
    assert azure.indexes["articles-en"]["a_en"]["language"] == "en"
    assert result.response.startswith("index articles-en: merged or uploaded 1, deleted 0; index")
    assert set(azure.indexes["preview"]) == {"draft_en"}
    assert delivery.requests[-1].path.startswith("/preview/")


async def test_upload_replaces_the_document_and_merge_keeps_fields_it_does_not_write(
    setup: Setup, make_call: MakeCall
) -> None:
    setup.delivery.publish(ENV, item_json("a", id=uid(1), elements=ELEMENTS))
    record = {"title": "{title}"}
    event = make_event(id=uid(1), codename="a")
    setup.index["a_en"] = {"key": "a_en", "title": "old", "vector": [0.1, 0.2]}
    await setup.action.send(
        make_call(AzureSearchAction, {**setup.options, "record": record}, [event])
    )
    assert setup.index["a_en"] == {"key": "a_en", "title": "Hello world", "vector": [0.1, 0.2]}
    upload = {**setup.options, "record": record, "write": "upload"}
    result = await setup.action.send(make_call(AzureSearchAction, upload, [event]))
    assert setup.index["a_en"] == {"key": "a_en", "title": "Hello world"}
    assert setup.azure.batches[-1][0]["@search.action"] == "upload"
    assert result.response == "index articles: uploaded 1, deleted 0"


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_every_derived_field_name_is_one_azure_accepts(name: str) -> None:
    made = azure_field_name(name)
    assert FIELD_RULE.fullmatch(made) and not made.startswith("azureSearch")
    if FIELD_RULE.fullmatch(name) and not name.startswith("azureSearch"):
        assert made == name  # valid names are kept as they are


@settings(derandomize=True, max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=200), st.text(min_size=1, max_size=200))
def test_every_key_is_one_azure_accepts_and_distinct_texts_stay_distinct(
    first: str, second: str
) -> None:
    options = AzureSearchOptions.model_validate(
        {
            "endpoint": "https://s.search.windows.net",
            "api_key": "k",
            "index": "i1",
            "key": "{codename}",
        }
    )
    try:
        keys = [_document_key(options, make_event(codename=text)) for text in (first, second)]
    except PermanentFailure as exc:
        assert "at most 1024 characters" in exc.reason  # only length can make a key impossible
        return
    assert all(KEY_RULE.fullmatch(key) for key in keys)
    if first != second and all(not KEY_RULE.fullmatch(t) for t in (first, second)):
        assert keys[0] != keys[1]


@pytest.mark.parametrize("content_length", [True, False], ids=["declared", "chunked"])
async def test_an_answer_over_the_sdk_read_limit_retries_without_being_held(
    http: aiohttp.ClientSession, make_call: MakeCall, content_length: bool
) -> None:
    """The shared session's bounded reads stop the SDK at 8 MiB; a batch is safe to resend."""
    async with HugeAnswer(
        64 << 20,
        content_type="application/json",
        prefix=b'{"value": [',
        content_length=content_length,
    ) as huge:
        action = AzureSearchAction("search", Resources(http=http))
        options = {"endpoint": huge.url, "api_key": "k", "index": "articles"}
        try:
            with pytest.raises(Retry) as caught:
                await action.send(
                    make_call(AzureSearchAction, options, [make_event(action="deleted")])
                )
        finally:
            await action.close()
    assert caught.value.reason == (
        "Azure AI Search answer unreadable: IncompleteReadError: answer larger than 8388608 bytes"
    )
    assert huge.sent_bytes < 32 << 20  # the connection was closed, not drained
