"""Every Delivery API answer from Kontent.ai's own SDK fixtures (tests/payloads/official/README.md
names each source) through the record mapping and through both search actions.

A record must be complete: every element of the item under its (engine's) name, every linked
item and component the answer carries within `content_depth` as a block, what a page shows of
each block in its text (words, numbers, dates, custom text, images' alt text; no URL slugs, no
custom JSON), and the same record whether built here or saved by the action through the SDK.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bridge.actions.algolia import AlgoliaAction
from bridge.actions.azure_limits import azure_field_name, field_name_problem
from bridge.actions.azure_search import AzureSearchAction
from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.records import (
    DERIVED_FIELDS,
    SYSTEM_FIELDS,
    RecordOptions,
    build_record,
)
from bridge.config import ConfigError, parse_config
from bridge.kontent.client import DeliveryClient
from tests.actions.harness import opened
from tests.fakes.algolia import FakeAlgolia
from tests.fakes.azure_search import FakeAzureSearch
from tests.fakes.events import MakeCall, make_event
from tests.fakes.server import FakeServer

OFFICIAL = Path(__file__).parents[1] / "payloads" / "official"
ENV = "975bf280-fd91-488c-994c-2f04416e5ee3"
KINDS = {
    "text", "rich_text", "number", "multiple_choice", "taxonomy", "asset", "modular_content",
    "subpages", "date_time", "url_slug", "custom",
}  # fmt: skip


def answers() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file, item, modular_content) for every item of every Delivery API answer there."""
    found = []
    for path in sorted(OFFICIAL.glob("delivery_*.json")):
        data = json.loads(path.read_bytes())
        items = [data["item"]] if "item" in data else data.get("items", [])
        for item in items:
            if isinstance(item.get("elements"), dict):
                found.append((path.name, item, data.get("modular_content") or {}))
    return found


ANSWERS = answers()
IDS = [f"{name}:{item['system']['codename']}" for name, item, _ in ANSWERS]
ENGINES: dict[str, Callable[[str], str]] = {"algolia": lambda name: name, "azure": azure_field_name}


def test_the_fixtures_cover_every_element_kind_and_both_block_kinds() -> None:
    kinds = {e["type"] for _, item, mc in ANSWERS for i in (item, *mc.values())
             for e in i["elements"].values()}  # fmt: skip
    assert kinds >= KINDS - {"subpages"}  # no SDK fixture has subpages; test_records does
    assert len({name for name, _, _ in ANSWERS}) >= 15


def nearest_levels(
    item: dict[str, Any], modular_content: dict[str, Any]
) -> dict[str, tuple[int, str]]:
    """codename -> (fewest linked-item levels from the item, kind there), found breadth first:
    an oracle of its own, not the mapping's walk."""
    root = item["system"]["codename"]
    best: dict[str, tuple[int, str]] = {root: (0, "")}
    queue = deque([root])
    while queue:
        codename = queue.popleft()
        node = item if codename == root else modular_content[codename]
        for element in node["elements"].values():
            children: list[tuple[str, str]] = []
            if element["type"] in ("modular_content", "subpages"):
                children = [(c, "linked_item") for c in element["value"]]
            elif element["type"] == "rich_text":
                tags = re.findall(r"<object\b[^>]*>", element["value"] or "")
                rels = {
                    re.search(r'data-codename="([^"]*)"', t).group(1): (  # type: ignore[union-attr]
                        "component" if 'data-rel="component"' in t else "linked_item"
                    )
                    for t in tags
                }
                children = [(c, rels.get(c, "linked_item")) for c in element["modular_content"]]
            for child, kind in children:
                if child not in modular_content:
                    continue
                level = best[codename][0] + (kind == "linked_item")
                if level < best.get(child, (99, ""))[0]:
                    best[child] = (level, kind)
                    queue.append(child)
    del best[root]
    return best


def words(item: dict[str, Any]) -> bool:
    return any(
        e["type"] in ("text", "rich_text") and re.sub(r"<[^>]*>", "", e["value"] or "").strip()
        for e in item["elements"].values()
    )


