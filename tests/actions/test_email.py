from __future__ import annotations

from email.message import Message
from typing import Any

import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.email import EmailAction
from tests.fakes.events import MakeCall, make_event
from tests.fakes.smtp import FakeSMTP


def body_of(message: Message) -> str:
    payload = message.get_payload(decode=True)
    assert isinstance(payload, bytes)
    return payload.decode()


def mail(port: int, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "from": "bridge@example.test",
            "to": ["ops@example.test"], **extra}  # fmt: skip


async def test_sends_a_summary_of_the_batch(resources: Resources, make_call: MakeCall) -> None:
    events = [make_event(name="One"), make_event(name="Two", action="deleted")]
    async with FakeSMTP() as smtp:
        result = await EmailAction("alerts", resources).send(
            make_call(EmailAction, mail(smtp.port, to="a@example.test, b@example.test"), events)
        )
    [(recipients, message)] = smtp.mailbox.messages
    assert recipients == ["a@example.test", "b@example.test"]
    assert message["Subject"] == "[kontent-bridge] 2 event(s)"
    assert message["From"] == "bridge@example.test"
    assert body_of(message).splitlines() == [
        "content_item published article 'One' (en) [published]",
        "content_item deleted article 'Two' (en) [published]",
    ]
    assert "sent to 2 recipient(s)" in result.response


async def test_login_subject_and_text(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSMTP(login=("bridge", "pw")) as smtp:
        options = mail(
            smtp.port,
            username="bridge",
            password="pw",
            subject="Alert",
            text="Body",
            ca_file=smtp.ca_file,
        )
        await EmailAction("alerts", resources).send(make_call(EmailAction, options))
    [(_, message)] = smtp.mailbox.messages
    assert message["Subject"] == "Alert"
    assert body_of(message).strip() == "Body"


async def test_refused_login_is_permanent(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSMTP(login=("bridge", "pw")) as smtp:
        options = mail(smtp.port, username="bridge", password="wrong", ca_file=smtp.ca_file)
        with pytest.raises(PermanentFailure, match="login refused"):
            await EmailAction("alerts", resources).send(make_call(EmailAction, options))
    assert smtp.mailbox.messages == []


async def test_refused_recipient_is_permanent(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSMTP() as smtp:
        smtp.mailbox.refuse.add("ops@example.test")
        with pytest.raises(PermanentFailure, match="refused every recipient"):
            await EmailAction("alerts", resources).send(make_call(EmailAction, mail(smtp.port)))


async def test_required_starttls_missing_is_permanent(
    resources: Resources, make_call: MakeCall
) -> None:
    async with FakeSMTP() as smtp:
        with pytest.raises(PermanentFailure, match="not supported"):
            await EmailAction("alerts", resources).send(
                make_call(EmailAction, mail(smtp.port, starttls=True))
            )


async def test_unreachable_server_retries(resources: Resources, make_call: MakeCall) -> None:
    async with FakeSMTP() as smtp:
        port = smtp.port
    with pytest.raises(Retry, match="unreachable"):
        await EmailAction("alerts", resources).send(make_call(EmailAction, mail(port)))
