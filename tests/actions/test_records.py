"""The search record mapping: words kept whole, terms, assets, timestamps, content blocks."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from bridge.actions.records import (
    ASSET_DETAILS,
    MAX_BLOCK_NESTING,
    RecordOptions,
    build_record,
    content_blocks,
    fill,
    mapped_record,
    strip_tags,
    timestamp,
)
from tests.fakes.kontent import item_json
from tests.strategies import json_values


def test_inline_tags_do_not_split_words_and_block_tags_separate_them() -> None:
    html = (
        "<p>Some <strong>bold</strong>, <em>italics</em>, un<b>broken</b>word and "
        '<a href="/x" data-item-id="1">a link</a>.</p><h2>Next</h2><ul><li>one</li><li>two'
        "</li></ul><p>line<br>break &amp; <sub>sub</sub>script</p><table><tr><td>a</td>"
        "<td>b</td></tr></table>"
    )
    assert strip_tags(html) == (
        "Some bold, italics, unbrokenword and a link. Next one two line break & subscript a b"
    )


def test_taxonomy_and_multiple_choice_keep_codenames_and_add_names() -> None:
    item = item_json(
        "a",
        id="1",
        elements={
            "topics": {
                "type": "taxonomy",
                "name": "Topics",
                "taxonomy_group": "topics",
                "value": [
                    {"name": "Coffee beans", "codename": "coffee_beans"},
                    {"name": "Brewing", "codename": "brewing"},
                ],
            },
            "kind": {
                "type": "multiple_choice",
                "name": "Kind",
                "value": [{"name": "Long read", "codename": "long_read"}],
            },
        },
    )
    record = build_record(item)
    assert record["topics"] == ["coffee_beans", "brewing"]
    assert record["topics_names"] == ["Coffee beans", "Brewing"]
    assert record["kind"] == ["long_read"]
    assert record["kind_names"] == ["Long read"]


def test_assets_carry_names_descriptions_and_urls() -> None:
    asset = {
        "name": "beans.jpg",
        "description": "Roasted beans on a table",
        "type": "image/jpeg",
        "size": 1000,
        "url": "https://assets.example/beans.jpg",
        "width": 800,
        "height": 600,
        "renditions": {},
    }
    item = item_json(
        "a", id="1", elements={"hero": {"type": "asset", "name": "H", "value": [asset]}}
    )
    record = build_record(item)
    assert record["hero"] == ["https://assets.example/beans.jpg"]
    assert record["hero_assets"] == [
        {
            "name": "beans.jpg",
            "description": "Roasted beans on a table",
            "url": "https://assets.example/beans.jpg",
            "type": "image/jpeg",
        }
    ]


def _official(payload_bytes: Callable[[str], bytes], name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload_bytes(f"official/{name}"))
    return data


def test_asset_details_add_size_pixels_and_renditions_as_a_list(
    payload_bytes: Callable[[str], bytes],
) -> None:
    """delivery-sdk-js's asset-rendition fixture: a rendition keyed `default`, one keyed
    `mobile`, an asset without renditions."""
    item = _official(payload_bytes, "delivery_asset_renditions.json")["item"]
    plain = build_record(item)
    assert plain["assetWithRenditionInDefaultPreset_assets"][0].keys() == {
        "name", "description", "url", "type"
    }  # fmt: skip
    record = build_record(item, options=RecordOptions(asset_details=ASSET_DETAILS))
    [default] = record["assetWithRenditionInDefaultPreset_assets"]
    url = default["url"]
    query = "w=1280&h=1024&fit=clip&rect=2396,169,1280,1024"
    assert default == {
        "name": "sources.jpg",
        "description": "Description of what the asset represents.",
        "url": url,
        "type": "image/jpeg",
        "size": 45376,
        "width": 640,
        "height": 457,
        "renditions": [
            {
                "preset": "default",
                "url": f"{url}?{query}",  # as the SDK's element mapper builds it
                "width": 1280,
                "height": 1024,
                "query": query,
                "rendition_id": "b447ca6c-8020-4e8f-be57-1d110721e535",
                "preset_id": "a6d98cd5-8b2c-4e50-99c9-15192bce2490",
            }
        ],
    }
    [mobile] = record["assetWithRenditionInMobilePreset_assets"]
    assert [r["preset"] for r in mobile["renditions"]] == ["mobile"]
    [without] = record["assetWithoutRendition_assets"]
    assert without["renditions"] == []  # the same fields in every record
    only = build_record(item, options=RecordOptions(asset_details=("width", "height")))
    assert only["assetWithoutRendition_assets"][0].keys() == {
        "name", "description", "url", "type", "width", "height"
    }  # fmt: skip


def test_asset_details_follow_the_key_rule_and_reach_templates(
    payload_bytes: Callable[[str], bytes],
) -> None:
    item = _official(payload_bytes, "delivery_asset_renditions.json")["item"]
    options = RecordOptions(asset_details=("renditions",), key=lambda name: name.upper())
    record = build_record(item, options=options)
    [asset] = record["ASSETWITHRENDITIONINDEFAULTPRESET_ASSETS"]
    assert asset["RENDITIONS"][0]["PRESET"] == "default"
    mapping = {
        "thumb": "{assetWithRenditionInMobilePreset_assets.0.renditions.0.url}",
        "raw": "{elements.assetWithRenditionInMobilePreset_assets.0.renditions.0.width}",
    }
    mapped = mapped_record(item, "k", mapping, options=RecordOptions(asset_details=("renditions",)))
    assert mapped["thumb"].endswith("/sources.jpg?w=1280&h=1024&fit=clip&rect=2396,169,1280,1024")
    assert mapped["raw"] == 1280


def test_dates_are_also_unix_seconds() -> None:
    item = item_json(
        "a",
        id="1",
        elements={
            "start": {"type": "date_time", "name": "S", "value": "2000-01-01T00:00:00Z"},
            "end": {"type": "date_time", "name": "E", "value": None},
        },
    )
    item["system"]["last_modified"] = "2000-01-02T00:00:01.1234567Z"  # Kontent's 7 digits
    record = build_record(item)
    assert record["start"] == "2000-01-01T00:00:00Z"
    assert record["start_timestamp"] == 946684800
    assert record["end_timestamp"] is None
    assert record["last_modified_timestamp"] == 946684800 + 86401
    assert timestamp("2000-01-01T01:00:00+01:00") == 946684800
    assert timestamp("2000-01-01") == 946684800  # no zone: UTC, not the machine's
    assert timestamp("not a date") is None


def rich(html: str, codenames: list[str]) -> dict[str, Any]:
    return {"type": "rich_text", "name": "Body", "value": html, "modular_content": codenames}


def component(codename: str) -> str:
    return (
        '<object type="application/kenticocloud" data-type="item" data-rel="component" '
        f'data-codename="{codename}"></object>'
    )


def linked(codename: str) -> str:
    return (
        '<object type="application/kenticocloud" data-type="item" data-rel="link" '
        f'data-codename="{codename}"></object>'
    )


def page_with_blocks() -> tuple[dict[str, Any], dict[str, Any]]:
    """A page: a component in its body, a linked teaser that links an author (and the page)."""
    page = item_json(
        "coffee_page",
        id="p",
        type="page",
        elements={
            "body": rich(
                f"<p>Intro</p>{component('n1_quote')}{linked('teaser')}", ["n1_quote", "teaser"]
            ),
            "related": {"type": "modular_content", "name": "R", "value": ["other_page"]},
        },
    )
    modular_content = {
        "n1_quote": item_json(
            "n1_quote",
            id="c1",
            type="quote",
            elements={"text": {"type": "text", "name": "T", "value": "Coffee is life"}},
        ),
        "teaser": item_json(
            "teaser",
            id="t",
            type="teaser",
            elements={
                "summary": rich("<p>Best <b>beans</b> here</p>", []),
                "author": {
                    "type": "modular_content",
                    "name": "A",
                    "value": ["jane", "coffee_page"],
                },
                "tags": {
                    "type": "taxonomy",
                    "name": "Tags",
                    "value": [{"name": "Roasting", "codename": "roasting"}],
                },
            },
        ),
        "jane": item_json(
            "jane",
            id="j",
            type="author",
            elements={
                "name": {"type": "text", "name": "N", "value": "Jane Doe"},
                "photo": {
                    "type": "asset",
                    "name": "P",
                    "value": [{"name": "jane.jpg", "description": "Jane smiling", "url": "u"}],
                },
            },
        ),
        "other_page": item_json("other_page", id="o", type="page"),
    }
    return page, modular_content


def test_linked_items_and_components_become_blocks_with_their_text_and_parents() -> None:
    page, modular_content = page_with_blocks()
    record = build_record(page, modular_content)
    assert record["content"] == [
        {
            "id": "c1",
            "codename": "n1_quote",
            "name": "N1 Quote",
            "type": "quote",
            "kind": "component",
            "parents": ["coffee_page"],
            "text": "Coffee is life",
        },
        {
            "id": "t",
            "codename": "teaser",
            "name": "Teaser",
            "type": "teaser",
            "kind": "linked_item",
            "parents": ["coffee_page"],
            "text": "Best beans here Roasting",
        },
        {
            "id": "j",
            "codename": "jane",
            "name": "Jane",
            "type": "author",
            "kind": "linked_item",
            "parents": ["teaser", "coffee_page"],  # direct parent first, up to the record's item
            "text": "Jane Doe jane.jpg Jane smiling",
        },
        {
            "id": "o",
            "codename": "other_page",
            "name": "Other Page",
            "type": "page",
            "kind": "linked_item",
            "parents": ["coffee_page"],
            "text": "",
        },
    ]
    # The page linked back from the teaser is not a block of itself (no cycle).
    assert record["content_codenames"] == ["n1_quote", "teaser", "jane", "other_page"]
    assert record["body"] == "Intro"


def test_blocks_skip_types_and_stop_at_the_depth() -> None:
    page, modular_content = page_with_blocks()
    shallow = content_blocks(page, modular_content, RecordOptions(block_depth=1))
    assert [b["codename"] for b in shallow] == ["n1_quote", "teaser", "other_page"]
    no_pages = content_blocks(page, modular_content, RecordOptions(skip_types=frozenset({"page"})))
    assert [b["codename"] for b in no_pages] == ["n1_quote", "teaser", "jane"]
    # A linked item missing from modular_content (depth too low) is left out, not an error.
    assert content_blocks(page, {}) == []


def test_an_item_linked_twice_is_placed_where_it_is_nearest() -> None:
    """Before: the first place depth first won, so an author the page links directly but a
    teaser before it links too sat one level deeper, under the teaser, and the author's own
    linked item (the photo credit) fell past `block_depth` and out of the record."""

    def links(*codenames: str) -> dict[str, Any]:
        return {"l": {"type": "modular_content", "name": "L", "value": list(codenames)}}

    page = item_json("page", id="1", type="page", elements=links("teaser", "author"))
    modular_content = {
        "teaser": item_json("teaser", id="2", type="teaser", elements=links("author")),
        "author": item_json("author", id="3", type="author", elements=links("credit")),
        "credit": item_json("credit", id="4", type="credit"),
    }
    blocks = content_blocks(page, modular_content, RecordOptions(block_depth=2))
    assert [(b["codename"], b["parents"]) for b in blocks] == [
        ("teaser", ["page"]),
        ("author", ["page"]),
        ("credit", ["author", "page"]),
    ]


def test_the_sdk_fixtures_home_page_places_each_item_at_its_shortest_chain(
    payload_bytes: Callable[[str], bytes],
) -> None:
    """delivery-sdk-net's home.json: the page links twelve items, `on_roasts` among them, and
    `on_roasts` links `coffee_processing_techniques`, which the page links too, later."""
    data = _official(payload_bytes, "delivery_home_linked_items.json")
    record = build_record(data["item"], data["modular_content"])
    assert len(record["content"]) == 12
    assert all(block["parents"] == ["home"] for block in record["content"])  # all linked here
    linked = [c for e in data["item"]["elements"].values() if e["type"] == "modular_content"
              for c in e["value"]]  # fmt: skip
    assert record["content_codenames"] == linked  # in the page's element order


def nested_components(levels: int, under: str = "page") -> tuple[dict[str, Any], dict[str, Any]]:
    """`under` holding a component holding a component ... `levels` deep, each with words."""
    names = [f"{under}_c{n}" for n in range(1, levels + 1)]
    modular_content = {}
    for n, name in enumerate(names):
        inner = names[n + 1 : n + 2]
        body = f"<p>words of level {n + 1}</p>" + "".join(component(c) for c in inner)
        modular_content[name] = item_json(
            name, id=name, type="quote", elements={"body": rich(body, inner)}
        )
    top = item_json(
        under, id=under, type="page", elements={"body": rich(component(names[0]), names[:1])}
    )
    return top, modular_content


def test_components_nested_six_levels_deep_all_reach_the_record() -> None:
    # Kontent.ai nests components up to six levels, always in the response whatever `depth`
    # says; counted as levels of `content_depth` (3), the words of levels 4 to 6 were lost.
    page, modular_content = nested_components(6)
    blocks = content_blocks(page, modular_content)
    assert [b["text"] for b in blocks] == [f"words of level {n}" for n in range(1, 7)]
    assert blocks[-1]["parents"] == ["page_c5", "page_c4", "page_c3", "page_c2", "page_c1", "page"]
    # content_depth counts linked items only: with 0, the components are still there
    assert len(content_blocks(page, modular_content, RecordOptions(block_depth=0))) == 6


def test_components_inside_a_linked_item_at_the_depth_are_kept() -> None:
    teaser, inner = nested_components(4, under="teaser")
    page = item_json(
        "page", id="p", type="page", elements={"body": rich(linked("teaser"), ["teaser"])}
    )
    blocks = content_blocks(page, {"teaser": teaser, **inner}, RecordOptions(block_depth=1))
    assert [b["codename"] for b in blocks] == ["teaser", *(f"teaser_c{n}" for n in range(1, 5))]
    assert content_blocks(page, {"teaser": teaser, **inner}, RecordOptions(block_depth=0)) == []


def test_a_malformed_chain_of_components_is_cut_not_a_recursion_error() -> None:
    page, modular_content = nested_components(5000)
    blocks = content_blocks(page, modular_content)
    assert len(blocks) == MAX_BLOCK_NESTING


def test_key_rule_applies_to_every_derived_key() -> None:
    page, modular_content = page_with_blocks()
    page["elements"]["when"] = {"type": "date_time", "name": "W", "value": "2000-01-01T00:00:00Z"}
    record = build_record(page, modular_content, RecordOptions(key=lambda k: k.upper()))
    assert record["WHEN_TIMESTAMP"] == 946684800
    assert record["CONTENT"][0]["PARENTS"] == ["coffee_page"]
    assert "content" not in record


def test_templates_reach_the_new_fields() -> None:
    page, modular_content = page_with_blocks()
    page["elements"]["topics"] = {
        "type": "taxonomy",
        "name": "T",
        "value": [{"name": "Coffee", "codename": "coffee"}],
    }
    mapping = {
        "title": "{name}",
        "topics": "{topics_names}",
        "quote": "{content.0.text}",
        "uses": "{content_codenames}",
        "updated": "{last_modified_timestamp}",
        "teaser_type": "{modular_content.teaser.system.type}",
    }
    record = mapped_record(page, "id-1", mapping, modular_content, id_key="key")
    assert record == {
        "key": "id-1",
        "title": "Coffee Page",
        "topics": ["Coffee"],
        "quote": "Coffee is life",
        "uses": ["n1_quote", "teaser", "jane", "other_page"],
        "updated": 1795428000,
        "teaser_type": "teaser",
    }


# --- Kontent.ai's own Delivery API fixture (tests/payloads/official/README.md names its source):
# rich text with three components, an inserted item (data-rel="link"), item and asset links.


def _official_rich_text(payload_bytes: Callable[[str], bytes]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(payload_bytes("official/delivery_rich_text_components.json"))
    return data


def test_the_sdk_fixtures_components_become_blocks_in_the_elements_order(
    payload_bytes: Callable[[str], bytes],
) -> None:
    data = _official_rich_text(payload_bytes)
    record = build_record(data["items"][0], data["modular_content"])
    kinds = [(b["codename"], b["kind"], b["text"]) for b in record["content"]]
    # The element's modular_content order (n2, n4, n3, n1), as the SDK keeps it.
    assert kinds == [
        ("n2", "component", "Text 2"),
        ("n4", "linked_item", "Text 4"),
        ("n3", "component", "Text 3"),
        ("n1", "component", "Text 1"),
    ]
    assert record["rich"].startswith("Basic formatted text: plain text, bold, italics,")


def test_an_element_named_like_a_derived_field_is_shadowed_with_or_without_blocks(
    payload_bytes: Callable[[str], bytes],
) -> None:
    data = _official_rich_text(payload_bytes)
    item = data["items"][0]
    item["elements"]["content"] = item["elements"].pop("rich")
    item["elements"]["content_codenames"] = {"type": "text", "value": "x"}
    with_blocks = build_record(item, data["modular_content"])
    without_blocks = build_record(item, {})
    # `content` is the block list or absent, never the element's words: one type in every
    # record, which a typed index (Azure AI Search) needs.
    assert [b["codename"] for b in with_blocks["content"]] == ["n2", "n4", "n3", "n1"]
    assert with_blocks["content_codenames"] == ["n2", "n4", "n3", "n1"]
    assert "content" not in without_blocks and "content_codenames" not in without_blocks
    mapped = mapped_record(item, "k", {"body": "{elements.content}"}, data["modular_content"])
    assert mapped["body"].startswith("Basic formatted text")


def test_the_sdk_fixtures_movie_maps_every_element_kind(
    payload_bytes: Callable[[str], bytes],
) -> None:
    """delivery-sdk-js's fake-warrior response (tests/payloads/official/README.md): inserted
    items, links and a component in one rich text, the same items in a linked-items element, a
    date with a display time zone, an asset with a rendition, a taxonomy and a URL slug."""
    data = json.loads(payload_bytes("official/delivery_movie_components_links.json"))
    record = build_record(data["item"], data["modular_content"])
    component = "ec9813f6_194d_018f_e20c_36855fb6e600"
    assert [(b["codename"], b["kind"], b["parents"], b["text"]) for b in record["content"]] == [
        ("tom_hardy", "linked_item", ["warrior"], "Tom Hardy tom_hardy.jpg"),
        ("joel_edgerton", "linked_item", ["warrior"], "Joel Edgerton joel_edgerton.jpg"),
        (component, "component", ["warrior"], "Jennifer Morrison"),
    ]
    assert record["content_codenames"] == ["tom_hardy", "joel_edgerton", component]
    # A link's text stays in the words; inserted items and images are no words of the plot.
    assert (
        "See more in profile of Joel Edgerton and Tom Hardy And here are some images:"
        in (record["plot"])
    )
    assert record["plot"].endswith("Also, why not include content component in the mix?")
    # The value is UTC whatever the display time zone (Europe/London) says.
    assert (record["released"], record["released_timestamp"]) == (
        "2011-09-09T00:00:00Z",
        1315526400,
    )
    assert record["stars"] == ["tom_hardy", "joel_edgerton"]
    assert (record["releasecategory"], record["releasecategory_names"]) == (
        ["global_release", "us_only"],
        ["Global release", "US only"],
    )
    assert (record["category"], record["seoname"], record["length"]) == (
        ["action", "drama"],
        "warrior",
        151,
    )
    [poster] = record["poster_assets"]
    assert poster["name"] == "warrior.jpg" and record["poster"] == [poster["url"]]
    assert record["last_modified_timestamp"] == 1567680675  # seven fractional digits


def test_strict_fill_refuses_a_null_value_as_it_refuses_a_missing_name() -> None:
    namespace = {"id": "1", "codename": None, "language": "default"}
    for template in ("{codename}_{language}", "{codename}", "{absent}_{language}"):
        try:
            fill(template, namespace, strict=True)
        except KeyError:
            continue
        raise AssertionError(f"{template} filled")
    assert fill("{id}_{language}", namespace, strict=True) == "1_default"
    assert fill("{codename}_{language}", namespace) == "_default"  # lenient for record fields
    assert fill("{codename}", namespace) is None


# Any JSON in an element maps without raising: a value of another type than Kontent.ai's is
# empty. Before, a rich text value 1.0, a linked-items value true or a list as a codename raised
# TypeError out of the action (the job retried with it as the reason).
_KINDS = st.sampled_from(
    [
        "text",
        "rich_text",
        "number",
        "multiple_choice",
        "taxonomy",
        "asset",
        "modular_content",
        "subpages",
        "date_time",
        "url_slug",
        "custom",
        "unknown",
    ]
)
_ELEMENT = st.fixed_dictionaries(
    {"type": _KINDS, "value": json_values}, optional={"modular_content": json_values}
)
_SYSTEM = st.dictionaries(st.sampled_from(["codename", "id", "type", "language"]), json_values)
_ITEM = st.fixed_dictionaries(
    {"system": _SYSTEM | json_values, "elements": st.dictionaries(st.text(max_size=3), _ELEMENT)}
)


@settings(max_examples=200, deadline=None)
@given(item=_ITEM, linked=st.dictionaries(st.text(max_size=3), _ITEM, max_size=3))
@example(item={"system": {}, "elements": {"r": {"type": "rich_text", "value": 1.0}}}, linked={})
@example(item={"system": {}, "elements": {"m": {"type": "subpages", "value": True}}}, linked={})
@example(item={"system": {"codename": [None]}, "elements": {}}, linked={})
@example(
    item={"system": {}, "elements": {"l": {"type": "modular_content", "value": ["a"]}}},
    linked={"a": {"system": {"type": ["x"]}, "elements": {}}},
)
def test_any_json_in_elements_maps_without_raising(
    item: dict[str, Any], linked: dict[str, Any]
) -> None:
    record = build_record(item, linked)
    assert all(isinstance(block["parents"], list) for block in record.get("content", []))
    mapped_record(item, "k", {"a": "{title} {content.0.text}"}, linked)
