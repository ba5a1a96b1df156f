"""Slack `blocks` templates meet event data: what an item's name holds stays the text of a string,
never YAML (rendered by the worker's own bridge.delivery.render, posted to a fake Slack)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from bridge.actions.base import PermanentFailure, Resources
from bridge.actions.slack import SlackAction
from tests.fakes.events import make_event, rendered_call
from tests.fakes.slack import FakeSlack

# The blocks of docs/actions.md's Slack example.
DOCUMENTED = """\
- type: section
  text: {type: mrkdwn, text: "*{{ event.name }}* is live in {{ event.language }}"}
"""
INJECTED = 'x"}\n- {type: image, image_url: "https://tracker.example/p.png", alt_text: "x'


def bot(fake: FakeSlack, **extra: Any) -> dict[str, Any]:
    return {"token": fake.token, "channel": "#content", "base_url": fake.api_url, **extra}


@pytest.mark.parametrize(
    "name",
    [
        'The "best" coffee',  # an ordinary name: the rendered YAML did not parse, the job died
        INJECTED,  # a name that wrote a block of its own (a tracking image)
        "*a &x [*x]",
        "{{ 7*7 }}",
        "a\n- type: divider",
    ],
)
async def test_an_item_name_is_only_text_inside_yaml_blocks(
    resources: Resources, name: str
) -> None:
    async with FakeSlack() as slack:
        events = [make_event(name=name)]
        call = rendered_call(SlackAction, bot(slack, blocks=DOCUMENTED), events)
        await SlackAction("team", resources).send(call)
    [message] = slack.messages
    assert message["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{name}* is live in en"}}
    ]


async def test_blocks_whose_yaml_a_loop_writes_still_render_as_text_then_parse(
    resources: Resources,
) -> None:
    looped = (
        "{% for e in events %}\n- type: section\n"
        "  text: {type: mrkdwn, text: {{ e.name | tojson }}}\n{% endfor %}"
    )
    async with FakeSlack() as slack:
        events = [make_event(name='A "one"'), make_event(name="B", codename="b")]
        call = rendered_call(SlackAction, bot(slack, blocks=looped), events)
        await SlackAction("team", resources).send(call)
    [message] = slack.messages
    assert [block["text"]["text"] for block in message["blocks"]] == ['A "one"', "B"]


async def test_a_leaf_that_does_not_render_is_permanent(resources: Resources) -> None:
    """The templates as the worker passes them, the leaf failing only when rendered alone."""
    blocks = '- type: section\n  text: {type: mrkdwn, text: "{{ event.raw.missing }}"}\n'
    async with FakeSlack() as slack:
        call = rendered_call(SlackAction, bot(slack), [make_event()])
        call = replace(call, templates={**call.templates, "blocks": blocks})
        with pytest.raises(PermanentFailure, match="has no attribute 'missing'"):
            await SlackAction("team", resources).send(call)
    assert slack.messages == []
