"""`translate` inside rich-text components and content type snippets.

The payloads are shaped like the Management API's, after the fake responses of Kontent.ai's
own SDKs (kontent-ai/management-sdk-js test/browser/fake-responses: language-variants/
fake-list-language-variants-of-content-type-with-components.json, content-types/
fake-list-content-types.json, content-type-snippets/fake-modify-content-type-snippet.json;
management-sdk-net Data/LanguageVariant/LanguageVariant.json): elements and components by id,
a component's type by id, a type's `snippet` element by the snippet's id, snippet elements
`<snippet>__<element>` listed in the variant with their own ids. Before, every text inside a
component went back in the source language, and snippet elements (an SEO title and
description) were not translated at all: their ids are not the type's.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest

from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.translate import TranslateAction
from bridge.kontent.variants import ManagementClient
from tests.actions.test_translate import ENV, ITEM, environment
from tests.fakes.deepl import FakeDeepL
from tests.fakes.events import MakeCall, make_event
from tests.fakes.management import FakeManagement

pytestmark = pytest.mark.timeout(30)

DEEPL_KEY = "deepl-key-0007:fx"
MAPI_KEY = "mapi-key-0008"
VERSION = "2019-11-11T12:56:15.5964Z"

# Element ids (from the SDK fixtures where they have one).
TITLE = "ba7c8840-bcbc-5e3b-b292-24d0a60f3977"
RATING = "773940f4-9e67-4a26-a93f-67e55fd7d837"
BODY = "49150275-064b-5314-be6e-b93e1d7661e1"
MARKER = "5a3e2b7c-7d0e-4c52-9a59-0b1f3c6a8e11"
META_TITLE = "09398b24-61ed-512e-5b5c-affd54a098e5"
META_DESCRIPTION = "2e555cc1-1eae-520c-189e-28548904f529"
META_ROBOTS = "6bfe5a60-5cc2-4303-8f72-9cc53431046b"
CALLOUT_HEADING = "2f5d8e7a-94b4-4cf8-8a1b-3c5e9f0d1a22"
CALLOUT_CONTENT = "0b9173d6-1c94-5fb0-a010-86eef9013fd4"
CALLOUT_RELATED = "edd22f22-ccd6-56e6-9fe2-676a7e250d8c"
QUOTE_PORTRAIT = "fbb2e76e-d1e7-57af-ab16-9d44d5f179ef"
QUOTE_TEXT = "ff50c0e0-226e-5474-b71b-2af194edd7c4"

METADATA: dict[str, Any] = {
    "id": "baf884be-531f-441f-ae88-64205efdd0f6",
    "codename": "metadata",
    "name": "Metadata",
    "elements": [
        {"id": META_TITLE, "codename": "metadata__meta_title", "type": "text"},
        {"id": META_DESCRIPTION, "codename": "metadata__meta_description", "type": "text"},
        {"id": META_ROBOTS, "codename": "metadata__robots", "type": "multiple_choice"},
    ],
}
ARTICLE: dict[str, Any] = {
    "id": "ba5cd79d-6d4b-5bed-a681-6aa3a366c8f7",
    "codename": "article",
    "elements": [
        {"id": TITLE, "codename": "title", "type": "text"},
        {"id": RATING, "codename": "rating", "type": "number"},
        {"id": BODY, "codename": "body", "type": "rich_text"},
        {
            "snippet": {"id": METADATA["id"]},
            "type": "snippet",
            "id": "255d6748-ba3a-1b59-af5c-afd4a7d6cb4f",
            "codename": "metadata",
        },
        {"id": MARKER, "codename": "translation_source", "type": "text"},
    ],
}
CALLOUT: dict[str, Any] = {
    "id": "f4cb13df-d61d-572e-8f3b-3afe7e3a7ea1",
    "codename": "callout",
    "elements": [
        {"id": CALLOUT_HEADING, "codename": "heading", "type": "text"},
        {"id": CALLOUT_CONTENT, "codename": "content", "type": "rich_text"},
        {"id": CALLOUT_RELATED, "codename": "related", "type": "modular_content"},
    ],
}
QUOTE: dict[str, Any] = {
    "id": "37684e4c-9303-589b-a937-c7c165171b38",
    "codename": "quote",
    "elements": [
        {"id": QUOTE_PORTRAIT, "codename": "portrait", "type": "asset"},
        {"id": QUOTE_TEXT, "codename": "quote", "type": "rich_text"},
    ],
}

LEVEL_1 = (
    "<p>Content in rich text on level 1</p>\n"
    '<object type="application/kenticocloud" data-type="component" '
    'data-id="382abced-bfb6-4ee9-a2d4-2c3b8cd8ba5d"></object>\n'
    '<object type="application/kenticocloud" data-type="component" '
    'data-id="9a1b1c1d-0000-4000-8000-00000000e0e0"></object>'
)
LEVEL_2 = (
    "<p>Component on level 2</p>\n"
    '<object type="application/kenticocloud" data-type="component" '
    'data-id="7c1ca8b2-2fa8-41d8-be02-bf157d3fa225"></object>'
)
LEVEL_3 = "<p>Nested component on level 3</p>"


def objects(components: list[Any]) -> str:
    """The `<object>` tags by which a rich text places its components."""
    return "".join(
        '<object type="application/kenticocloud" data-type="component" '
        f'data-id="{c["id"]}"></object>'
        for c in components
    )


def ref(element_id: str) -> dict[str, str]:
    return {"id": element_id}


def quote(component_id: str, html: str, components: list[Any] | None = None) -> dict[str, Any]:
    return {
        "id": component_id,
        "type": {"id": QUOTE["id"]},
        "elements": [
            {"element": ref(QUOTE_PORTRAIT), "value": []},
            {"element": ref(QUOTE_TEXT), "value": html, "components": components or []},
        ],
    }


def callout(component_id: str, heading: str, html: str, nested: list[Any]) -> dict[str, Any]:
    return {
        "id": component_id,
        "type": {"id": CALLOUT["id"]},
        "elements": [
            {"element": ref(CALLOUT_HEADING), "value": heading},
            {"element": ref(CALLOUT_CONTENT), "value": html, "components": nested},
            {
                "element": ref(CALLOUT_RELATED),
                "value": [{"id": "f206b928-7609-5192-bd31-6eb6aae48096"}],
            },
        ],
    }


def source_variant(body_components: list[Any], body: str = LEVEL_1) -> dict[str, Any]:
    """The source variant, as `GET .../variants/codename/en` answers it."""
    return {
        "item": {"id": ITEM},
        "language": {"id": "00000000-0000-0000-0000-000000000000"},
        "last_modified": VERSION,
        "workflow": {
            "workflow_identifier": {"id": "00000000-0000-0000-0000-000000000000"},
            "step_identifier": {"id": "step-translate"},
        },
        "elements": [
            {"element": ref(TITLE), "value": "On Roasts"},
            {"element": ref(RATING), "value": 3.14},
            {"element": ref(BODY), "value": body, "components": body_components},
            {"element": ref(META_TITLE), "value": "Roasting coffee"},
            {"element": ref(META_DESCRIPTION), "value": "How long to roast"},
            {
                "element": ref(META_ROBOTS),
                "value": [{"id": "6bfe5a60-0000-4303-8f72-000000000001"}],
            },
        ],
    }


COMPONENTS = [
    callout(
        "382abced-bfb6-4ee9-a2d4-2c3b8cd8ba5d",
        "Tip",
        LEVEL_2,
        [quote("7c1ca8b2-2fa8-41d8-be02-bf157d3fa225", LEVEL_3)],
    ),
    # Same type again (fetched once), its text empty: nothing of it goes to DeepL.
    callout("9a1b1c1d-0000-4000-8000-00000000e0e0", "", "<p><br></p>", []),
]


@dataclass
class World:
    deepl: FakeDeepL
    mapi: FakeManagement
    action: TranslateAction
    make_call: MakeCall

    async def run(self, **extra: Any) -> str:
        options = {
            "deepl_auth_key": DEEPL_KEY,
            "deepl_server_url": self.deepl.url,
            "management_api_key": MAPI_KEY,
            "management_url": self.mapi.url + "/v2",
            "languages": {"de-DE": "DE", "fr-FR": "FR"},
            "source_lang": "EN",
            "marker_element": "translation_source",
            **extra,
        }
        event = make_event(action="workflow_step_changed", workflow_step="translate")
        call = self.make_call(TranslateAction, options, [event])
        return (await self.action.send(call)).response

    def source(self, components: list[Any], body: str = LEVEL_1) -> None:
        self.mapi.item_types[(ENV, ITEM)] = "article"
        self.mapi.variants[(ENV, ITEM, "en")] = source_variant(components, body)

    def sent(self, target: str, *, html: bool) -> list[list[str]]:
        """The texts of each DeepL request for `target`, plain or HTML."""
        return [
            b["text"]
            for b in self.deepl.translations
            if b["target_lang"] == target and (b.get("tag_handling") == "html") is html
        ]

    def put(self, language: str) -> dict[str, Any]:
        """The elements of the PUT for `language`, by codename."""
        [body] = [b for _, lang, b in self.mapi.upserts if lang == language]
        return {e["element"]["codename"]: e for e in body["elements"]}

    def type_reads(self) -> list[str]:
        return [
            r.path.split("/v2/projects/env-1")[1]
            for r in self.mapi.requests
            if "/types" in r.path or "/snippets" in r.path
        ]


@pytest.fixture
async def world(http: aiohttp.ClientSession, make_call: MakeCall) -> AsyncIterator[World]:
    async with FakeDeepL(DEEPL_KEY) as deepl, FakeManagement(MAPI_KEY) as mapi:
        mapi.environments[ENV] = environment()
        for found in (ARTICLE, CALLOUT, QUOTE):
            mapi.put_type(ENV, copy.deepcopy(found))
        mapi.put_snippet(ENV, copy.deepcopy(METADATA))
        action = TranslateAction("translate", Resources(http=http))
        try:
            yield World(deepl, mapi, action, make_call)
        finally:
            await action.close()


def translated(components: list[Any], code: str) -> list[Any]:
    """`components` as the PUT should carry them: every text with DeepL's (fake) answer."""
    out = copy.deepcopy(components)
    mark = f"[{code}] "
    texts = {
        "Tip": mark + "Tip",
        LEVEL_2: LEVEL_2.replace("<p>", "<p>" + mark, 1),
        LEVEL_3: LEVEL_3.replace("<p>", "<p>" + mark, 1),
    }

    def walk(items: list[Any]) -> None:
        for component in items:
            for value in component["elements"]:
                if isinstance(value["value"], str) and value["value"] in texts:
                    value["value"] = texts[value["value"]]
                walk(value.get("components") or [])

    walk(out)
    return out


