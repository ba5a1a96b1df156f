"""The one redaction policy (bridge/redaction.py, secret_urls.py, secret_names.py) on its own:
URL credentials in any text, the forms a secret is echoed in, cut texts, non-string log data,
reloads. tests/test_redaction_leaks.py provokes the same leaks through the running bridge."""

from __future__ import annotations

import base64
import io
import json
import logging
from pathlib import Path

import pytest
import yarl

from bridge import redaction
from bridge.config import load_config
from bridge.logformat import JsonFormatter, TextFormatter
from bridge.redaction import Redactor

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("https://u:pw-1@h.example/x", "https://***@h.example/x"),
        ("GET /hook?token=t-1&page=2", "GET /hook?token=***&page=2"),
        ("https://fn.azurewebsites.net/api/f?code=abc%3D%3D", "https://fn.azurewebsites.net/api/f?code=***"),
        ("?sv=2024&sig=Zm9v%2Bbar&se=1", "?sv=2024&sig=***&se=1"),
        ("https://s3/x?X-Amz-Signature=deadbeef", "https://s3/x?X-Amz-Signature=***"),
        ("https://app/cb#access_token=ya29.a0&state=1", "https://app/cb#access_token=***&state=1"),
        ('{"url": "https:\\/\\/u:pw-1@h\\/x"}', '{"url": "https:\\/\\/***@h\\/x"}'),
        ('"https://h/x?a=1\\u0026api_key=k-1"', '"https://h/x?a=1\\u0026api_key=***"'),
        ('<a href="/x?a=1&amp;password=p-1">', '<a href="/x?a=1&amp;password=***">'),
        ("https://ghp_0123456789abcdefABCDEF@github.com/o/r", "https://***@github.com/o/r"),
    ],
)  # fmt: skip
def test_url_credentials_are_hidden_in_any_text_without_a_configured_secret(
    text: str, shown: str
) -> None:
    assert Redactor().redact(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://postgres@127.0.0.1:5432/bridge",  # a user name alone is no credential
        "status_code=500 error_code=100",  # not in a URL's query
        "https://h/x?lang_code=en-US&country_code=de&page=2",
        "https://h/x?token=",
    ],
)
def test_ordinary_urls_and_codes_stay_as_written(text: str) -> None:
    assert Redactor().redact(text) == text


def _config(tmp_path: Path, actions: str) -> redaction.Redactor:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\n"
        "webhooks: [{name: production, path: /webhooks/kontent, secrets: [webhook-secret-1]}]\n"
        f"actions:\n{actions}"
        "rules: [{name: r, when: {object_type: content_item}, do: [a]}]\n"
    )
    return Redactor(redaction.secrets_of(load_config(path, {})))


def test_the_credentials_of_an_ordinary_url_option_are_hidden_by_value_too(
    tmp_path: Path,
) -> None:
    """A target echoing the query as JSON, or the basic-auth header aiohttp makes of the user
    info: the values stand alone, without the URL around them."""
    redactor = _config(
        tmp_path,
        "  a: {type: http, url: 'https://hookuser:hook-pass-01@h.example/in"
        "?code=fn-code-0002&sig=sas-sig-0003&page=2'}\n",
    )
    basic = base64.b64encode(b"hookuser:hook-pass-01").decode()
    echo = json.dumps({"query": {"code": "fn-code-0002", "sig": "sas-sig-0003"}, "auth": basic})
    shown = redactor.redact(echo)
    for secret in ("hook-pass-01", "fn-code-0002", "sas-sig-0003", basic):
        assert secret not in shown, shown
    assert "page" not in shown and '"query"' in shown


@pytest.mark.parametrize(
    "echo",
    [
        '{"url": "https:\\/\\/api.netlify.com\\/build_hooks\\/5f3a9c0e1d2b4a6f8e7c9d0a"}',  # PHP
        "hook 5f3a9c0e1d2b4a6f8e7c9d0a not found",  # the hook id alone
        "POST /build_hooks/5f3a9c0e1d2b4a6f8e7c9d0a?trigger_title=hello",  # templated query
    ],
)
def test_a_secret_url_is_hidden_escaped_by_its_hook_id_and_with_a_templated_query(
    tmp_path: Path, echo: str
) -> None:
    redactor = _config(
        tmp_path,
        "  a: {type: netlify, url: 'https://api.netlify.com/build_hooks/5f3a9c0e1d2b4a6f8e7c9d0a"
        "?trigger_title={{ event.codename }}'}\n",
    )
    assert "5f3a9c0e1d2b4a6f8e7c9d0a" not in redactor.redact(echo)


def test_go_escaped_json_of_a_secret_is_hidden() -> None:
    redactor = Redactor(["tok&en<1>-0004"])
    assert redactor.redact('{"echo": "tok\\u0026en\\u003c1\\u003e-0004"}') == '{"echo": "***"}'


def test_a_secret_cut_off_at_the_end_of_a_read_prefix_is_hidden() -> None:
    token = "long-token-" + "Ab9" * 300
    redactor = Redactor([token])
    read = (token + "\n") * 2 + token[:700]  # what a read limit left of a third echo
    assert redactor.redact_prefix(read) == "***\n***\n***"
    assert redactor.redact_prefix("no secret here") == "no secret here"
    assert redactor.redact_prefix("ends in lon") == "ends in lon"  # too short to tell


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_log_extras_that_are_not_strings_are_redacted_in_both_formats(
    formatter: type[logging.Formatter],
) -> None:
    """A plugin logging a URL object or an exception: the JSON format printed them with str()
    after redaction had walked past them; the text format redacted the finished line."""
    redactor = Redactor(["plugin-token-0005"])
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter(redactor))  # type: ignore[call-arg]
    logger = logging.getLogger(f"tests.redaction.{formatter.__name__}")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning(
            "plugin call failed",
            extra={
                "url": yarl.URL("https://h.example/x?t=plugin-token-0005"),
                "error": ValueError("refused plugin-token-0005"),
                "tags": {"plugin-token-0005"},
            },
        )
    finally:
        logger.removeHandler(handler)
    assert "plugin-token-0005" not in out.getvalue()
    assert "***" in out.getvalue()


def test_a_reload_adds_secrets_and_forgets_none() -> None:
    redactor = Redactor(["old-token-0006"])
    redactor.learn(["new-token-0007"])
    assert redactor.redact("old-token-0006 new-token-0007") == "*** ***"
    redactor.set_secrets(["other-0008"])  # a fresh start says exactly what it hides
    assert redactor.redact("old-token-0006 other-0008") == "old-token-0006 ***"


def test_the_trie_pattern_picks_the_longest_secret_at_a_position() -> None:
    redactor = Redactor(["abcd", "abcdef", "abcdxyz", "bcde"])
    assert redactor.redact("abcdefg abcdxy abcdxyz bcdef") == "***g ***xy *** ***f"


def test_the_idempotency_key_header_is_shown_since_it_is_the_delivery_id() -> None:
    """Before: the job page showed `Idempotency-Key: ***` (its last word is `key`), so the
    request an operator matches at the target by its delivery id (kb-42) hid that id."""
    from bridge.secret_names import is_secret_key

    assert not is_secret_key("Idempotency-Key")
    assert not is_secret_key("idempotency_key")
    assert is_secret_key("X-Api-Key") and is_secret_key("Idempotency-Token")
    shown = redaction.redact_value({"Idempotency-Key": "kb-42", "X-Api-Key": "abcdef123456"})
    assert shown == {"Idempotency-Key": "kb-42", "X-Api-Key": "***"}
