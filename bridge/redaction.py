"""The one redaction policy: which keys hold credentials, and which values are secret.

Logs, `bridge explain`, the admin API, the dashboard and the delivery log all go through this
module, so they cannot disagree about what is hidden. Two rules, applied together:

- By name: a mapping key that names a credential has its value replaced by `***`, at any depth.
  A key is split into words (`X-Api-Key` -> x, api, key; `accessToken` -> access, token) and is
  secret when any word is one of `SECRET_WORDS` or its last word is one of `SECRET_LAST_WORDS`
  (`json.key`, `api_key`, `X-Api-Key`, `private_key`, but not `keys` or `xkey_header`).
- By value: every configured secret (webhook secrets, Kontent keys, the admin token, the
  database password, each action's secret options and credential-named options, credential-named
  `with:` values) is replaced wherever it appears inside any string, together with the forms in
  which it usually travels: URL-encoded (upper- and lower-case hex, `+` for spaces), JSON-escaped,
  base64 (standard and URL-safe, with or without padding, also inside the base64 of a longer text:
  `Bearer <token>` encoded whole), base64 of `user:password` for every configured user/password
  pair, the credential of an `Authorization`-style value (`Bearer X`,
  `Basic X` and what X decodes to), the password of a URL's user info, and the path of a secret
  URL (a build hook or Slack webhook URL is a credential by its path).

Not covered: other encodings (hex, gzip, a secret split over lines or chunks), a secret shorter
than `MIN_SECRET_LEN` characters, and values a template computes from a secret at send time.
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
from urllib.parse import quote, quote_plus, urlsplit

if TYPE_CHECKING:
    from bridge.config import Config

REDACTED = "***"
# Shorter values would turn ordinary words into stars; such secrets are not worth hiding.
MIN_SECRET_LEN = 4
# Shorter base64 runs taken from inside a longer encoding would hide ordinary base64 text.
MIN_EMBEDDED_BASE64 = 8
# A secret URL's path is hidden on its own only when it is long enough to be the credential.
MIN_SECRET_PATH_LEN = 8

# Words that mark a credential wherever they appear in a key (`webhook_secret`, `X-Auth-Token`).
SECRET_WORDS = frozenset(
    {
        "token",
        "tokens",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "authorization",
        "cookie",
        "cookies",
        "credential",
        "credentials",
        "apikey",
        "dsn",
    }
)
# Words that mark a credential as a key's last word (`api_key`, `X-Api-Key`, `json.key`).
SECRET_LAST_WORDS = frozenset({"key", "auth"})
# Words naming the user half of a user/password pair (HTTP basic auth, SMTP login).
USER_WORDS = frozenset({"user", "username", "login"})

_TEMPLATE_MARKERS = ("{{", "{%", "{#")
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_SCHEME_CREDENTIAL = re.compile(r"^(?:basic|bearer|token|bot|digest)\s+(\S+)$", re.IGNORECASE)
_PERCENT = re.compile(r"%[0-9A-F]{2}")


def key_words(key: str) -> list[str]:
    """`X-Api-Key` -> [x, api, key]; `accessToken` -> [access, token]."""
    return [w for w in _NON_WORD.split(_CAMEL.sub(r"\1_\2", key).lower()) if w]


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a credential (see the module docstring for the rule)."""
    if not isinstance(key, str):
        return False
    words = key_words(key)
    return bool(words) and (words[-1] in SECRET_LAST_WORDS or any(w in SECRET_WORDS for w in words))


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
    found |= _url_parts(secret)
    for value in list(found):
        found |= _encodings(value)
    return {v for v in found if len(v) >= MIN_SECRET_LEN}


