"""`trello` through Trello's REST API v1 against a local server speaking it (tests/fakes/trello.py):
create, move and comment on the card an item's marker identifies; a rate-limit and an error
answer; key and token (query parameters) hidden everywhere the bridge shows something."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.trello import TrelloAction, TrelloOptions, marker
from bridge.config import load_config
from tests.actions.secret_harness import ITEM, shown_after
from tests.fakes.events import MakeCall, make_event
from tests.fakes.huge import HugeAnswer
from tests.fakes.trello import FakeTrello

pytestmark = pytest.mark.timeout(30)

KEY = "trello-key-0001abcdef"
TOKEN = "trello-token-0002abcdef"
MARK = f"[kontent:{ITEM}:en]"


@pytest.fixture
async def trello() -> AsyncIterator[FakeTrello]:
    async with FakeTrello(KEY, TOKEN) as fake:
        yield fake


def options(fake: FakeTrello, **extra: Any) -> dict[str, Any]:
    return {"key": KEY, "token": TOKEN, "api_url": fake.url, "list_id": "list-todo", **extra}


async def run(action: TrelloAction, make_call: MakeCall, fake: FakeTrello, **extra: Any) -> str:
    call = make_call(TrelloAction, options(fake, **extra), [make_event()])
    return (await action.send(call)).response


async def test_create_makes_a_card_with_templated_fields_and_the_items_marker(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    action = TrelloAction("t", resources)
    answer = await run(
        action,
        make_call,
        trello,
        name="Review: Hello world",
        description="Published in en",
        labels="label-a label-b",
        due="2026-12-24T12:00:00Z",
    )
    assert answer == "created card card0001"
    [card] = trello.cards.values()
    assert card["idList"] == "list-todo"
    assert card["name"] == "Review: Hello world"
    assert card["desc"] == f"Published in en\n\n{MARK}"
    assert card["idLabels"] == ["label-a", "label-b"]
    assert card["due"] == "2026-12-24T12:00:00Z"
    assert marker(make_event()) == MARK
    create = next(r for r in trello.requests if r.method == "POST")
    assert (create.query["key"], create.query["token"]) == (KEY, TOKEN)


async def test_a_second_create_updates_the_same_card_found_by_its_marker(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    await run(TrelloAction("t", resources), make_call, trello, description="v1")
    # A new action (a restarted bridge: no cache) finds the card by searching its marker.
    answer = await run(TrelloAction("t", resources), make_call, trello, description="v2")
    assert answer == "updated card card0001"
    assert len(trello.cards) == 1
    assert trello.cards["card0001"]["desc"] == f"v2\n\n{MARK}"
    search = next(r for r in trello.requests if r.path == "/1/search")
    assert search.query["query"] == f'"{MARK}"' and search.query["modelTypes"] == "cards"


async def test_move_moves_the_card_the_item_created_and_then_uses_the_cache(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    await run(TrelloAction("t", resources), make_call, trello)
    action = TrelloAction("t", resources)  # after a restart
    answer = await run(action, make_call, trello, operation="move", list_id="list-review")
    assert answer == "moved card card0001 to list list-review"
    assert trello.cards["card0001"]["idList"] == "list-review"
    searches = sum(r.path == "/1/search" for r in trello.requests)
    await run(action, make_call, trello, operation="move", list_id="list-done")
    assert trello.cards["card0001"]["idList"] == "list-done"
    assert sum(r.path == "/1/search" for r in trello.requests) == searches  # cached id, checked
    assert trello.requests[-2].method == "GET" and trello.requests[-2].path == "/1/cards/card0001"


async def test_a_cached_card_that_was_deleted_is_searched_again(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    action = TrelloAction("t", resources)
    await run(action, make_call, trello)
    trello.cards.clear()
    with pytest.raises(Retry, match="no card carries"):
        await run(action, make_call, trello, operation="move", list_id="list-review")
    assert trello.requests[-1].path == "/1/search"


async def test_comment_posts_on_the_items_card(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    action = TrelloAction("t", resources)
    await run(action, make_call, trello)
    answer = await run(action, make_call, trello, operation="comment", text="Now live")
    assert answer == "commented on card card0001"
    assert trello.comments == [("card0001", "Now live")]


async def test_a_missing_card_retries_skips_or_is_created_as_the_rule_says(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    action = TrelloAction("t", resources)
    with pytest.raises(Retry, match="no card carries"):
        await run(action, make_call, trello, operation="comment", text="x")
    skipped = await run(action, make_call, trello, operation="comment", text="x", if_missing="skip")
    assert skipped.endswith("skipped") and not trello.cards
    created = await run(
        action, make_call, trello, operation="move", list_id="list-review", if_missing="create"
    )
    assert created == "created card card0001 in list list-review"
    assert trello.cards["card0001"]["idList"] == "list-review"


async def test_rate_limit_retries_after_its_delay_and_a_bad_key_is_permanent(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    action = TrelloAction("t", resources)
    trello.rate_limit_next(retry_after_s=7)
    with pytest.raises(Retry) as retry:
        await run(action, make_call, trello)
    assert retry.value.status == 429 and retry.value.delay_s == 7
    assert not trello.cards
    trello.key = "another-key"
    with pytest.raises(PermanentFailure) as failure:
        await run(action, make_call, trello)
    assert failure.value.status == 401 and "invalid key" in failure.value.response
    assert KEY not in failure.value.reason and TOKEN not in failure.value.reason


async def test_an_unreachable_trello_is_a_retry_without_the_url_and_its_query(
    resources: Resources, make_call: MakeCall
) -> None:
    async with FakeTrello(KEY, TOKEN) as gone:
        url = gone.url
    action = TrelloAction("t", resources)
    opts = {"key": KEY, "token": TOKEN, "api_url": url, "list_id": "l"}
    with pytest.raises(Retry) as retry:
        await action.send(make_call(TrelloAction, opts, [make_event()]))
    assert "unreachable" in retry.value.reason
    assert KEY not in retry.value.reason and TOKEN not in retry.value.reason


def test_options_each_operation_needs() -> None:
    base = {"key": KEY, "token": TOKEN}
    with pytest.raises(ValueError, match="needs list_id"):
        TrelloOptions.model_validate({**base, "operation": "move"})
    with pytest.raises(ValueError, match="needs text"):
        TrelloOptions.model_validate({**base, "operation": "comment"})
    assert TrelloOptions.model_validate({**base, "operation": "comment", "text": "t"})


RULES = """\
version: 1
webhooks:
  - {{name: production, path: /webhooks/kontent, secrets: ["${{WEBHOOK_SECRET}}"]}}
