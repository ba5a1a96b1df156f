"""Which names mark a credential: the by-name half of the one redaction policy (bridge.redaction).

A name is split into words (`X-Api-Key` -> x, api, key; `accessToken` -> access, token) and is a
credential when any word is one of `SECRET_WORDS` or its last word is one of `SECRET_LAST_WORDS`
(`json.key`, `api_key`, `X-Api-Key`, `private_key`, but not `keys` or `xkey_header`). The same
rule names a URL's credential query parameters, plus `SECRET_QUERY_NAMES`: names that carry a
credential in a URL but mean something else as a key (`status_code`, `error_code`).
"""

from __future__ import annotations

import functools
import re

REDACTED = "***"
# Shorter values would turn ordinary words into stars; such secrets are not worth hiding.
MIN_SECRET_LEN = 4

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
# Names that end in a credential word but hold none: the `Idempotency-Key` every HTTP action
# sends is the delivery id (kb-42), which the job page must show to be matched at the target.
NOT_SECRET_NAMES = frozenset({("idempotency", "key")})
# Words naming the user half of a user/password pair (HTTP basic auth, SMTP login).
USER_WORDS = frozenset({"user", "username", "login"})
# Query parameters that are credentials in URLs only: Azure Functions' `?code=`, Azure SAS and
# signed URLs' `sig`/`signature` (S3's `X-Amz-Signature` by its last word).
SECRET_QUERY_NAMES = frozenset({"code", "sig", "signature"})
_SECRET_QUERY_LAST_WORDS = frozenset({"sig", "signature"})

_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def key_words(key: str) -> list[str]:
    """`X-Api-Key` -> [x, api, key]; `accessToken` -> [access, token]."""
    return [w for w in _NON_WORD.split(_CAMEL.sub(r"\1_\2", key).lower()) if w]


def is_secret_key(key: object) -> bool:
    """Whether a mapping key names a credential (see the module docstring for the rule)."""
    if not isinstance(key, str):
        return False
    words = key_words(key)
    if tuple(words) in NOT_SECRET_NAMES:
        return False
    return bool(words) and (words[-1] in SECRET_LAST_WORDS or any(w in SECRET_WORDS for w in words))


@functools.lru_cache(maxsize=4096)
def is_secret_query_name(name: str) -> bool:
    """Whether a URL query (or fragment) parameter holds a credential; cached, since the same
    few names come with every redacted URL."""
    if is_secret_key(name) or name.lower() in SECRET_QUERY_NAMES:
        return True
    words = key_words(name)
    return bool(words) and words[-1] in _SECRET_QUERY_LAST_WORDS


def is_user_key(key: str) -> bool:
    words = key_words(key)
    return bool(words) and words[-1] in USER_WORDS
