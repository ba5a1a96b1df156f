"""HMAC signatures: both headers, rotation, the CRLF fallback, and everything that must fail."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable

import pytest

from bridge.signatures import (
    CURRENT_HEADER,
    LEGACY_HEADER,
    sign,
    signatures_from,
    verify,
)

BODY = b'{\n  "notifications": []\n}\n'


def _reference_sign(body: bytes, secret: str) -> str:
    """Seed 001's .NET helper, transcribed: HMAC-SHA256 over UTF-8, base64."""
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def test_sign_matches_kontents_helper(payload_bytes: Callable[[str], bytes]) -> None:
    body = payload_bytes("current/content_type_changed_preview.json")  # has non-ASCII text
    assert sign(body, "sëcret") == _reference_sign(body, "sëcret")


def test_verify_accepts_the_right_secret() -> None:
    assert verify(BODY, sign(BODY, "s1"), ["s1"])


def test_rotation_any_secret_verifies() -> None:
    secrets = ["old-secret", "new-secret", "next-secret"]
    for secret in secrets:
        assert verify(BODY, sign(BODY, secret), secrets)
    assert not verify(BODY, sign(BODY, "retired-secret"), secrets)


def test_wrong_secret_fails() -> None:
    assert not verify(BODY, sign(BODY, "attacker"), ["s1"])


def test_stale_signature_of_another_body_fails() -> None:
    other = BODY.replace(b"[]", b"[ ]")
    assert not verify(BODY, sign(other, "s1"), ["s1"])


@pytest.mark.parametrize("signature", [None, "", "   ", "not base64!", "é" * 44, "\x00"])
def test_missing_empty_or_garbage_signature_fails(signature: str | None) -> None:
    assert not verify(BODY, signature, ["s1"])


def test_no_secrets_never_verifies() -> None:
    assert not verify(BODY, sign(BODY, ""), [])


def test_crlf_fallback_when_a_proxy_rewrote_line_endings() -> None:
    # Kontent.ai signed the CRLF form; the body arrives with LF line endings.
    crlf = BODY.replace(b"\n", b"\r\n")
    assert verify(BODY, sign(crlf, "s1"), ["s1"])
    # Runs of line breaks collapse to one CRLF, as Kontent.ai's helper does.
    assert verify(b"{\n\n}", sign(b"{\r\n}", "s1"), ["s1"])


def test_crlf_fallback_does_not_accept_other_changes() -> None:
    crlf = BODY.replace(b"\n", b"\r\n").replace(b"[]", b"[1]")
    assert not verify(BODY, sign(crlf, "s1"), ["s1"])


def test_signature_surrounding_whitespace_is_ignored() -> None:
    assert verify(BODY, f"  {sign(BODY, 's1')}\t", ["s1"])


def test_headers_current_first_then_legacy_case_insensitive() -> None:
    assert signatures_from({"X-KC-Signature": "b", "X-Kontent-ai-Signature": "a"}) == ("a", "b")
    assert signatures_from({"x-kc-signature": "b"}) == ("b",)
    assert signatures_from({"X-KONTENT-AI-SIGNATURE": "a"}) == ("a",)
    assert signatures_from({"content-type": "application/json"}) == ()
    assert (CURRENT_HEADER, LEGACY_HEADER) == ("x-kontent-ai-signature", "x-kc-signature")


def test_legacy_header_verifies_like_the_current_one() -> None:
    headers = {"X-KC-Signature": sign(BODY, "s1")}
    assert verify(BODY, signatures_from(headers), ["s1"])


# --- Both headers at once. Kontent.ai's verifiers disagree on which one wins: webhook-helper-js
# (lib/signatures/constants.ts) reads only x-kontent-ai-signature; the ASP.NET Core middleware
# (kontent-ai/dotnet, src/aspnetcore/Kontent.Ai.AspNetCore/Webhooks/SignatureMiddleware.cs and
# its test ModernSignatureHeaderTakesPrecedenceOverLegacy) prefers X-KC-Signature. A request
# either of them accepts must verify; one both reject must not.


def test_both_headers_each_may_carry_the_valid_signature() -> None:
    good = sign(BODY, "s1")
    dotnet_case = {"X-KC-Signature": good, "X-Kontent-ai-Signature": "invalid-fallback"}
    helper_case = {"X-Kontent-ai-Signature": good, "X-KC-Signature": "invalid-fallback"}
    assert signatures_from(dotnet_case) == ("invalid-fallback", good)
    assert verify(BODY, signatures_from(dotnet_case), ["s1"])
    assert verify(BODY, signatures_from(helper_case), ["s1"])


def test_both_headers_wrong_or_absent_fails() -> None:
    both_wrong = {"X-KC-Signature": sign(BODY, "x"), "X-Kontent-ai-Signature": sign(BODY, "y")}
    assert not verify(BODY, signatures_from(both_wrong), ["s1"])
    assert signatures_from({"X-KC-Signature": "", "Content-Type": "json"}) == ()
    assert not verify(BODY, signatures_from({}), ["s1"])
    assert not verify(BODY, [], ["s1"])


def test_webhook_helper_v2_legacy_vector(payload_bytes: Callable[[str], bytes]) -> None:
    # webhook-helper-js before 4.0 (lib/test/signatures/signature.spec.ts at 857cb76): the
    # signature is over the payload with its line breaks made CRLF; the body arrives with LF.
    body = payload_bytes("official/webhook_helper_legacy_signed.json")
    secret = "4INSnqn9ZA9pOWHpRySS+rsEqL6qHF3CIAftipJeuDc="
    signature = "5+vhM4vWobuiwGyLSGqOL7KwXnaQXISzuKUxhI4xL3o="
    assert b"\r" not in body
    assert verify(body, signature, [secret])
    assert sign(body.replace(b"\n", b"\r\n"), secret) == signature
    assert not verify(body, signature, ["4INSnqn9ZA9pOWHpRySS+rsEqL6qHF3CIAftipJeuDc"])
