"""Follow-up jobs (bridge.delivery.followups): real jobs in a real store, their text literal."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bridge.actions.email import EmailAction
from bridge.actions.log import LogAction
from bridge.actions.slack import SlackAction
from bridge.delivery.followups import FollowUpQueue, literal
from bridge.delivery.model import ClaimPolicy
from bridge.delivery.render import build_call
from bridge.delivery.store import Store
from bridge.rules.templates import batch_context, render_options
from tests.fakes.events import make_event

pytestmark = pytest.mark.timeout(30)

NASTY = [
    "Translated '{{ 7 * 7 }}' to de",
    "{% raw %}x{% endraw %}",
    "{# not a comment #}",
    "{",
    "}}",
    "{{",
    "a{b}c",
    "plain",
]


@pytest.mark.parametrize("text", NASTY)
def test_literal_renders_to_exactly_the_text(text: str) -> None:
    context = batch_context([make_event()])
    assert render_options({"text": literal(text)}, context) == {"text": text}


def config(**actions: Any) -> SimpleNamespace:
    return SimpleNamespace(
        actions={
            name: SimpleNamespace(action_class=cls, options={}) for name, cls in actions.items()
        }
    )


async def test_each_target_gets_a_job_with_the_inputs_its_options_accept(
    sqlite_store: Store,
) -> None:
    cfg = config(team=SlackAction, mail=EmailAction, audit=LogAction)
    queue = FollowUpQueue(lambda: sqlite_store, lambda: cfg)
    event = make_event(name="Hello {{ world }}")
    text = "Translated 'Hello {{ world }}' to de-DE"

    created = await queue.enqueue(
        ["team", "mail", "audit", "gone"], text=text, event=event, rule="t.report_to", key="k1"
    )

    assert created == 3  # "gone" is not in the current config: no job
    assert queue.known("team") and not queue.known("gone")
    inputs: dict[str, set[str]] = {}
    for name, cls in (("team", SlackAction), ("mail", EmailAction), ("audit", LogAction)):
        claim = await sqlite_store.claim(name, ClaimPolicy(), worker_id="w")
        [batch] = claim.batches
        assert batch.jobs[0].event.name == "Hello {{ world }}"
        inputs[name] = set(batch.jobs[0].inputs)
        options: dict[str, Any] = {"token": "xoxb-1", "channel": "#c"} if name == "team" else {}
        if name == "mail":
            options = {"host": "smtp.example.com", "from": "a@b.example", "to": ["c@d.example"]}
        call = build_call(batch, options, cls.Options)
        for field in inputs[name]:
            assert getattr(call.options, field) == text
    assert inputs == {"team": {"text"}, "mail": {"text", "subject"}, "audit": {"message"}}
