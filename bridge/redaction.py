r"""The one redaction policy: which keys hold credentials, and which values are secret.

Logs, `bridge explain`, `bridge test`, CLI errors, the admin API, the dashboard, alerts and the
delivery log all go through this module, so they cannot disagree about what is hidden. Three
rules, applied together:

- By name (bridge.secret_names): a mapping key that names a credential has its value replaced
  by `***`, at any depth. A key is split into words (`X-Api-Key` -> x, api, key; `accessToken`
  -> access, token) and is secret when any word is one of `SECRET_WORDS` or its last word is one
  of `SECRET_LAST_WORDS` (`json.key`, `api_key`, `X-Api-Key`, `private_key`, but not `keys` or
  `xkey_header`).
- URL credentials, in any text (bridge.secret_urls): a URL's user info (`https://***@host`)
  and the values of its credential query or fragment parameters (the names above, and `code`,
  `sig`, `signature`: `?code=***`), also JSON-escaped (`:\/\/`, `\u0026`) and in HTML
  (`&amp;`). Needs no configured secret, so it covers texts written before a config loads
  (`bridge check`, start-up errors) and URLs nobody configured (a Location, an echo).
- By value: every configured secret (webhook secrets, Kontent keys, the admin token, the
  database URL's credentials, each action's secret options and credential-named options, the
  credentials of every URL in any option or `with:` value, credential-named `with:` values) is
  replaced wherever it appears inside any string, together with the forms in which it usually
  travels: URL-encoded (upper- and lower-case hex, `+` for spaces), JSON-escaped (also with
  `\/` for every slash, and Go's `\u0026`, `\u003c`, `\u003e`), base64 (standard and URL-safe,
  with or without padding, also inside the base64 of a longer text: `Bearer <token>` encoded
  whole), base64 of `user:password` for every configured user/password pair and URL user info,
  the credential of an `Authorization`-style value (`Bearer X`, `Basic X` and what X decodes
  to), the password of a URL's user info, and for a secret URL (a build hook, a Slack webhook:
  a credential by its path) its path and the last segment of its path (8 characters or more,
  with a digit: the hook id). A secret option that is a template still hides the URL it starts
  with. The end of a text cut before it was redacted (an answer read up to its limit) is
  hidden when it is the start of a secret (`redact_prefix`). A reload adds the new config's
  secrets to those known before, and never forgets one while the process runs.

Non-string leaves of logged or shown data (a URL object, an exception) are redacted as the text
they print as. Not covered: other encodings (hex, gzip, a secret split over lines or chunks), a
secret shorter than `MIN_SECRET_LEN` characters, values a template computes from a secret at
send time, and, in a config that does not load, secret values outside URLs (its options are
not known yet).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, quote_plus

from bridge import secret_urls
from bridge.secret_names import (
    MIN_SECRET_LEN,
    REDACTED,
    SECRET_LAST_WORDS,
    SECRET_WORDS,
    USER_WORDS,
    is_secret_key,
    is_secret_query_name,
    is_user_key,
    key_words,
)

if TYPE_CHECKING:
    from bridge.config import Config

__all__ = [
    "MIN_SECRET_LEN",
    "REDACTED",
    "SECRET_LAST_WORDS",
    "SECRET_WORDS",
    "USER_WORDS",
    "Redactor",
    "is_secret_key",
    "is_secret_query_name",
    "key_words",
    "redact",
    "redact_value",
    "redactor",
    "secrets_of",
    "settings_secrets",
]

# Shorter base64 runs taken from inside a longer encoding would hide ordinary base64 text.
MIN_EMBEDDED_BASE64 = 8

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_TEMPLATE = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.DOTALL)
_SCHEME_CREDENTIAL = re.compile(r"^(?:basic|bearer|token|bot|digest)\s+(\S+)$", re.IGNORECASE)
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def variants(secret: str) -> set[str]:
    """The secret and the forms it usually travels in (see the module docstring)."""
    found = {secret}
    match = _SCHEME_CREDENTIAL.match(secret.strip())
    if match:
        credential = match.group(1)
        found.add(credential)
        decoded = _b64decode(credential)
        if decoded and ":" in decoded:
            found.add(decoded)
            found.add(decoded.split(":", 1)[1])
    found |= secret_urls.secret_url_parts(secret)
    for value in list(found):
        found |= _encodings(value)
    return {v for v in found if len(v) >= MIN_SECRET_LEN}


def _encodings(value: str) -> set[str]:
    raw = value.encode()
    escaped = json.dumps(value)[1:-1]
    encoded = {
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        escaped,
        json.dumps(value, ensure_ascii=False)[1:-1],
        escaped.replace("/", "\\/"),  # PHP's and others' JSON escape every slash
        # Go's encoding/json escapes <, > and & (a URL's query in a Go service's echo).
        escaped.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e"),
    }
    encoded |= {_PERCENT.sub(lambda m: m.group().lower(), e) for e in list(encoded)}
    for b64 in (base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()):
        encoded |= {b64, b64.rstrip("=")}
    return encoded | _embedded_base64(raw)


def _embedded_base64(raw: bytes) -> set[str]:
    """What base64 of a longer text holding `raw` always contains, at each of the 3 offsets the
    secret can start at: the groups made of the secret's bytes alone (`Bearer <token>`, a
    `user:password` pair, a whole header block, base64-encoded). At most two bytes at each end
    of the secret stay visible in the neighbouring groups."""
    found = set()
    for offset in range(3):
        complete = (offset + len(raw)) // 3 * 4
        start = 4 if offset else 0
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            inner = encode(b"\0" * offset + raw).decode()[start:complete]
            if len(inner) >= MIN_EMBEDDED_BASE64:
                found.add(inner)
    return found


def _b64decode(text: str) -> str | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class Redactor:
    """The secret values to hide, with their encodings. A reload adds (`learn`), never forgets:
    calls that began under the previous config may still answer with its secrets."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._secrets: frozenset[str] = frozenset()
        self._pattern: re.Pattern[str] | None = None
        self._forms: tuple[str, ...] = ()
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str | None]) -> None:
        """Hide exactly these secrets from now on (a process starting, a command's config)."""
        kept = frozenset(s for s in secrets if s and len(s) >= MIN_SECRET_LEN)
        forms: set[str] = set()
        for secret in kept:
            forms |= variants(secret)
        pattern = re.compile(_alternation(forms)) if forms else None
        with self._lock:
            self._secrets, self._pattern = kept, pattern
            self._forms = tuple(sorted(forms, key=len, reverse=True))

    def learn(self, secrets: Iterable[str | None]) -> None:
        """Hide these secrets too, keeping the ones known so far (a reload)."""
        self.set_secrets(self._secrets | {s for s in secrets if s})

    def redact(self, text: str) -> str:
        """`text` with every secret value (in any covered form) and every URL credential (user
        info, credential-named query parameters: bridge.secret_urls) replaced by `***`."""
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return secret_urls.hide_in_text(text)

    def redact_prefix(self, text: str) -> str:
        """`redact` for the start of a longer text (an answer read up to a limit): a secret the
        cut left incomplete at the end is hidden too, as far as `MIN_SECRET_LEN` characters."""
        text = self.redact(text)
        cut = len(text)
        for form in self._forms:
            head = form[:MIN_SECRET_LEN]
            found = text.find(head, max(0, len(text) - len(form) + 1))
            while found != -1 and found < cut:
                if form.startswith(text[found:]):
                    cut = found
                    break
                found = text.find(head, found + 1)
        return text if cut == len(text) else text[:cut] + REDACTED

    def redact_value(self, value: Any, secret_names: Iterable[str] = ()) -> Any:
        """A copy of JSON-like data with both rules applied: credential-named keys (and the
        top-level `secret_names`) hidden whole, secret values hidden inside every string. Any
        other leaf (a URL object, an exception, a set) becomes its redacted text: whoever shows
        it would print it with str()."""
        names = frozenset(secret_names)
        if isinstance(value, Mapping):
            return {
                k: self._hidden(v) if (k in names or is_secret_key(k)) else self.redact_value(v)
                for k, v in value.items()
            }
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, list | tuple):
            return [self.redact_value(v) for v in value]
        if value is None or isinstance(value, bool | int | float):
            return value
        return self.redact(str(value))

    def _hidden(self, value: Any) -> Any:
        return value if value in (None, "") else REDACTED


