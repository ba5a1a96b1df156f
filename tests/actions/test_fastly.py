from __future__ import annotations

import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.fastly import NOTHING_TO_PURGE, FastlyAction
from tests.fakes.events import MakeCall, make_event, rendered_call
from tests.fakes.server import Recorder


def fastly_options(url: str, **extra: object) -> dict[str, object]:
    return {"service_id": "SVC123", "token": "fk", "keys": "all", "api_url": url, **extra}


async def test_batch_keys_are_merged_and_sent_256_per_request(
    resources: Resources, make_call: MakeCall
) -> None:
    events = [make_event(codename=f"item_{n}") for n in range(300)]
    async with Recorder(body='{"status": "ok"}') as fastly:
        call = make_call(
            FastlyAction,
            fastly_options(fastly.url),
            events,
            per_event=lambda e: {"keys": [f"article-{e.codename}", "listing"]},
        )
        result = await FastlyAction("cdn", resources).send(call)
    assert [r.path for r in fastly.requests] == ["/service/SVC123/purge"] * 2
    first, second = (r.json()["surrogate_keys"] for r in fastly.requests)
    assert len(first) == 256 and first[:2] == ["article-item_0", "listing"]
    assert len(first) + len(second) == 301  # 300 articles + one shared key, no duplicates
    assert fastly.requests[0].headers["Fastly-Key"] == "fk"
    assert "Fastly-Soft-Purge" not in fastly.requests[0].headers
    assert "purged 301 key(s)" in result.response


async def test_soft_purge_and_space_separated_keys(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder() as fastly:
        call = make_call(FastlyAction, fastly_options(fastly.url, keys="a b  a", soft=True))
        await FastlyAction("cdn", resources).send(call)
    assert fastly.requests[0].headers["Fastly-Soft-Purge"] == "1"
    assert fastly.requests[0].json() == {"surrogate_keys": ["a", "b"]}


async def test_bad_token_is_permanent_and_server_errors_retry(
    resources: Resources, make_call: MakeCall
) -> None:
    async with Recorder() as fastly:
        fastly.fail_next(401, {"msg": "Provided credentials are missing or invalid"})
        with pytest.raises(PermanentFailure, match="401"):
            await FastlyAction("cdn", resources).send(
                make_call(FastlyAction, fastly_options(fastly.url))
            )
        fastly.fail_next(503, "busy", {"Retry-After": "4"})
        with pytest.raises(Retry) as caught:
            await FastlyAction("cdn", resources).send(
                make_call(FastlyAction, fastly_options(fastly.url))
            )
    assert caught.value.delay_s == 4


# A legacy workflow event has no codename: its keys render None (one expression) or empty text.
EMPTY_KEYS = ["{{ event.codename }}", "{% if event.codename %}item-{{ event.codename }}{% endif %}"]


async def test_keys_that_render_empty_are_not_sent(resources: Resources) -> None:
    """Before: a None key failed validation (the job died) and text keys rendered `None`."""
    async with Recorder() as fastly:
        options = fastly_options(fastly.url, keys=EMPTY_KEYS)
        events = [make_event(codename=None), make_event(codename="hello")]
        result = await FastlyAction("cdn", resources).send(
            rendered_call(FastlyAction, options, events)
        )
        assert [r.json() for r in fastly.requests] == [{"surrogate_keys": ["hello", "item-hello"]}]

        alone = rendered_call(FastlyAction, options, [make_event(codename=None)])
        nothing = await FastlyAction("cdn", resources).send(alone)
    assert len(fastly.requests) == 1  # nothing sent for the event without a codename
    assert "purged 2 key(s)" in result.response
    assert nothing.status is None and nothing.response == NOTHING_TO_PURGE


# Rendered over the whole batch (`events`) this names a key; rendered for one event it is empty.
BATCH_ONLY = "{% if events | length > 1 %}listing-{{ events | length }}{% endif %}"


async def test_keys_are_the_events_own_never_the_batch_rendering(resources: Resources) -> None:
    """Before: when every event's keys rendered empty, the keys rendered over the batch were
    purged instead (`listing-2` here), but never when one event had a key of its own: whether a
    key was purged depended on the other events. Now keys are always the events' own, as the
    cloudflare and varnish purges take theirs."""
    options = fastly_options("", keys=["{{ event.codename }}", BATCH_ONLY])
    async with Recorder() as fastly:
        options["api_url"] = fastly.url
        empty = [make_event(codename=None), make_event(codename=None)]
        nothing = await FastlyAction("cdn", resources).send(
            rendered_call(FastlyAction, options, empty)
        )
        mixed = [make_event(codename=None), make_event(codename="hello")]
        purged = await FastlyAction("cdn", resources).send(
            rendered_call(FastlyAction, options, mixed)
        )
    assert [r.json() for r in fastly.requests] == [{"surrogate_keys": ["hello"]}]
    assert nothing.status is None and nothing.response == NOTHING_TO_PURGE
    assert "purged 1 key(s)" in purged.response