actions:
  board:
    type: trello
    key: "${{TRELLO_KEY}}"
    token: "${{TRELLO_TOKEN}}"
    api_url: "{url}"
    list_id: list-todo
    description: "{{{{ event.name }}}} was published"
    retry: {{schedule: [100ms]}}
rules:
  - name: card-per-article
    when: {{object_type: content_item, action: published}}
    do: [board]
"""


async def test_key_and_token_are_hidden_in_logs_explain_and_the_admin_api(
    trello: FakeTrello, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first attempt fails with an answer echoing the query string (key and token): the
    # failed attempt's reason, its stored request URL and the answer are all shown later.
    trello.fail_next(500, f"upstream failed for /1/cards?key={KEY}&token={TOKEN}")
    rules = RULES.format(url=trello.url)
    env = {"TRELLO_KEY": KEY, "TRELLO_TOKEN": TOKEN}
    shown = await shown_after(
        tmp_path,
        monkeypatch,
        rules,
        env,
        lambda rows: len(rows) == 1 and rows[0]["state"] == "succeeded",
    )
    assert len(trello.cards) == 1
    assert any(r.query.get("token") == TOKEN for r in trello.requests)  # it did go out
    assert '"key": "***"' in shown.texts["explain"] and '"token": "***"' in shown.texts["explain"]
    assert any("upstream failed" in text for text in shown.texts.values())  # the echo is shown
    # The job page shows the request each attempt sent: its URL with the query, secrets hidden.
    job = next(text for where, text in shown.texts.items() if where.startswith("job"))
    assert "/1/cards?" in job and "key=***" in job and "token=***" in job
    # each request counted once: noted by the action, not again by the session's trace
    counted = [a["request"]["requests_sent"] for a in json.loads(job)["requests"]]
    assert sum(counted) == len(trello.requests)
    shown.assert_hidden(KEY, TOKEN)
    config = load_config(tmp_path / "rules.yaml")
    assert config.actions["board"].action_class.secret_options == {"key", "token"}


async def test_an_error_answer_is_judged_by_its_status_whatever_its_body(
    resources: Resources, make_call: MakeCall
) -> None:
    """Before: a 401 whose body passed the 1 MiB read limit (or broke off) failed reading it,
    'unreachable: BodyTooLarge', and was retried for days instead of dead at once."""
    async with HugeAnswer(2 << 20, status=401, fill=b"invalid token ") as api:
        options = {"key": KEY, "token": TOKEN, "api_url": api.url, "list_id": "list-todo"}
        call = make_call(TrelloAction, options, [make_event()])
        with pytest.raises(PermanentFailure) as caught:
            await TrelloAction("cards", resources).send(call)
    assert caught.value.status == 401
    assert caught.value.response.startswith("invalid token")


async def test_labels_that_render_empty_are_dropped_and_none_left_sends_no_labels(
    trello: FakeTrello, resources: Resources, make_call: MakeCall
) -> None:
    """A label template rendering None failed validation (the job died); one rendering blank
    sent `idLabels=` and cleared the card's labels. Empty ones are dropped now."""
    action = TrelloAction("t", resources)
    await run(action, make_call, trello, labels=[None, "", "label-a"])
    assert trello.cards["card0001"]["idLabels"] == ["label-a"]
    trello.requests.clear()
    await run(action, make_call, trello, labels=[None, " "])
    update = next(r for r in trello.requests if r.method == "PUT")
    assert "idLabels" not in update.query
    assert trello.cards["card0001"]["idLabels"] == ["label-a"]  # left as they were