async def test_components_at_every_depth_and_snippet_elements_are_translated_in_place(
    world: World,
) -> None:
    world.source(copy.deepcopy(COMPONENTS))

    assert await world.run() == f"item {ITEM}; translated: de-DE, fr-FR"

    for code in ("DE", "FR"):
        # One plain and one HTML request per language, as before: the component's heading and
        # the snippet's texts with the title; each rich text (nested ones too) as HTML. The
        # empty heading and the `<p><br></p>` of the second callout are not sent.
        assert world.sent(code, html=False) == [
            ["On Roasts", "Tip", "Roasting coffee", "How long to roast"]
        ]
        assert world.sent(code, html=True) == [[LEVEL_1, LEVEL_2, LEVEL_3]]
    put = world.put("de-DE")
    assert list(put) == [
        "title",
        "body",
        "metadata__meta_title",
        "metadata__meta_description",
        "translation_source",
    ]  # no number, no multiple choice (not even the snippet's): the target keeps its own
    assert put["title"]["value"] == "[DE] On Roasts"
    assert put["metadata__meta_title"]["value"] == "[DE] Roasting coffee"
    assert put["metadata__meta_description"]["value"] == "[DE] How long to roast"
    assert put["body"]["value"] == LEVEL_1.replace("<p>", "<p>[DE] ", 1)
    # Ids, types, the linked item and the empty asset as the source has them; only texts changed.
    assert put["body"]["components"] == translated(COMPONENTS, "DE")
    assert world.put("fr-FR")["body"]["components"] == translated(COMPONENTS, "FR")
    stored = world.mapi.variants[(ENV, ITEM, "de-DE")]["elements"]
    assert {"element": ref(META_TITLE), "value": "[DE] Roasting coffee"} in stored
    # Each type and snippet read once for the attempt, whatever the languages and components.
    assert world.type_reads() == [
        "/types/codename/article",
        "/snippets/" + METADATA["id"],
        "/types/" + CALLOUT["id"],
        "/types/" + QUOTE["id"],
    ]

    # The marker keeps it idempotent: the same notification again sends nothing.
    calls = len(world.deepl.translations)
    assert await world.run() == f"item {ITEM}; already done: de-DE, fr-FR"
    assert len(world.deepl.translations) == calls


