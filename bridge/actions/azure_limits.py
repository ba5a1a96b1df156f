"""Azure AI Search's rules, kept in one place: names, keys, batch limits, what its errors mean.

From the service's naming rules: a field name is 1-128 letters, digits and underscores, starts
with a letter and does not start with `azureSearch`; a document key is at most 1,024 letters,
digits, `_`, `-` and `=`, and does not start with `_`. A request holds at most 1,000 actions and
about 16 MB. The SDK is imported lazily (the `azure` extra), so this module imports none of it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from bridge.actions.base import PermanentFailure, Retry
from bridge.actions.httputil import RETRYABLE_4XX, excerpt, retry_after_s
from bridge.netproblems import no_answer

FIELD_RULE = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,127}")
KEY_RULE = re.compile(r"[A-Za-z0-9=-][A-Za-z0-9_=-]{0,1023}")
_NOT_FIELD_CHARACTER = re.compile(r"[^A-Za-z0-9_]")


def field_name_problem(name: str) -> str | None:
    """Why `name` cannot be an Azure field name, or None."""
    if not FIELD_RULE.fullmatch(name):
        return (
            f"{name!r} is not an Azure field name (1-128 letters, digits and underscores, "
            "starting with a letter; no dots)"
        )
    if name.startswith("azureSearch"):
        return f"{name!r}: Azure field names may not start with 'azureSearch'"
    return None


def azure_field_name(name: str) -> str:
    """A name the record mapping derives, made valid: other characters become `_`, and a name
    not starting with a letter gets an `f` in front (`_seo` -> `f_seo`)."""
    cleaned = _NOT_FIELD_CHARACTER.sub("_", name)
    if not cleaned[:1].isalpha() or cleaned.startswith("azureSearch"):
        cleaned = "f" + cleaned
    return cleaned[:128]


def document_problem(key: str) -> str | None:
    if len(key) > 1024:
        return f"a document key holds at most 1024 characters ({len(key)} here)"
    if not KEY_RULE.fullmatch(key):
        return "a document key holds letters, digits, '_', '-' and '=' and does not start with '_'"
    return None


def batches(
    actions: list[dict[str, Any]], max_actions: int, max_bytes: int
) -> Iterator[list[dict[str, Any]]]:
    """Consecutive runs of actions within both limits, measured as the SDK serialises them."""
    envelope = len('{"value": []}')
    batch: list[dict[str, Any]] = []
    size = envelope
    for action in actions:
        action_bytes = len(json.dumps(action)) + (2 if batch else 0)  # ", " between actions
        if batch and (len(batch) == max_actions or size + action_bytes > max_bytes):
            yield batch
            batch, size = [], envelope
            action_bytes -= 2
        batch.append(action)
        size += action_bytes
    if batch:
        yield batch


def failure_of(exc: Exception, endpoint: str) -> Retry | PermanentFailure:
    """An SDK error (azure.core.exceptions.AzureError) as the job's outcome.

    An answer from elsewhere than `endpoint` came from the credential's token endpoint
    (managed identity, Entra ID): it says so, so nobody hunts for a wrong api_key.
    """
    status: int | None = getattr(exc, "status_code", None)
    response = getattr(exc, "response", None)
    message = service_message(exc)
    url = str(getattr(getattr(response, "request", None), "url", "") or "")
    what = "Azure AI Search"
    if response is not None and not url.startswith(endpoint):
        what = "the Azure credential's token endpoint"
    if type(exc).__name__ == "CredentialUnavailableError" and (status is None or status < 500):
        return PermanentFailure(f"Azure credential unavailable: {message}")
    if "DecodeError" in {kind.__name__ for kind in type(exc).__mro__}:
        # An answer that could not be read: over the 8 MiB read limit, cut off, not JSON.
        return Retry(f"{what} answer unreadable: {type(exc).__name__}: {message}")
    if status is None:  # no answer: connection, TLS, a token endpoint
        if (said := no_answer(what, exc, host=urlsplit(url or endpoint).hostname)) is not None:
            return Retry(said)
        return Retry(f"{what} unreachable: {type(exc).__name__}: {message}")
    if 200 <= status < 300:  # a success the SDK does not expect here (204 for an index batch)
        return Retry(f"{what} answered {status}, which is no result for this request")
    reason = f"{what} answered {status}" + (f": {message}" if message else "")
    headers = getattr(response, "headers", None) or {}
    text = excerpt(_text(response))
    if status == 429 or status >= 500 or status in RETRYABLE_4XX:
        return Retry(reason, delay_s=_delay_s(headers), status=status, response=text)
    if 300 <= status < 400:  # not followed (azure_client: permit_redirects=False), as classify
        where = headers.get("Location") or "?"
        reason = f"{what} redirected ({status}); configure the final URL: {where}"
    elif what != "Azure AI Search":
        reason += " (check the identity: credential, client_id)"
    elif status in (401, 403):
        reason += " (check api_key, or the identity's Search Index Data Contributor role)"
    elif status == 404:
        reason += " (does the index exist?)"
    return PermanentFailure(reason, status=status, response=text)


def service_message(exc: Exception) -> str:
    """The first line of the SDK's message, without its `(code)` prefix when the code is none."""
    text = str(getattr(exc, "message", None) or exc or "").strip()
    first = text.splitlines()[0] if text else ""
    code = re.match(r"\((\w*)\)\s*", first)
    if code and code.group(1) in ("", "None"):
        first = first[code.end() :]
    return first


def _delay_s(headers: Any) -> float | None:
    """Retry-After, or Azure's millisecond forms of it."""
    for name in ("retry-after-ms", "x-ms-retry-after-ms"):
        raw = headers.get(name)
        if raw:
            try:
                return max(0.0, float(raw) / 1000)
            except ValueError:
                pass
    return retry_after_s({"Retry-After": headers.get("Retry-After") or ""})


def _text(response: Any) -> str:
    try:
        return str(response.text()) if response is not None else ""
    except Exception:  # an unread or undecodable body: the status says enough
        return ""