def _alternation(words: Iterable[str]) -> str:
    """One regex matching any of `words`, the longest one wherever several start: written as a
    trie (`abc(?:d|e)?`), so a position costs one comparison per character, not one per word
    (hundreds: every secret has a dozen forms)."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}  # a word ends here
    return _node_pattern(trie)


def _node_pattern(node: dict[str, Any]) -> str:
    literal = ""
    while len(node) == 1 and "" not in node:  # a chain with no branch: one literal
        ((char, node),) = node.items()
        literal += char
    branches = [_node_pattern({c: child}) for c, child in node.items() if c]
    if not branches:
        return re.escape(literal)
    rest = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if "" in node:  # a word ends here: longer ones are tried first
        rest = f"(?:{rest})?"
    return re.escape(literal) + rest


redactor = Redactor()


def redact(text: str) -> str:
    """Secret values hidden in `text`, with the process-wide redactor (the loaded config's)."""
    return redactor.redact(text)


def redact_value(value: Any, secret_names: Iterable[str] = ()) -> Any:
    """`Redactor.redact_value` with the process-wide redactor."""
    return redactor.redact_value(value, secret_names)


def secrets_of(config: Config, extra: Iterable[str | None] = ()) -> set[str]:
    """Every secret value a config holds: webhook secrets, Kontent keys, secret options of every
    action (declared, or credential-named at any depth), credential-named `with:` values,
    base64 `user:password` of every user/password pair, and the credentials in every URL an
    option or `with:` writes (user info, credential query parameters); `extra` adds the admin
    token and such."""
    found: set[str] = {s for s in extra if s}
    for webhook in config.webhooks:
        found.update(s for s in webhook.secrets if s)
    kontent = _attributes(config.kontent)
    for environment in config.kontent.environments.values():
        # Every key of an environment (preview_api_key, secure_access_key, management_api_key).
        found.update(_secret_values(_attributes(environment), frozenset()))
    found.update(_url_credentials({k: v for k, v in kontent.items() if k != "environments"}))
    for source in getattr(config, "sources", ()):  # Sync API keys given on a source itself
        found.update(k for k in (source.preview_api_key, source.secure_access_key) if k)
    declared_by_action: dict[str, frozenset[str]] = {}
    for name, action in config.actions.items():
        declared = frozenset(getattr(action.action_class, "secret_options", frozenset()))
        declared_by_action[name] = declared
        found.update(_secret_values(action.options, declared))
        found.update(_url_credentials(action.options))
    for rule in getattr(config, "rules", ()):
        for item in getattr(rule, "do", ()):
            declared = declared_by_action.get(getattr(item, "action", ""), frozenset())
            inputs = getattr(item, "inputs", {}) or {}
            found.update(_secret_values(inputs, declared))
            found.update(_url_credentials(inputs))
    return {s for s in found if not _is_template(s)}


def settings_secrets(settings: Any) -> tuple[str | None, ...]:
    """The secrets the environment gives beside the config: the admin token, the credentials
    of the database URL (its password, or `?password=`)."""
    db = getattr(settings, "db", None)
    found = secret_urls.credentials(db) if isinstance(db, str) else set()
    return (getattr(settings, "admin_token", None), *sorted(found))


def _secret_values(options: Mapping[str, Any], declared: frozenset[str]) -> Iterator[str]:
    yield from _basic_pairs(options)
    for key, value in options.items():
        if key in declared or is_secret_key(key):
            yield from _literal_parts(_strings(value))
        elif isinstance(value, Mapping):
            yield from _secret_values(value, frozenset())
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Mapping):
                    yield from _secret_values(item, frozenset())


