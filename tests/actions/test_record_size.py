from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bridge.actions.record_size import (
    ELLIPSIS,
    MIN_TEXT_CHARS,
    PROTECTED_FIELDS,
    fit_record,
    json_size,
)


def test_a_record_that_fits_is_unchanged() -> None:
    record = {"objectID": "a", "title": "short"}
    fitted = fit_record(record, 1_000)
    assert fitted.record == record
    assert fitted.changes == ()


def test_the_largest_text_is_cut_just_enough_after_a_whole_word() -> None:
    record = {"objectID": "a", "title": "kept whole", "body": "word " * 1_000}
    fitted = fit_record(record, 1_000)
    assert fitted.record is not None
    assert fitted.record["title"] == "kept whole"
    body = fitted.record["body"]
    assert body.endswith("word" + ELLIPSIS)  # never "wo…"
    assert record["body"].startswith(body[:-1])
    assert 990 - len("word ") <= json_size(fitted.record) <= 1_000
    assert fitted.changes == (f"body cut to {len(body) - 1} of 5000 characters",)


def test_non_ascii_text_counts_as_the_sdk_sends_it_and_is_cut_between_characters() -> None:
    record = {"objectID": "a", "body": "ž" * 1_000}  # 6 bytes each as \\u017e; no spaces
    fitted = fit_record(record, 600)
    assert fitted.record is not None
    assert len(json.dumps(fitted.record)) <= 600
    assert 80 < len(fitted.record["body"]) < 100


def test_long_texts_are_cut_fairly_and_short_fields_stay_whole() -> None:
    """Before: the largest field gave way first, alone, so a body longer than the excess was
    dropped whole (`body dropped`) while every block kept all its words; and a list of blocks
    lost its last blocks before any block text was cut."""
    blocks = [
        {"codename": f"block_{n}", "kind": "component", "text": f"block {n} says " * 150}
        for n in range(6)
    ]
    record: dict[str, Any] = {
        "objectID": "page_en",
        "title": "Coffee page",
        "summary": "A short summary people search for.",
        "body": "Roasted beans every day. " * 800,
        "url": "https://example.com/articles/coffee-page?utm_source=search",
        "content": blocks,
        "content_codenames": [b["codename"] for b in blocks],
    }
    fitted = fit_record(record, 5_000)
    assert fitted.record is not None
    kept = fitted.record
    for name in ("objectID", "title", "summary", "url", "content_codenames"):
        assert kept[name] == record[name]
    texts = [kept["body"], *(b["text"] for b in kept["content"])]
    assert all(text.endswith(ELLIPSIS) for text in texts)
    assert max(map(len, texts)) - min(map(len, texts)) < 20  # one cap, each cut after a word
    assert min(map(len, texts)) > 200  # the room was shared, nothing emptied
    assert [b["codename"] for b in kept["content"]] == record["content_codenames"]
    assert 4_700 < json_size(kept) <= 5_000
    body, content = fitted.changes
    assert body.startswith("body cut to ") and body.endswith(" of 20000 characters")
    assert content.startswith("content: 6 text(s) cut to at most ")


def test_tokens_are_never_cut_and_give_way_whole() -> None:
    url = "https://assets-us-01.kc-usercontent.com/" + "a" * 900 + "/beans.jpg"
    record = {
        "objectID": "a",
        "hero": [url],
        "slug": "x" * 600,
        "tags": ["coffee_beans", "brewing"],
        "body": "Long words here. " * 40,
    }
    fitted = fit_record(record, 900)
    assert fitted.record is not None
    assert "hero" not in fitted.record  # dropped, never a URL cut into something else
    assert fitted.record["slug"] == record["slug"]
    assert fitted.record["tags"] == record["tags"]
    assert fitted.record["body"].endswith(ELLIPSIS)
    assert fitted.changes[-1] == "hero dropped"


def test_when_cut_texts_still_do_not_fit_lists_keep_their_first_elements() -> None:
    blocks = [{"codename": f"b{n}", "text": f"block {n} " + "words " * 30} for n in range(10)]
    record: dict[str, Any] = {"objectID": "a", "blocks": blocks, "meta": {"nested": "y" * 300}}
    roomy = fit_record(record, 700)
    assert roomy.record is not None
    assert roomy.record["meta"] == record["meta"]  # a token: whole while the blocks give way
    kept = roomy.record["blocks"]
    assert 0 < len(kept) < 10 and [b["codename"] for b in kept] == [
        f"b{n}" for n in range(len(kept))
    ]
    # The blocks kept then share the room the others left: cut less than the shortest cut.
    texts, given_way = roomy.changes
    assert texts.startswith(f"blocks: {len(kept)} text(s) cut to at most ")
    cap = int(texts.split()[-2])
    assert cap > MIN_TEXT_CHARS and all(len(b["text"]) <= cap + 1 for b in kept)
    assert given_way == f"blocks kept {len(kept)} of 10"
    assert json_size(roomy.record) <= 700
    tight = fit_record(record, 300)
    assert tight.record == {"objectID": "a"}
    assert tight.changes == ("blocks dropped", "meta dropped")


def test_identity_fields_are_never_cut_so_an_oversized_identity_cannot_fit() -> None:
    record = {"objectID": "o" * 300, "codename": "c" * 300, "title": "t" * 50}
    fitted = fit_record(record, 400)
    assert fitted.record is None
    assert fitted.changes == ("title dropped",)
    assert fitted.final_bytes > 400


_TEXT = st.text(st.sampled_from("ab ž…\n"), max_size=400)
_VALUE = st.recursive(
    _TEXT | st.integers() | st.none(),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.sampled_from("xyz"), inner),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(
    fields=st.dictionaries(st.sampled_from(["body", "content", "tags", "url", "n"]), _VALUE),
    limit=st.integers(min_value=1, max_value=3_000),
)
def test_a_fitted_record_is_within_the_limit_and_keeps_its_identity(
    fields: dict[str, Any], limit: int
) -> None:
    record = {"objectID": "id-1", "codename": "page", **fields}
    fitted = fit_record(record, limit)
    if fitted.record is None:
        assert json_size({k: record[k] for k in PROTECTED_FIELDS & record.keys()}) > limit
        return
    assert json_size(fitted.record) <= limit
    assert fitted.record["objectID"] == "id-1" and fitted.record["codename"] == "page"