async def test_the_elements_option_chooses_top_level_elements_and_a_snippet_by_its_codename(
    world: World,
) -> None:
    """`elements` names the item's elements (as the type lists them); a chosen rich text takes
    its components along, whatever their elements are called; a snippet element's codename
    stands for every element of the snippet."""
    world.source(copy.deepcopy(COMPONENTS))
    await world.run(elements=["body"], languages={"de-DE": "DE"})
    assert world.sent("DE", html=False) == [["Tip"]]
    assert world.sent("DE", html=True) == [[LEVEL_1, LEVEL_2, LEVEL_3]]
    assert list(world.put("de-DE")) == ["body", "translation_source"]

    world.mapi.variants[(ENV, ITEM, "en")]["last_modified"] = "2019-11-12T08:00:00Z"
    await world.run(elements=["metadata"], languages={"fr-FR": "FR"})
    assert world.sent("FR", html=False) == [["Roasting coffee", "How long to roast"]]
    assert world.sent("FR", html=True) == []

    world.mapi.variants[(ENV, ITEM, "en")]["last_modified"] = "2019-11-13T08:00:00Z"
    world.deepl.translations.clear()
    await world.run(elements=["metadata__meta_description"], languages={"fr-FR": "FR"})
    assert world.sent("FR", html=False) == [["How long to roast"]]


