"""Every way a real target fails reads as its cause, in words, and is retried or not on purpose.

Each target is a real server on loopback (tests/fakes/misbehaving.py: certificates made by the
openssl CLI), sent to through the bridge's own session and `httputil.request`, as every HTTP
action sends. docs/operations.md, "What a failure says", lists the same reasons.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bridge.actions.base import PermanentFailure, Resources, Retry
from bridge.actions.email import EmailAction
from bridge.actions.httputil import request
from bridge.actions.slack import SlackAction
from tests.fakes.events import MakeCall
from tests.fakes.misbehaving import Certificates, Misbehaving, certificates, trusting
from tests.fakes.slack import FakeSlack
from tests.fakes.smtp import FakeSMTP


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return certificates(tmp_path_factory.mktemp("certs"))


async def failure(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> Retry | PermanentFailure:
    with pytest.raises((Retry, PermanentFailure)) as caught:
        await request(http, "POST", url + "/hook", what="hook", json={"id": 1}, **kwargs)
    assert isinstance(caught.value, Retry | PermanentFailure)
    return caught.value


@pytest.mark.parametrize(
    ("which", "said"),
    [
        ("self_signed", "self-signed certificate (issued by no CA the bridge trusts)"),
        ("expired", "certificate has expired"),
        ("wrong_name", "IP address mismatch, certificate is not valid for '127.0.0.1'"),
    ],
)
async def test_a_rejected_certificate_says_which_check_failed_and_is_retried(
    http: aiohttp.ClientSession, certs: Certificates, which: str, said: str
) -> None:
    """Before: 'hook unreachable: ClientConnectorCertificateError: Cannot connect to host
    127.0.0.1:N ssl:True [SSLCertVerificationError: (1, "[SSL: CERTIFICATE_VERIFY_FAILED]
    certificate verify failed: ...')]', whose cause 80 columns cut off. Retried: the target's
    owner renews or fixes the certificate, and the queue moves on by itself (no request left
    the bridge, so a retry sends nothing twice)."""
    cert = getattr(certs, which)
    key = certs.self_signed_key if which == "self_signed" else certs.key
    async with Misbehaving("answer", tls=(cert, key)) as target:
        caught = await failure(http, target.url, ssl=trusting(certs.ca))
    port = target.url.rsplit(":", 1)[1]
    assert isinstance(caught, Retry)
    assert caught.reason == f"hook: TLS certificate of 127.0.0.1:{port} rejected: {said}"
    assert caught.status is None


async def test_the_same_certificate_signed_by_a_trusted_ca_is_accepted(
    http: aiohttp.ClientSession, certs: Certificates
) -> None:
    """The control: the failures above are the certificates', not the servers'."""
    async with Misbehaving("answer", tls=(certs.good, certs.key)) as target:
        result = await request(
            http, "POST", target.url + "/hook", what="hook", ssl=trusting(certs.ca)
        )
    assert result.status == 200


async def test_an_https_url_on_a_plain_http_port_says_it_does_not_speak_tls(
    http: aiohttp.ClientSession,
) -> None:
    """Before: '... ClientConnectorSSLError: ... [[SSL: WRONG_VERSION_NUMBER] wrong version
    number (_ssl.c:1006)]'."""
    async with Misbehaving("not_tls") as target:
        caught = await failure(http, target.url)
    port = target.url.rsplit(":", 1)[1]
    assert isinstance(caught, Retry)
    assert caught.reason == (
        f"hook: 127.0.0.1:{port} does not speak TLS (an https:// URL on a plain-HTTP port?)"
    )


async def test_a_name_that_does_not_resolve_and_a_refused_port_say_so(
    http: aiohttp.ClientSession,
) -> None:
    """Before: 'hook unreachable: ClientConnectorDNSError: Cannot connect to host
    nonexistent.invalid:443 ssl:default [Name or service not known]' and '...
    ClientConnectorError: ... [Connect call failed ('127.0.0.1', 9)]'."""
    dns = await failure(http, "https://nonexistent.invalid")
    assert isinstance(dns, Retry)
    assert dns.reason.startswith("hook unreachable: the name nonexistent.invalid does not resolve")
    assert "(DNS: " in dns.reason and "ClientConnector" not in dns.reason
    async with Misbehaving("answer") as gone:
        url = gone.url
    refused = await failure(http, url)
    port = url.rsplit(":", 1)[1]
    assert isinstance(refused, Retry)
    assert refused.reason == (
        f"hook unreachable: 127.0.0.1:{port} refused the connection (nothing listens on that port)"
    )


def head(status: str, body: bytes = b"", *headers: str) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close", *headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


HTML_503 = (
    b"<!DOCTYPE html><html><head><title>503 Service Unavailable</title><style>body{}</style>"
    b"</head><body><h1>Service Unavailable</h1><p>Down for maintenance.</p></body></html>"
)


@pytest.mark.parametrize(
    ("answer", "kind", "reason"),
    [
        (
            head("401 Unauthorized", b'{"error":"invalid_token","error_description":"The access '
                 b'token expired"}', "Content-Type: application/json"),
            PermanentFailure,
            "hook answered 401: invalid_token: The access token expired",
        ),
        (
            head("403 Forbidden", b'{"message":"Resource not accessible by integration"}'),
            PermanentFailure,
            "hook answered 403: Resource not accessible by integration",
        ),
        (
            head("413 Payload Too Large", b"request entity too large"),
            PermanentFailure,
            "hook answered 413: request entity too large",
        ),
        (
            head("503 Service Unavailable", HTML_503, "Content-Type: text/html"),
            Retry,
            "hook answered 503: 503 Service Unavailable",
        ),
        (
            head("429 Too Many Requests", b'{"errors":[{"message":"slow down"}]}',
                 "Retry-After: 120"),
            Retry,
            "hook answered 429: slow down (Retry-After: 120 s)",
        ),
        (
            head("301 Moved Permanently", b"", "Location: https://elsewhere.example/h?a=1"),
            PermanentFailure,
            "hook redirected (301); configure the final URL: https://elsewhere.example/h?a=1",
        ),
    ],
    ids=["401-json", "403-json", "413", "503-html", "429-retry-after", "301"],
)  # fmt: skip
async def test_an_error_answer_names_its_own_cause_in_the_reason(
    http: aiohttp.ClientSession, answer: bytes, kind: type[Exception], reason: str
) -> None:
    """Before: 'hook answered 401' alone, on the card, in the log message and in the alert,
    which show no response; the target's words are now in every one of them."""
    async with Misbehaving("answer", answer) as target:
        caught = await failure(http, target.url)
    assert type(caught) is kind
    assert caught.reason == reason


async def test_an_http_date_retry_after_is_the_delay_and_is_said(
    http: aiohttp.ClientSession,
) -> None:
    when = email.utils.formatdate(time.time() + 300, usegmt=True)
    async with Misbehaving(
        "answer", head("429 Too Many Requests", b"", f"Retry-After: {when}")
    ) as t:
        caught = await failure(http, t.url)
    assert isinstance(caught, Retry) and caught.delay_s is not None
    assert 290 < caught.delay_s <= 300
    assert caught.reason.startswith("hook answered 429 (Retry-After: ")


async def test_a_token_in_a_redirect_location_is_hidden_once_redacted(
    http: aiohttp.ClientSession,
) -> None:
    """Before: '... to https://elsewhere.example/hook?token=***' then ' configure the final
    URL': the `;` after the URL went into the hidden value. The Location is now the end."""
    from bridge.redaction import redact

    location = "https://elsewhere.example/hook?token=s3cr3t-value-42"
    async with Misbehaving("answer", head("302 Found", b"", f"Location: {location}")) as target:
        caught = await failure(http, target.url)
    assert redact(caught.reason) == (
        "hook redirected (302); configure the final URL: https://elsewhere.example/hook?token=***"
    )


async def test_a_body_that_stalls_within_the_attempt_is_an_answer_not_a_timeout(
    http: aiohttp.ClientSession,
) -> None:
    """The status came: a 500 whose body never ends is a 500 (the body read gives up, within
    the attempt's own time: netproblems.body_wait_s), not a timeout that hides it."""
    from bridge import netproblems

    stalled = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 1000\r\n\r\nhello"
    async with Misbehaving("stall", stalled) as target:
        with netproblems.progress(timeout_s=1.0):
            caught = await failure(http, target.url)
    assert isinstance(caught, Retry) and caught.status == 500
    assert caught.reason == "hook answered 500: hello"
    assert caught.response.startswith("hello… (the answer broke off after 5 bytes: it had not ")


async def test_a_50_mb_answer_is_read_only_as_far_as_the_excerpt_needs(
    http: aiohttp.ClientSession,
) -> None:
    async with Misbehaving("huge") as target:
        result = await request(http, "POST", target.url + "/hook", what="hook")
    assert result.status == 200
    assert result.response.endswith("… (52428800 bytes; only the first 8192 read)")


async def test_slack_errors_show_slacks_answer_as_json(
    resources: Resources, make_call: MakeCall
) -> None:
    """Before: the response was str() of the parsed answer, `{'ok': False, ...}` (Python)."""
    async with FakeSlack() as slack:
        options = {"token": slack.token, "channel": "#nowhere", "base_url": slack.api_url}
        with pytest.raises(PermanentFailure) as channel:
            await SlackAction("team", resources).send(make_call(SlackAction, options))
        options = {"token": "xoxb-wrong", "channel": "#content", "base_url": slack.api_url}
        with pytest.raises(PermanentFailure) as auth:
            await SlackAction("team", resources).send(make_call(SlackAction, options))
    assert channel.value.reason == "Slack chat.postMessage failed: channel_not_found"
    assert channel.value.response == '{"ok": false, "error": "channel_not_found"}'
    assert auth.value.reason == "Slack chat.postMessage failed: invalid_auth"
    assert auth.value.response == '{"ok": false, "error": "invalid_auth"}'


def mail(port: int, **extra: Any) -> dict[str, Any]:
    return {"host": "127.0.0.1", "port": port, "from": "bridge@example.test",
            "to": ["nobody@example.test"], **extra}  # fmt: skip


async def test_smtp_failures_name_the_recipient_the_server_and_the_fix(
    resources: Resources, make_call: MakeCall
) -> None:
    """Before: "SMTP refused every recipient: [SMTPRecipientRefused(550, '5.1.1 ...',
    'nobody@example.test')]"; 'SMTP server unreachable: SSLCertVerificationError: [SSL: ...'
    for an untrusted certificate; aiosmtplib's own words for a login refused on a plain
    connection."""
    async with FakeSMTP() as smtp, FakeSMTP(login=("user", "pw-0123456789")) as secured:
        smtp.mailbox.refuse.add("nobody@example.test")
        with pytest.raises(PermanentFailure) as refused:
            await EmailAction("mail", resources).send(make_call(EmailAction, mail(smtp.port)))
        login = {"username": "user", "password": "pw-0123456789"}
        plain = mail(secured.port, starttls=False, **login)
        with pytest.raises(PermanentFailure) as no_tls:
            await EmailAction("mail", resources).send(make_call(EmailAction, plain))
        untrusted = mail(secured.port, starttls=True, **login)
        with pytest.raises(Retry) as certificate:
            await EmailAction("mail", resources).send(make_call(EmailAction, untrusted))
    assert refused.value.reason == (
        "SMTP refused every recipient: nobody@example.test: 550 5.1.1 No such user here"
    )
    assert no_tls.value.reason == (
        f"SMTP server 127.0.0.1:{secured.port} offers no login (AUTH) on a plain connection, "
        "and starttls: false keeps it plain: remove it (or use tls: true on port 465)"
    )
    assert certificate.value.reason == (
        f"SMTP server: TLS certificate of 127.0.0.1:{secured.port} rejected: self-signed "
        "certificate (issued by no CA the bridge trusts)"
    )


async def test_a_refused_smtp_port_names_host_and_port(
    resources: Resources, make_call: MakeCall, tmp_path: Path
) -> None:
    async with FakeSMTP() as smtp:
        port = smtp.port
    with pytest.raises(Retry) as caught:
        await EmailAction("mail", resources).send(make_call(EmailAction, mail(port)))
    assert caught.value.reason == (
        f"SMTP server unreachable: 127.0.0.1:{port} refused the connection (nothing listens "
        "on that port)"
    )


async def test_what_an_earlier_request_did_is_not_blamed_for_a_later_failure(
    http: aiohttp.ClientSession, certs: Certificates
) -> None:
    """An SDK on another client (Bluesky's httpx, Mastodon's requests) fails after an image
    was fetched through the bridge's session: the image's host and its finished answer must not
    be what the reason names (before: 'answered 200, but the rest of its answer did not come'
    for a timeout, and the image host's name on a certificate error)."""
    import asyncio

    from bridge import netproblems

    async with (
        Misbehaving("answer") as image,
        Misbehaving("answer", tls=(certs.self_signed, certs.self_signed_key)) as api,
    ):
        with netproblems.progress(timeout_s=5.0) as seen:
            await request(http, "GET", image.url + "/image.png", what="image")
            assert seen.stalled() == ""  # the answer was read: nothing is waiting on it
            port = int(api.url.rsplit(":", 1)[1])
            with pytest.raises(ssl.SSLCertVerificationError) as caught:
                await asyncio.open_connection("127.0.0.1", port, ssl=trusting(certs.ca))
            said = netproblems.no_answer("Bluesky createRecord", caught.value)
    assert said == (
        "Bluesky createRecord: TLS certificate of the server rejected: self-signed certificate "
        "(issued by no CA the bridge trusts)"
    )