def described(
    item: dict[str, Any], modular_content: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The answer with a description on every rich-text image, as the Delivery API gives it
    for an asset that has one (the fixtures' assets have none): in the element's `images` map,
    and on every other image in the `<img>`'s `alt` too."""
    item, modular_content = json.loads(json.dumps([item, modular_content]))
    n = 0
    for node in (item, *modular_content.values()):
        for element in node["elements"].values():
            if element["type"] != "rich_text":
                continue
            for image_id, image in (element.get("images") or {}).items():
                n += 1
                image["description"] = f"Picture {n} of {node['system']['codename']}"
                if n % 2:
                    tag = f'data-image-id="{image_id}" alt=""'
                    alt = f'data-image-id="{image_id}" alt="{image["description"]}"'
                    element["value"] = element["value"].replace(tag, alt)
    return item, modular_content


def shown(node: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(phrases a page shows of `node`, which its text must hold; values no text may hold as
    words): an oracle of its own, from the Delivery API's documented element shapes."""
    held: list[str] = []
    never: list[str] = []
    for element in node["elements"].values():
        kind, value = element["type"], element["value"]
        if kind == "number" and value is not None:
            held.append(str(int(value)) if float(value).is_integer() else str(value))
        elif kind == "date_time" and value:
            held.append(value[:10])  # the day of the UTC value, as its ISO text starts
        elif kind == "rich_text":
            for image_id, image in (element.get("images") or {}).items():
                if image.get("description") and f'data-image-id="{image_id}"' in value:
                    held.append(image["description"])
        elif kind == "url_slug" and value:
            never.append(value)
        elif kind == "custom" and value:
            (never if value.lstrip().startswith("{") else held).append(value)
    return held, never


@pytest.mark.parametrize("engine", list(ENGINES))
@pytest.mark.parametrize(("name", "item", "modular_content"), ANSWERS, ids=IDS)
@pytest.mark.parametrize("content_depth", [1, 3])
@pytest.mark.parametrize("images", ["as-given", "described"])
def test_every_record_is_complete(
    name: str,
    item: dict[str, Any],
    modular_content: dict[str, Any],
    engine: str,
    content_depth: int,
    images: str,
) -> None:
    key = ENGINES[engine]
    if images == "described":
        item, modular_content = described(item, modular_content)
    record = build_record(item, modular_content, RecordOptions(content_depth, key=key))
    json.dumps(record, allow_nan=False)
    for element_name, element in item["elements"].items():
        if element_name not in SYSTEM_FIELDS + DERIVED_FIELDS:
            assert key(element_name) in record, element_name
        value = element["value"]
        if element["type"] not in KINDS:  # the SDK's `ufo`: its value as text, one field type
            compact = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
            text = value if value is None or isinstance(value, str) else compact
            assert record[key(element_name)] == text
        if element["type"] == "rich_text" and element_name not in SYSTEM_FIELDS + DERIVED_FIELDS:
            held, _ = shown({"elements": {element_name: element}})
            assert all(phrase in record[key(element_name)] for phrase in held), held
        if element["type"] == "asset":
            assets = record[key(f"{element_name}_assets")]
            assert [a[key("name")] for a in assets] == [a["name"] for a in element["value"]]
    assert record[key("codename")] == item["system"]["codename"]
    expected = {
        codename: kind
        for codename, (level, kind) in nearest_levels(item, modular_content).items()
        if level <= content_depth
    }
    blocks = {b[key("codename")]: b for b in record.get(key("content"), [])}
    assert {c: b[key("kind")] for c, b in blocks.items()} == expected
    assert record.get(key("content_codenames"), []) == list(blocks)
    for codename, block in blocks.items():
        assert block[key("parents")][-1] == item["system"]["codename"]
        if words(modular_content[codename]):
            assert block[key("text")], f"{codename}: a block without its words"
        held, never = shown(modular_content[codename])
        text = block[key("text")]
        assert [p for p in held if p not in text] == [], f"{codename}: shown, not in its text"
        assert [v for v in never if v in text.split()] == [], f"{codename}: not words"
    if engine == "azure":
        assert not [n for n in field_names(record) if field_name_problem(n)]


def field_names(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [n for k, v in value.items() for n in (k, *field_names(v))]
    if isinstance(value, list):
        return [n for v in value for n in field_names(v)]
    return []


class FixtureDelivery(FakeServer):
    """The Delivery API answering each fixture item as its fixture has it, in an environment of
    its own (fixtures of different files share ids)."""

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[tuple[str, str], dict[str, Any]] = {}

    def add(self, env: str, item: dict[str, Any], modular_content: dict[str, Any]) -> None:
        pagination = {"skip": 0, "limit": 0, "count": 1, "next_page": ""}
        answer = {"items": [item], "modular_content": modular_content, "pagination": pagination}
        self.answers[env, item["system"]["id"]] = answer

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/{env}/items", self._items)

    async def _items(self, request: web.Request) -> web.Response:
        key = (request.match_info["env"], request.query["system.id"])
        return web.json_response(self.answers[key])


def env(n: int) -> str:
    return f"00000000-0000-0000-0000-{n:012d}"


@pytest.fixture
async def delivery(http: aiohttp.ClientSession) -> AsyncIterator[Resources]:
    async with FixtureDelivery() as fixture:
        for n, (_, item, modular_content) in enumerate(ANSWERS):
            fixture.add(env(n), item, modular_content)
        yield Resources(http=http, kontent=DeliveryClient(http, fixture.url))


def events() -> list[Any]:
    found = []
    for n, (_, item, _) in enumerate(ANSWERS):
        system = item["system"]
        found.append(
            make_event(
                environment_id=env(n),
                id=system["id"],
                codename=system["codename"],
                language=system["language"],
                type=system["type"],
            )
        )
    return found


def expected(key: Callable[[str], str], id_key: str) -> dict[str, dict[str, Any]]:
    """The record of each answer, by the record key `{environment_id}_{id}`."""
    records = {}
    for n, (_, item, modular_content) in enumerate(ANSWERS):
        record_key = f"{env(n)}_{item['system']['id']}"
        record = build_record(item, modular_content, RecordOptions(key=key)) | {id_key: record_key}
        records[record_key] = json.loads(json.dumps(record))
    return records


async def test_every_fixture_item_is_saved_whole_by_algolia(
    delivery: Resources, make_call: MakeCall
) -> None:
    options = {
        "app_id": "APPID",
        "api_key": "admin-key",
        "index": "articles",
        "object_id": "{environment_id}_{id}",
        "max_record_bytes": 100_000,
    }
    async with (  # a paid plan's limit: the home page's record is 24 KB
        FakeAlgolia(max_record_bytes=100_000) as algolia,
        opened(AlgoliaAction("search", delivery)) as action,
    ):
        await action.send(make_call(AlgoliaAction, options | {"hosts": [algolia.url]}, events()))
    assert algolia.indexes["articles"] == expected(lambda name: name, "objectID")


async def test_every_fixture_item_is_saved_whole_by_azure_search(
    delivery: Resources, make_call: MakeCall
) -> None:
    async with FakeAzureSearch() as azure, opened(AzureSearchAction("search", delivery)) as action:
        options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}
        options["key"] = "{environment_id}_{id}"
        await action.send(make_call(AzureSearchAction, options, events()))
    assert azure.indexes["articles"] == expected(azure_field_name, "key")


# --- asset details against a typed index, declared as docs/actions.md says ---------------------

DOCS = Path(__file__).parents[2] / "docs" / "actions.md"


def documented_asset_fields(element: str) -> list[dict[str, Any]]:
    """The Azure field definitions docs/actions.md gives for an asset element `hero`."""
    text = DOCS.read_text()
    block = text.split("<!-- azure-asset-fields -->\n```json\n", 1)[1].split("```", 1)[0]
    fields: list[dict[str, Any]] = json.loads(block.replace('"hero', f'"{element}'))
    return fields


def typed_index(item: dict[str, Any], *, details: bool) -> list[dict[str, Any]]:
    """An index declaring the default record of `item` (asset elements as documented)."""
    fields: list[dict[str, Any]] = [{"name": "key", "type": "Edm.String", "key": True}]
    fields += [{"name": name, "type": "Edm.String"} for name in SYSTEM_FIELDS]
    fields.append({"name": "last_modified_timestamp", "type": "Edm.Int64"})
    for name in item["elements"]:
        asset = documented_asset_fields(name)
        if not details:
            asset[1]["fields"] = asset[1]["fields"][:4]
        fields += asset
    return fields


@pytest.fixture
def asset_item() -> dict[str, Any]:
    item: dict[str, Any] = json.loads((OFFICIAL / "delivery_asset_renditions.json").read_bytes())
    return item["item"]


async def test_asset_details_are_opt_in_for_a_typed_index(
    delivery: Resources, make_call: MakeCall, asset_item: dict[str, Any]
) -> None:
    """The Delivery API's size, width, height and renditions, written by default, would make
    Azure refuse every document of an index declared before them; with `asset_details` they
    fit the documented definition."""
    event = [e for e in events() if e.id == asset_item["system"]["id"]]
    assert len(event) == 1
    index = typed_index(asset_item, details=False)
    async with (
        FakeAzureSearch(fields=index) as azure,
        opened(AzureSearchAction("search", delivery)) as action,
    ):
        options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}
        await action.send(make_call(AzureSearchAction, options, event))
        [document] = azure.indexes["articles"].values()
        assert document["assetWithoutRendition_assets"][0].keys() == {
            "name", "description", "url", "type"
        }  # fmt: skip
        with pytest.raises(PermanentFailure, match=r"does not exist on type 'search\.complex"):
            await action.send(
                make_call(AzureSearchAction, options | {"asset_details": True}, event)
            )
    async with (
        FakeAzureSearch(fields=typed_index(asset_item, details=True)) as azure,
        opened(AzureSearchAction("search", delivery)) as action,
    ):
        options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}
        await action.send(make_call(AzureSearchAction, options | {"asset_details": True}, event))
        [document] = azure.indexes["articles"].values()
    [asset] = document["assetWithRenditionInDefaultPreset_assets"]
    assert (asset["size"], asset["width"], asset["height"]) == (45376, 640, 457)
    assert asset["renditions"][0]["url"] == asset["url"] + "?" + asset["renditions"][0]["query"]
    assert document["assetWithoutRendition_assets"][0]["renditions"] == []


RULES = """\
version: 1
webhooks: [{{name: production, path: /webhooks/kontent, secrets: [s]}}]
actions:
  search:
    type: algolia
    app_id: A
    api_key: k
    index: articles
    asset_details: {value}
rules: [{{name: r, when: {{object_type: content_item}}, do: [search]}}]
"""


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (
            "[width, rendition]",
            "'rendition' is not an asset detail (did you mean 'renditions'?); choose from size, "
            "width, height, renditions, or true for all of them",
        ),
        (
            "[name, width]",
            "'name' is always in <element>_assets; asset_details adds size, width, height, "
            "renditions",
        ),
        ("{width: true}", "Input should be a valid list"),
    ],
)
def test_asset_details_are_checked_when_the_config_loads(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(RULES.format(value=value))
    assert str(caught.value) == (
        f"rules.yaml:9:20: actions.search.asset_details: action 'search' option "
        f"'asset_details': {message}"
    )


@pytest.mark.parametrize(
    ("value", "details"),
    [
        (True, ["size", "width", "height", "renditions"]),
        ("renditions", ["renditions"]),
        (["height", "width", "width"], ["width", "height"]),
        (False, []),
        (None, []),
    ],
)
def test_asset_details_take_true_one_name_or_a_list(value: Any, details: list[str]) -> None:
    options = {"app_id": "A", "api_key": "k", "index": "i", "asset_details": value}
    assert AlgoliaAction.Options.model_validate(options).asset_details == details


# --- an element type the bridge does not know, against a typed index ---------------------------


async def test_an_unknown_element_never_fails_a_typed_azure_batch(
    http: aiohttp.ClientSession, make_call: MakeCall
) -> None:
    """delivery-sdk-js's `ufo` element with the values a new element type could have, in one
    batch with the custom-elements item, to an index declaring `ufo` as `Edm.String` (what its
    fixture value, "simple text", asks for). Passing a number or an object through as the API
    gave it made Azure refuse the whole request (400), so no document of the batch was saved."""
    ufo = json.loads((OFFICIAL / "delivery_unknown_element.json").read_bytes())["items"][0]
    custom = json.loads((OFFICIAL / "delivery_custom_elements.json").read_bytes())["items"][0]
    values: list[Any] = ["simple text", 42, 2.5, True, {"lat": 50.08, "lng": 14.42}, ["a"], None]
    items = []
    for value in values:
        item = json.loads(json.dumps(ufo))
        item["elements"]["ufo"]["value"] = value
        items.append(item)
    fields: list[dict[str, Any]] = [{"name": "key", "type": "Edm.String", "key": True}]
    fields += [{"name": name, "type": "Edm.String"} for name in SYSTEM_FIELDS]
    fields.append({"name": "last_modified_timestamp", "type": "Edm.Int64"})
    fields += [
        {"name": name, "type": "Edm.String"}
        for name in ("ufo", "rich", "color", "markdown", "simple_text")
    ]
    batch = []
    async with FixtureDelivery() as fixture:
        for n, item in enumerate([*items, custom]):
            fixture.add(env(n), item, {})
            system = item["system"]
            batch.append(make_event(environment_id=env(n), id=system["id"], language="default"))
        resources = Resources(http=http, kontent=DeliveryClient(http, fixture.url))
        async with (
            FakeAzureSearch(fields=fields) as azure,
            opened(AzureSearchAction("search", resources)) as action,
        ):
            options = {"endpoint": azure.url, "api_key": azure.api_key, "index": "articles"}
            options["key"] = "{environment_id}_{id}"
            outcome = await action.send(make_call(AzureSearchAction, options, batch))
    assert outcome.response == "index articles: merged or uploaded 8, deleted 0"
    saved = azure.indexes["articles"]
    assert [saved[f"{env(n)}_{ufo['system']['id']}"]["ufo"] for n in range(len(values))] == [
        "simple text", "42", "2.5", "true", '{"lat":50.08,"lng":14.42}', '["a"]', None
    ]  # fmt: skip
    assert saved[f"{env(len(values))}_{custom['system']['id']}"]["markdown"] == "**Super value**"