def _encodings(value: str) -> set[str]:
    raw = value.encode()
    encoded = {
        quote(value, safe=""),
        quote(value),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
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


def _url_parts(value: str) -> set[str]:
    """The password in a URL's user info and, for a long enough path, the path (+ query)."""
    if "://" not in value:
        return set()
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return set()
    found = {password} if password else set()
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if parts.netloc and len(path) >= MIN_SECRET_PATH_LEN:
        found.add(path)
    return found


def _b64decode(text: str) -> str | None:
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


class Redactor:
    """The set of secret values to hide, with their encodings; replaced whole on each (re)load."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None
        self.set_secrets(secrets)

    def set_secrets(self, secrets: Iterable[str | None]) -> None:
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LEN:
                forms |= variants(secret)
        ordered = sorted(forms, key=len, reverse=True)  # the longest form wins an overlap
        pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None
        with self._lock:
            self._pattern = pattern

    def redact(self, text: str) -> str:
        """`text` with every secret value (in any covered form) replaced by `***`."""
        pattern = self._pattern
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def redact_value(self, value: Any, secret_names: Iterable[str] = ()) -> Any:
        """A copy of JSON-like data with both rules applied: credential-named keys (and the
        top-level `secret_names`) hidden whole, secret values hidden inside every string."""
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
        return value

    def _hidden(self, value: Any) -> Any:
        return value if value in (None, "") else REDACTED


redactor = Redactor()


def redact(text: str) -> str:
    """Secret values hidden in `text`, with the process-wide redactor (the loaded config's)."""
    return redactor.redact(text)


def redact_value(value: Any, secret_names: Iterable[str] = ()) -> Any:
    """`Redactor.redact_value` with the process-wide redactor."""
    return redactor.redact_value(value, secret_names)


def secrets_of(config: Config, extra: Iterable[str | None] = ()) -> set[str]:
    """Every secret value a config holds: webhook secrets, Kontent keys, secret options of every
    action (declared, or credential-named at any depth), credential-named `with:` values, and
    base64 `user:password` of every user/password pair; `extra` adds the admin token and such."""
    found: set[str] = {s for s in extra if s}
    for webhook in config.webhooks:
        found.update(s for s in webhook.secrets if s)
    for environment in config.kontent.environments.values():
        # Every key of an environment (preview_api_key, secure_access_key, management_api_key).
        found.update(_secret_values(_attributes(environment), frozenset()))
    for source in getattr(config, "sources", ()):  # Sync API keys given on a source itself
        found.update(k for k in (source.preview_api_key, source.secure_access_key) if k)
    declared_by_action: dict[str, frozenset[str]] = {}
    for name, action in config.actions.items():
        declared = frozenset(getattr(action.action_class, "secret_options", frozenset()))
        declared_by_action[name] = declared
        found.update(_secret_values(action.options, declared))
    for rule in getattr(config, "rules", ()):
        for item in getattr(rule, "do", ()):
            declared = declared_by_action.get(getattr(item, "action", ""), frozenset())
            found.update(_secret_values(getattr(item, "inputs", {}) or {}, declared))
    return {s for s in found if not _is_template(s)}


def settings_secrets(settings: Any) -> tuple[str | None, ...]:
    """The secrets the environment gives beside the config: the admin token, the DB password."""
    return (getattr(settings, "admin_token", None), dsn_password(getattr(settings, "db", None)))


def dsn_password(dsn: str | None) -> str | None:
    """The password of a database URL (`postgresql://user:pass@host/db`), if it has one."""
    if not dsn or "://" not in dsn:
        return None
    try:
        return urlsplit(dsn).password
    except ValueError:
        return None


def _secret_values(options: Mapping[str, Any], declared: frozenset[str]) -> Iterator[str]:
    yield from _basic_pairs(options)
    for key, value in options.items():
        if key in declared or is_secret_key(key):
            yield from _strings(value)
        elif isinstance(value, Mapping):
            yield from _secret_values(value, frozenset())
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Mapping):
                    yield from _secret_values(item, frozenset())


def _attributes(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return dict(vars(value))


def _basic_pairs(options: Mapping[str, Any]) -> Iterator[str]:
    """base64(`user:password`) for a mapping holding both: what basic auth sends."""
    users = [v for k, v in options.items() if isinstance(k, str) and _is_user_key(k)]
    passwords = [v for k, v in options.items() if is_secret_key(k) and isinstance(v, str)]
    for user in users:
        for password in passwords:
            if isinstance(user, str) and user and password:
                yield base64.b64encode(f"{user}:{password}".encode()).decode()


def _is_user_key(key: str) -> bool:
    words = key_words(key)
    return bool(words) and words[-1] in USER_WORDS


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