def _literal_parts(values: Iterable[str]) -> Iterator[str]:
    """Secret strings as they are, or, for a template, the URL it starts with (a build hook
    with `?trigger_title={{ event.name }}` is a secret URL still): the rest of a template's
    text is no value that could be hidden."""
    for value in values:
        if not _is_template(value):
            yield value
        elif "://" in (start := _TEMPLATE.split(value, 1)[0]):
            yield start.split("?", 1)[0]


def _url_credentials(options: Mapping[str, Any]) -> Iterator[str]:
    """The credentials of the URLs in any option, secret or not (bridge.secret_urls), taken
    from the literal text around templates."""
    for value in _strings(options):
        for part in _TEMPLATE.split(value):
            yield from secret_urls.credentials(part)


def _attributes(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return dict(vars(value))


def _basic_pairs(options: Mapping[str, Any]) -> Iterator[str]:
    """base64(`user:password`) for a mapping holding both: what basic auth sends."""
    users = [v for k, v in options.items() if isinstance(k, str) and is_user_key(k)]
    passwords = [v for k, v in options.items() if is_secret_key(k) and isinstance(v, str)]
    for user in users:
        for password in passwords:
            if isinstance(user, str) and user and password:
                yield base64.b64encode(f"{user}:{password}".encode()).decode()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _strings(v)


def _is_template(value: str) -> bool:
    return any(marker in value for marker in _TEMPLATE_MARKERS)
