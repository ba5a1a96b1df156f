"""What a visitor sees on a page is in its record's text: the numbers, dates and custom text of
linked items and components, the alt text of rich-text images, and elements of a type the bridge
does not know, all on the shapes of Kontent.ai's own SDK fixtures (tests/payloads/official)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from bridge.actions.records import build_record, element_value, item_text, number_text
from tests.fakes.kontent import item_json

Load = Callable[[str], dict[str, Any]]


@pytest.fixture
def official(payload_bytes: Callable[[str], bytes]) -> Load:
    def load(name: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(payload_bytes(f"official/{name}"))
        return data

    return load


def page_linking(*linked: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """A page whose linked-items element links each item, and its `modular_content`."""
    codenames = [item["system"]["codename"] for item in linked]
    elements = {"related": {"type": "modular_content", "name": "Related", "value": codenames}}
    page = item_json("page", id="p", type="page", elements=elements)
    return page, {item["system"]["codename"]: item for item in linked}


def texts(record: dict[str, Any]) -> dict[str, str]:
    return {block["codename"]: block["text"] for block in record["content"]}


# --- 1. numbers, dates and custom text of linked items and components ------------------------


def test_a_linked_items_numbers_dates_and_custom_text_are_in_its_block(official: Load) -> None:
    """delivery-sdk-net's complete content item (every element type) and delivery-sdk-js's
    custom elements, linked from a page: its number (99) and date are on the page, so in the
    block's text; the URL slug is an address, not words; a custom element's text (markdown) is
    words, its JSON (a colour picker's `{"red": 167, ...}`) is data."""
    complete = official("delivery_complete_content_item.json")["item"]
    custom = official("delivery_custom_elements.json")["items"][0]
    page, linked = page_linking(complete, custom)
    record = build_record(page, linked)
    assert texts(record)["complete_content_item"] == (
        "Text field value Rich text field value 99 Radio button 1 Checkbox 1 Checkbox 2 "
        "2017-02-23 Fire.jpg Option 1 Option 2 #d7e119"
    )
    assert texts(record)["color_item"] == "**Super value** simple text"
    assert "complete-content-item-url-slug" not in json.dumps(record["content"])


def test_a_linked_articles_post_date_is_in_its_block_as_the_api_dates_it(official: Load) -> None:
    """delivery-sdk-net's home page: each linked article's `post_date` is in its block's text as
    the day of the API's (UTC) value, the one `post_date` and `post_date_timestamp` say in the
    article's own record; its `url_pattern` slug is not."""
    data = official("delivery_home_linked_items.json")
    record = build_record(data["item"], data["modular_content"])
    on_roasts = texts(record)["on_roasts"]
    assert "2014-11-07" in on_roasts.split()
    assert "on-roasts" not in on_roasts.split()  # the asset on-roasts-1080px.jpg is a word
    # Its display time zone (Europe/Prague) changes no day: the value is UTC, as in its fields.
    recursive = official("delivery_recursive_linked_items.json")
    prague = build_record(recursive["item"], recursive["modular_content"])
    assert "2014-11-11" in texts(prague)["origins_of_arabica_bourbon"].split()


@pytest.mark.parametrize(
    ("value", "text"),
    [(99, "99"), (4.5, "4.5"), (10.0, "10"), (-0.25, "-0.25"), (1e21, "1e+21"), (None, "")],
)
def test_a_number_in_a_block_reads_as_the_page_writes_it(value: Any, text: str) -> None:
    price = {"price": {"type": "number", "name": "Price", "value": value}}
    assert item_text(item_json("offer", id="o", elements=price)) == text


def test_a_number_too_long_for_python_to_write_adds_no_words() -> None:
    assert number_text(10**5000) == ""  # str() refuses over 4,300 digits: not a price


@pytest.mark.parametrize(
    "value",
    [
        "not a date", "", "7", None, [], True, {"a": 1}, float("nan"), float("inf"),
        "0001-01-01T00:00:00+01:00",
    ],
)  # fmt: skip
def test_what_is_no_number_or_date_adds_no_words(value: Any) -> None:
    elements = {
        "price": {"type": "number", "name": "Price", "value": value},
        "when": {"type": "date_time", "name": "When", "value": value},
        "widget": {"type": "custom", "name": "Widget", "value": value},
    }
    expected = value if isinstance(value, str) else ""  # the custom element's text is words
    assert item_text(item_json("offer", id="o", elements=elements)) == expected


def test_only_a_custom_or_unknown_elements_json_is_data_not_a_text_elements() -> None:
    elements = {
        "heading": {"type": "text", "name": "Heading", "value": "[1, 2]"},
        "picker": {"type": "custom", "name": "Picker", "value": "[1, 2]"},
        "future": {"type": "ufo", "name": "Future", "value": ' {"a": 1}'},
        "broken": {"type": "custom", "name": "Broken", "value": '{"not json'},
    }
    assert item_text(item_json("offer", id="o", elements=elements)) == '[1, 2] {"not json'


# --- 2. rich-text images: alt text and the API's description ------------------------------------


def described_tables(official: Load) -> dict[str, Any]:
    """delivery-sdk-net's complex tables, with descriptions on its two images as the Delivery
    API gives them for assets that have one: the first in the `images` map and the `alt` of its
    `<img>`, the second in the map only (its `alt` empty, as in the fixture)."""
    item: dict[str, Any] = copy.deepcopy(official("delivery_rich_text_tables.json")["item"])
    rich = item["elements"]["rich_text"]
    pikachu, boss = "bf509e0d-d9ed-4925-968e-29a1f6a561c4", "a0c1b647-e0b1-478a-b7bd-8df80b55e9f7"
    rich["images"][pikachu]["description"] = "Pikachu waving"
    rich["images"][boss]["description"] = "A boss, sunglasses on"
    tag = f'data-image-id="{pikachu}" alt=""'
    assert rich["value"].count(tag) == 1
    rich["value"] = rich["value"].replace(tag, f'data-image-id="{pikachu}" alt="Pikachu waving"')
    return item


def test_rich_text_images_give_their_alt_text_where_the_page_shows_them(official: Load) -> None:
    item = described_tables(official)
    words = build_record(item)["rich_text"]
    assert words.startswith("Hello world Pikachu waving Hello world Hello world")
    assert "Formatting Images Yes, totally Really Wanna see? A boss, sunglasses on Thanks" in words
    assert words.count("Pikachu waving") == 1  # alt and description say it once


def test_a_linked_items_images_give_their_alt_text_to_its_block(official: Load) -> None:
    page, linked = page_linking(described_tables(official))
    text = texts(build_record(page, linked))["rich_text_complex_tables"]
    assert "Pikachu waving" in text and "A boss, sunglasses on" in text


def test_the_alt_text_of_the_html_wins_and_entities_are_decoded() -> None:
    image = "22504ba8-2075-48fa-9d4f-8fce3de1754a"
    rich = {
        "type": "rich_text",
        "images": {image: {"image_id": image, "description": "The asset's description"}},
        "value": f'<p>Poster</p><figure data-asset-id="{image}" data-image-id="{image}">'
        f'<img src="u" data-asset-id="{image}" data-image-id="{image}" '
        'alt="Caf&eacute; &amp; ring"></figure><p>after</p>',
    }
    assert element_value(rich) == "Poster Café & ring after"


@pytest.mark.parametrize(
    "images",
    [None, [], "x", {"i": None}, {"i": {"description": 5}}, {"i": {"description": ["a"]}}],
)
def test_an_images_map_of_another_shape_adds_no_words(images: Any) -> None:
    rich = {
        "type": "rich_text",
        "images": images,
        "value": '<p>a</p><figure data-image-id="i"><img data-image-id="i" alt=""></figure>',
    }
    assert element_value(rich) == "a"


# --- 3. an element of a type the bridge does not know -------------------------------------------


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ("simple text", "simple text"),  # the SDK fixture's own value, as it is
        (None, None),
        (42, "42"),
        (2.5, "2.5"),
        (True, "true"),
        ({"lat": 50.08, "lng": 14.42}, '{"lat":50.08,"lng":14.42}'),
        (["a", "b"], '["a","b"]'),
        ("Žluťoučký kůň", "Žluťoučký kůň"),
        ({"label": "Kůň"}, '{"label":"Kůň"}'),
    ],
)
def test_an_unknown_elements_value_is_always_text(
    official: Load, value: Any, field: str | None
) -> None:
    """delivery-sdk-js's `ufo` element: a string stays, anything else becomes its JSON text, so
    the field has one type whatever the values (a typed index declares it `Edm.String`)."""
    item = copy.deepcopy(official("delivery_unknown_element.json")["items"][0])
    item["elements"]["ufo"]["value"] = value
    assert build_record(item)["ufo"] == field


def test_an_unknown_elements_text_is_in_its_block_and_its_json_is_not(official: Load) -> None:
    ufo = official("delivery_unknown_element.json")["items"][0]
    located = copy.deepcopy(ufo)
    located["system"]["codename"] = "located"
    located["elements"]["ufo"]["value"] = {"lat": 50.08, "lng": 14.42}
    record = build_record(*page_linking(ufo, located))
    assert texts(record) == {"color_item": "simple text", "located": ""}
