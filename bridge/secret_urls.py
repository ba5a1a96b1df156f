"""The credentials a URL carries: its user info and its credential-named query parameters.

Both halves of the one redaction policy (bridge.redaction) use them:

- `hide_in_text` hides them in any text without knowing one secret, so that a text nobody
  registered is covered too: a `bridge check` error quoting an option
  (`'https://svc.search.windows.net/?api-key=...'`), a connection error or a Location naming a
  URL, a target echoing its request line. A user info with a password, or a long one that is
  a token written as the user, becomes `***@` (`https://***@host/`; a user name alone, as in
  `postgresql://postgres@host/db`, stays), the value of a credential parameter
  (bridge.secret_names) `***` (`?code=***&page=2`).
- `credentials` lists their values, so that the redactor hides them by value as well, in every
  form they travel in: the query value a target echoes in its JSON, the `Basic` header aiohttp
  builds from the user info.
- `secret_url_parts` is what else a URL that is itself a secret (a build hook, a Slack
  webhook) gives away: its path, and the last segment of the path, where such URLs keep the key.
"""

from __future__ import annotations

import re
from urllib.parse import unquote, unquote_plus, urlsplit

from bridge.secret_names import MIN_SECRET_LEN, REDACTED, is_secret_query_name

# A secret URL's path is hidden on its own only when it is long enough to be the credential.
MIN_SECRET_PATH_LEN = 8
# A user info without a password is a token written as the user (`https://<token>@github.com`)
# when it is this long; a shorter one is a user name (`postgresql://postgres@host/db`).
MIN_TOKEN_USER_LEN = 16

# `://user:password@`, also JSON-escaped (`:\/\/user:password@`).
_USERINFO = re.compile(r":(\\?/\\?/)([^\s/?#@\"'<>\\]+)@")
# `?name=value`, `&name=value`, `#name=value` (a fragment's: OAuth's implicit flow sends
# `#access_token=`) and `;name=value`, with `&` also as HTML (`&amp;`) and JSON (`\u0026`)
# write it. One pattern per separator: a literal start lets the regex engine skip ahead to it
# (one pattern starting with a choice tries every position, 5-10 times slower).
_NAME_VALUE = r"([\w.\-\[\]%]+)=([^&\s#\"'<>\\]*)"
_PARAMS = {
    sep: re.compile(re.escape(sep) + prefix + _NAME_VALUE)
    for sep, prefix in (("?", ""), ("&", "(?:amp;)?"), ("#", ""), (";", ""), ("\\u0026", ""))
}


def hide_in_text(text: str) -> str:
    """`text` with every URL's user info and credential parameter values replaced by `***`."""
    if "@" in text and ":" in text:
        text = _USERINFO.sub(_hide_userinfo, text)
    if "=" in text:
        for sep, pattern in _PARAMS.items():
            if sep in text:
                text = pattern.sub(_hide_param, text)
    return text


def credentials(text: str) -> set[str]:
    """The credential values of every URL in `text`: each password of a user info with its
    `user:password` pair (what basic auth encodes), a long user info with no password (a token
    written as the user: `https://<token>@github.com`), and each credential parameter's value,
    as written and decoded."""
    found: set[str] = set()
    if "@" in text and ":" in text:
        for match in _USERINFO.finditer(text):
            user, _, password = match.group(2).partition(":")
            if password:
                found |= {password, unquote(password), f"{unquote(user)}:{unquote(password)}"}
            elif len(user) >= MIN_TOKEN_USER_LEN:
                found |= {user, unquote(user)}
    if "=" in text:
        for sep, pattern in _PARAMS.items():
            if sep not in text:
                continue
            for match in pattern.finditer(text):
                value = match.group(2)
                if value and _secret_name(match.group(1)):
                    found |= {value, unquote_plus(value)}
    return {f for f in found if len(f) >= MIN_SECRET_LEN and f != REDACTED}


def secret_url_parts(value: str) -> set[str]:
    """What a secret URL gives away besides itself: the password of its user info, its path
    (with and without the query) when long enough to be the credential, and the path's last
    segment when it looks like a key (8 characters or more, holding a digit: a Netlify or
    Vercel hook id, the last part of a Slack webhook URL)."""
    if "://" not in value:
        return set()
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return set()
    found = {password} if password else set()
    if not parts.netloc:
        return found
    path = parts.path
    for candidate in (path, path + (f"?{parts.query}" if parts.query else "")):
        if len(candidate) >= MIN_SECRET_PATH_LEN:
            found.add(candidate)
    last = path.rstrip("/").rsplit("/", 1)[-1]
    if len(last) >= MIN_SECRET_PATH_LEN and any(c.isdigit() for c in last):
        found.add(last)
    return found


def _secret_name(name: str) -> bool:
    return is_secret_query_name(unquote(name) if "%" in name else name)


def _hide_userinfo(match: re.Match[str]) -> str:
    """`user:password@` or a token as the user become `***@`; a user name alone stays."""
    info = match.group(2)
    if info == REDACTED or (":" not in info and len(info) < MIN_TOKEN_USER_LEN):
        return match.group(0)
    return f":{match.group(1)}{REDACTED}@"


def _hide_param(match: re.Match[str]) -> str:
    value = match.group(2)
    if not value or value == REDACTED or not _secret_name(match.group(1)):  # by name: any length
        return match.group(0)
    return match.group(0)[: match.start(2) - match.start()] + REDACTED
