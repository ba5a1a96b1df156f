from __future__ import annotations

import json
from typing import Any

from bridge.actions.record_size import ELLIPSIS, fit_record, json_size


def test_a_record_that_fits_is_unchanged() -> None:
    record = {"objectID": "a", "title": "short"}
    fitted = fit_record(record, 1_000)
    assert fitted.record == record
    assert fitted.changes == ()


def test_the_largest_text_is_cut_just_enough_and_the_record_lands_on_the_limit() -> None:
    record = {"objectID": "a", "title": "kept whole", "body": "word " * 1_000}
    fitted = fit_record(record, 1_000)
    assert fitted.record is not None
    assert fitted.record["title"] == "kept whole"
    assert fitted.record["body"].endswith(ELLIPSIS)
    assert record["body"].startswith(fitted.record["body"][:-1])
    assert 990 <= json_size(fitted.record) <= 1_000
    assert fitted.changes == ("body truncated",)


def test_non_ascii_text_counts_as_the_sdk_sends_it() -> None:
    record = {"objectID": "a", "body": "ž" * 1_000}  # 6 bytes each as \\u017e
    fitted = fit_record(record, 600)
    assert fitted.record is not None
    assert len(json.dumps(fitted.record)) <= 600
    assert 80 < len(fitted.record["body"]) < 100


def test_a_list_keeps_its_first_elements_and_other_values_are_dropped() -> None:
    blocks = [{"text": f"block {n} " + "x" * 90} for n in range(10)]
    record: dict[str, Any] = {
        "objectID": "a",
        "blocks": blocks,
        "meta": {"nested": "y" * 300},
    }
    roomy = fit_record(record, 500)
    assert roomy.record is not None
    assert roomy.record["meta"] == record["meta"]  # the largest field gave way, alone
    assert roomy.record["blocks"] == blocks[:1]
    assert roomy.changes == ("blocks kept 1 of 10",)
    tight = fit_record(record, 300)
    assert tight.record == {"objectID": "a"}
    assert tight.changes == ("blocks dropped", "meta dropped")


def test_identity_fields_are_never_cut_so_an_oversized_identity_cannot_fit() -> None:
    record = {"objectID": "o" * 300, "codename": "c" * 300, "title": "t" * 50}
    fitted = fit_record(record, 400)
    assert fitted.record is None
    assert fitted.changes == ("title dropped",)
    assert fitted.final_bytes > 400