async def test_component_texts_share_the_batches_of_fifty(world: World) -> None:
    headings = [f"Heading {n}" for n in range(60)]
    components = [
        callout(f"00000000-0000-4000-8000-{n:012d}", heading, "", [])
        for n, heading in enumerate(headings)
    ]
    world.source(components, body="<p>Intro</p>" + objects(components))

    await world.run(languages={"de-DE": "DE"})

    texts = ["On Roasts", *headings, "Roasting coffee", "How long to roast"]
    assert world.sent("DE", html=False) == [texts[:50], texts[50:]]
    written = world.put("de-DE")["body"]["components"]
    assert [c["elements"][0]["value"] for c in written] == [f"[DE] {h}" for h in headings]
    assert [c["id"] for c in written] == [c["id"] for c in components]


async def test_components_are_translated_six_levels_deep_and_a_deeper_one_is_kept(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Kontent.ai nests components at most six levels deep; past that bound (which the API does
    not produce) a component goes back as it came, and the log says so."""
    nested: list[Any] = []
    for level in range(7, 0, -1):
        component_id = f"00000000-0000-4000-8000-00000000000{level}"
        nested = [quote(component_id, f"<p>L{level}</p>" + objects(nested), nested)]
    world.source(nested, body="<p>Top</p>" + objects(nested))

    with caplog.at_level(logging.WARNING, logger="bridge.actions"):
        await world.run(languages={"de-DE": "DE"})

    [sent] = world.sent("DE", html=True)
    assert [html.split("<object")[0] for html in sent] == [
        "<p>Top</p>",
        *[f"<p>L{n}</p>" for n in range(1, 7)],
    ]
    values = []
    components = world.put("de-DE")["body"]["components"]
    while components:
        [component] = components
        text = component["elements"][1]
        values.append(text["value"].split("<object")[0])
        components = text["components"]
    assert values == [*[f"<p>[DE] L{n}</p>" for n in range(1, 7)], "<p>L7</p>"]
    assert "1 component(s) nested deeper than Kontent.ai allows" in caplog.text


async def test_the_fake_refuses_a_component_that_lost_its_type_or_names_a_foreign_element(
    world: World, http: aiohttp.ClientSession
) -> None:
    """The PUT checks above count because the fake, like the API, refuses a component whose
    type or element ids did not come back as they went."""
    world.source(copy.deepcopy(COMPONENTS))
    client = ManagementClient(http, world.mapi.url + "/v2", ENV, MAPI_KEY)
    no_type = {**COMPONENTS[1], "type": {}}
    foreign = callout(str(COMPONENTS[1]["id"]), "Tip", "", [])
    foreign["elements"][0]["element"] = ref(TITLE)  # an element of the item's type, not callout's
    for component in (no_type, foreign):
        entry = {"element": {"codename": "body"}, "value": LEVEL_1, "components": [component]}
        with pytest.raises(PermanentFailure, match="answered 400"):
            await client.upsert_variant(ITEM, "de-DE", [entry])
    assert world.mapi.upserts == []


async def test_non_localizable_elements_are_left_to_the_default_language(world: World) -> None:
    """A non-localizable element holds one value for every language, edited in the default
    language only: the API refuses it in another variant's upsert, so the whole language
    failed (permanently) although its other elements could be translated."""
    for found in world.mapi.types.values():
        if found["codename"] == "article":
            found["elements"][0]["is_non_localizable"] = True  # title
    world.mapi.snippets[(ENV, METADATA["id"])]["elements"][0]["is_non_localizable"] = True
    world.source(copy.deepcopy(COMPONENTS))

    assert await world.run(languages={"de-DE": "DE"}) == f"item {ITEM}; translated: de-DE"

    assert world.sent("DE", html=False) == [["Tip", "How long to roast"]]
    put = world.put("de-DE")
    assert "title" not in put and "metadata__meta_title" not in put
    assert put["metadata__meta_description"]["value"] == "[DE] How long to roast"
