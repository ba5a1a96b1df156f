"""Endpoint options: the options that say where an action connects, and so where its secrets go.

An action declares them in `Action.endpoint_options` (option name as written -> kind):

- `"url"`: a URL whose path and query a template may fill; the scheme and host are written
  literally. After rendering, the URL must keep that scheme and host, and its path, decoded and
  with dot segments resolved, must stay under the template's literal path.
- `"host"`: a host name, port or list of base URLs; no template at all.

The config check (`bridge check`, start, reload) and the worker's send-time guard read the
declaration, so a plugin that declares its endpoint options gets both without code of its own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from bridge.actions.base import EndpointKind, PermanentFailure

if TYPE_CHECKING:
    from bridge.actions.base import Action, Call

TEMPLATE_MARKERS = ("{{", "{%", "{#")

URL_TEMPLATED_HOST = (
    "a template may fill the path or query only; "
    "write the scheme and host literally (https://host/...{{ ... }})"
)
URL_SCHEME = "must start with http:// or https:// written literally"
URL_NO_HOST = "has no host"
HOST_TEMPLATED = "names where the bridge connects, so it may not be templated; write it literally"


def is_template(value: object) -> bool:
    return isinstance(value, str) and any(marker in value for marker in TEMPLATE_MARKERS)


def static_prefix(template: str) -> str:
    """The part of a template before its first Jinja tag."""
    cut = min((i for i in (template.find(m) for m in TEMPLATE_MARKERS) if i >= 0), default=-1)
    return template if cut < 0 else template[:cut]


def url_problem(value: str) -> str | None:
    """Why a (possibly templated) URL cannot be a target, or None: the load-time rule."""
    prefix = static_prefix(value)
    parts = urlsplit(prefix)
    if parts.scheme not in ("http", "https"):
        return URL_SCHEME
    if prefix != value:
        rest = prefix[len(parts.scheme) + 3 :]
        if not parts.netloc or not any(sep in rest for sep in "/?#"):
            return URL_TEMPLATED_HOST
    elif not parts.netloc:
        return URL_NO_HOST
    return None


def templated_parts(value: Any) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every templated string inside `value`, with its relative path."""
    if is_template(value):
        yield (), value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            for path, source in templated_parts(item):
                yield (key, *path), source
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            for path, source in templated_parts(item):
                yield (index, *path), source


def load_problems(kind: EndpointKind, value: Any) -> list[tuple[tuple[str | int, ...], str]]:
    """(relative path, message) for each templated part of an endpoint option that is refused.

    Only templated values are judged here: literal values are the options model's to check.
    """
    problems = []
    for path, source in templated_parts(value):
        if kind == "host":
            problems.append((path, HOST_TEMPLATED))
        else:
            problem = url_problem(source)
            if problem:
                problems.append((path, problem))
    return problems


def normalised_path(path: str) -> str:
    """The path a server would see: percent-decoded (up to three times), `\\` as `/`, and
    `.`/`..` segments resolved (`..;x` counts as `..`, as some servers read it)."""
    text = path
    for _ in range(3):
        decoded = unquote(text)
        if decoded == text:
            break
        text = decoded
    segments = text.replace("\\", "/").split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        core = segment.split(";", 1)[0]
        last = index == len(segments) - 1
        if core in (".", ".."):
            if core == ".." and len(out) > 1:
                out.pop()
            if last:
                out.append("")
            continue
        out.append(segment)
    joined = "/".join(out)
    return joined if joined.startswith("/") else "/" + joined


def check_url(template: str, rendered: str, *, option: str) -> None:
    """Send time: the rendered URL keeps the template's literal scheme and host, and its path
    stays under the template's literal path; otherwise a permanent failure."""
    if not is_template(template):
        return
    prefix = static_prefix(template)
    expected, got = urlsplit(prefix), urlsplit(rendered)
    if (got.scheme, got.netloc) != (expected.scheme, expected.netloc):
        raise PermanentFailure(
            f"{option}: rendered URL changes the scheme or host "
            f"({got.scheme}://{got.netloc} instead of {expected.scheme}://{expected.netloc})"
        )
    problem = url_problem(rendered)
    if problem:
        raise PermanentFailure(f"{option} {problem}")
    fixed = normalised_path(expected.path or "/")
    path = normalised_path(got.path or "/")
    # A template in the query (or fragment) leaves the path as written; else it may extend it.
    inside = path == fixed if ("?" in prefix or "#" in prefix) else path.startswith(fixed)
    if not inside:
        # No path in the message: a hook URL's path is its credential.
        raise PermanentFailure(
            f"{option}: the rendered path leaves the template's literal path "
            "(a '..' segment, possibly percent-encoded, or a backslash); refused"
        )


def check_host(template: Any, *, option: str) -> None:
    """Send time: a host option reached the call through a template (a plugin's own config,
    or a `with:` the load check did not see): refused before anything connects."""
    if any(True for _ in templated_parts(template)):
        raise PermanentFailure(f"{option} {HOST_TEMPLATED}")


def check_call(call: Call[Any], action_class: type[Action[Any]]) -> None:
    """The send-time guard over every declared endpoint option of the call and its items."""
    endpoints: Mapping[str, EndpointKind] = getattr(action_class, "endpoint_options", {})
    for option, kind in endpoints.items():
        template = call.templates.get(option)
        if template is None:
            continue
        if kind == "host":
            check_host(template, option=option)
            continue
        if not isinstance(template, str):
            continue
        attribute = _attribute(call.options, option)
        for options in (call.options, *(item.options for item in call.items)):
            rendered = getattr(options, attribute, None)
            if isinstance(rendered, str):
                check_url(template, rendered, option=option)


def _attribute(options: Any, option: str) -> str:
    """The model attribute behind an option name as written (`from` -> `sender`)."""
    for name, info in type(options).model_fields.items():
        if info.alias == option:
            return str(name)
    return option
