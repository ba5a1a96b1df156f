"""Endpoint options: content never chooses where an action connects (and so where secrets go).

Every built-in action declares its endpoint options; `bridge check` refuses a template that
could choose a host, and the send-time guard refuses a rendered URL that leaves the scheme, host
or literal path its template wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from bridge.actions import endpoints
from bridge.actions.base import Action, ActionOptions, Call, PermanentFailure, Resources, Success
from bridge.actions.registry import action_types
from bridge.app import create_app
from bridge.cli import main
from bridge.config import ConfigError, load_config
from bridge.delivery.opening import open_store
from bridge.settings import Settings
from bridge.signatures import sign
from tests.admin.harness import eventually
from tests.fakes.events import MakeCall
from tests.fakes.server import Recorder

pytestmark = pytest.mark.timeout(30)

# The other options each built-in needs to load (per type, or per type and endpoint option).
OTHERS: dict[str, dict[str, Any]] = {
    "http": {},
    "netlify": {},
    "vercel": {},
    "cloudflare_pages": {},
    "github_dispatch": {"repo": "a/b", "token": "gh-token-1234"},
    "gitlab_trigger": {"project": "1", "token": "gl-token-1234"},
    "slack:base_url": {"token": "xoxb-1234", "channel": "#c"},
    "slack:webhook_url": {"text": "hi"},
    "fastly": {"service_id": "S1", "token": "fastly-token-1", "keys": "k"},
    "cloudflare": {"zone_id": "z1", "token": "cf-token-1234", "tags": "t"},
    "varnish": {"purge_urls": "/x"},
    "algolia": {"app_id": "APP", "api_key": "algolia-key-1", "index": "i"},
    "email": {"host": "smtp.example.com", "from": "a@b.example", "to": ["c@d.example"]},
    "azure_search": {"endpoint": "https://s.search.windows.net", "api_key": "az-1", "index": "i1"},
    "translate": {"deepl_auth_key": "deepl-key-1", "languages": {"de-DE": "DE"}},
    "trello": {"key": "trello-key-1", "token": "trello-token-1", "list_id": "l1"},
    "bluesky": {"identifier": "a.example", "password": "bsky-pass-1", "url": "https://e.example/"},
    "mastodon": {"api_base_url": "https://m.example", "access_token": "masto-1", "text": "t"},
}
# Options whose names suggest a place but that do not say where the bridge connects.
NOT_ENDPOINTS = {
    ("cloudflare", "hosts"): "host names whose cached files Cloudflare purges",
    ("varnish", "host"): "the Host header of path-only purge_urls; requests go to `url`",
    ("varnish", "purge_urls"): "only their path and host header are used; requests go to `url`",
    ("bluesky", "url"): "the link card's target, written into the post; never fetched",
    ("mastodon", "url"): "the item's link, the default dedupe marker; never fetched",
}
PLACE_NAME = re.compile(r"(^|_)(url|urls|host|hosts|port|app_id)$")


def builtins() -> dict[str, type[Action[Any]]]:
    return {n: t for n, t in action_types().items() if t.__module__.startswith("bridge.actions.")}


def endpoint_options(kind: str) -> Iterator[tuple[str, str]]:
    for name, action_class in sorted(builtins().items()):
        for option, declared in action_class.endpoint_options.items():
            if declared == kind:
                yield name, option


def others(type_name: str, option: str) -> dict[str, Any]:
    found = OTHERS.get(f"{type_name}:{option}", OTHERS.get(type_name))
    assert found is not None, f"add the options {type_name!r} needs to OTHERS"
    return {k: v for k, v in found.items() if k != option}


URL_OPTIONS = list(endpoint_options("url"))
HOST_OPTIONS = list(endpoint_options("host"))


def test_every_option_that_names_a_place_is_declared_or_explained() -> None:
    for type_name, action_class in builtins().items():
        fields = action_class.Options.model_fields
        for field_name, info in fields.items():
            option = info.alias or field_name
            if not PLACE_NAME.search(option) or (type_name, option) in NOT_ENDPOINTS:
                continue
            assert option in action_class.endpoint_options, f"{type_name}.{option} undeclared"
    assert ("http", "url") in URL_OPTIONS and ("email", "host") in HOST_OPTIONS
    assert ("algolia", "hosts") in HOST_OPTIONS


def config_text(type_name: str, option: str, value: str, extra: dict[str, Any]) -> str:
    """The endpoint option on line 7, in block style; the others in a flow mapping below it.
    Not debounced (build hooks are by default), so that `event` in a template is fine."""
    lines = [
        "version: 1",
        "webhooks:",
        "  - {name: w, path: /w, secrets: [webhook-secret-1]}",
        "actions:",
        "  target:",
        f"    type: {type_name}",
        f"    {option}: {value}",
        *(f"    {key}: {json.dumps(v)}" for key, v in extra.items()),
        "    debounce: null",
        "    max_wait: null",
        "rules:",
        "  - name: r",
        "    when: {object_type: content_item}",
        "    do: [target]",
    ]
    return "\n".join(lines) + "\n"


def check(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[int, list[str]]:
    code = main(["check", str(path)])
    return code, capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(("type_name", "option"), URL_OPTIONS)
def test_check_refuses_a_templated_host_in_every_url_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, type_name: str, option: str
) -> None:
    path = tmp_path / "rules.yaml"
    value = '"https://{{ event.codename }}.evil.example/x"'
    path.write_text(config_text(type_name, option, value, others(type_name, option)))
    code, lines = check(capsys, path)
    column = len(f"    {option}: ") + 1
    assert code == 1
    assert lines == [
        f"error: {path}: 1 error(s):",
        f"{path}:7:{column}: actions.target.{option}: action 'target' option '{option}': "
        "a template may fill the path or query only; write the scheme and host literally "
        "(https://host/...{{ ... }})",
    ]


@pytest.mark.parametrize(("type_name", "option"), URL_OPTIONS)
def test_check_accepts_a_template_in_the_path_of_every_url_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, type_name: str, option: str
) -> None:
    path = tmp_path / "rules.yaml"
    value = '"https://api.example.com/base/{{ event.codename }}"'
    path.write_text(config_text(type_name, option, value, others(type_name, option)))
    code, lines = check(capsys, path)
    assert code == 0, lines


HOST_VALUES = {
    ("algolia", "hosts"): ('["https://{{ event.codename }}.evil.example"]', "[0]", 1),
    ("algolia", "app_id"): ('"{{ event.codename }}"', "", 0),
    ("email", "host"): ('"{{ event.raw.smtp_host }}"', "", 0),
    ("email", "port"): ('"{{ event.raw.port }}"', "", 0),
    ("azure_search", "endpoint"): ('"https://{{ event.codename }}.search.windows.net"', "", 0),
    ("translate", "deepl_server_url"): ('"https://{{ event.raw.host }}"', "", 0),
    ("translate", "management_url"): ('"https://{{ event.raw.host }}/v2"', "", 0),
    ("trello", "api_url"): ('"https://{{ event.raw.host }}"', "", 0),
    ("bluesky", "base_url"): ('"https://{{ event.raw.host }}"', "", 0),
    ("mastodon", "api_base_url"): ('"https://{{ event.raw.host }}"', "", 0),
}


@pytest.mark.parametrize(("type_name", "option"), HOST_OPTIONS)
def test_check_refuses_any_template_in_a_host_option(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, type_name: str, option: str
) -> None:
    value, sub, indent = HOST_VALUES[(type_name, option)]
    path = tmp_path / "rules.yaml"
    path.write_text(config_text(type_name, option, value, others(type_name, option)))
    code, lines = check(capsys, path)
    column = len(f"    {option}: ") + 1 + indent
    assert code == 1
    assert lines[1:] == [
        f"{path}:7:{column}: actions.target.{option}{sub}: action 'target' option '{option}': "
        "names where the bridge connects, so it may not be templated; write it literally"
    ]


def test_check_refuses_a_templated_host_given_in_with(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(
        "version: 1\n"
        "webhooks:\n"
        "  - {name: w, path: /w, secrets: [webhook-secret-1]}\n"
        "actions:\n"
        "  mail: {type: email, host: smtp.example.com, from: a@b.example, to: [c@d.example]}\n"
        "rules:\n"
        "  - name: r\n"
        "    when: {object_type: content_item}\n"
        "    do:\n"
        '      - {action: mail, with: {host: "{{ event.raw.host }}"}}\n'
    )
    code, lines = check(capsys, path)
    assert code == 1
    assert lines[1:] == [
        f"{path}:10:37: rules[0].do[0].with.host: action 'mail' option 'host': "
        "names where the bridge connects, so it may not be templated; write it literally"
    ]


CLIMBS = [
    "../../admin",
    "%2e%2e/%2e%2e/admin",
    "%2E%2E/%2E%2E/admin",
    ".%2e/.%2e/admin",
    "..%2f..%2fadmin",
    "..%5c..%5cadmin",
    "..\\..\\admin",
    "%252e%252e%252f%252e%252e%252fadmin",
    "..;/..;/admin",
]


@pytest.mark.parametrize("climb", CLIMBS)
@pytest.mark.parametrize(("type_name", "option"), URL_OPTIONS)
async def test_a_rendered_path_that_climbs_out_is_a_permanent_failure(
    resources: Resources, make_call: MakeCall, type_name: str, option: str, climb: str
) -> None:
    action = builtins()[type_name]
    async with Recorder() as target:
        template = f"{target.url}/api/items/{{{{ event.codename }}}}"
        call = make_call(
            action,
            {**others(type_name, option), option: f"{target.url}/api/items/{climb}"},
            templates={option: template},
        )
        with pytest.raises(PermanentFailure, match="leaves the template's literal path"):
            endpoints.check_call(call, action)
        with pytest.raises(PermanentFailure, match="leaves the template's literal path"):
            await action("a", resources).send(call)
    assert target.requests == []


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("https://h.example/api/items/{{ x }}", "https://h.example/api/items/a/../b"),
        ("https://h.example/api/items/{{ x }}", "https://h.example/api/items/%2e%2e-not-a-dot"),
        ("https://h.example/hooks?item={{ x }}", "https://h.example/hooks?item=../../admin"),
        ("https://h.example/{{ x }}", "https://h.example/../../admin"),  # "/" is the prefix
    ],
)
def test_paths_that_stay_under_the_literal_path_pass(template: str, rendered: str) -> None:
    endpoints.check_url(template, rendered, option="url")


@pytest.mark.parametrize(
    ("template", "rendered"),
    [
        ("https://h.example/hooks?item={{ x }}", "https://h.example/other?item=1"),
        ("https://h.example/hooks/build-{{ x }}", "https://h.example/hooks/build-/../../admin"),
        ("https://h.example/a/{{ x }}", "https://h.example/a/%2e%2e"),
    ],
)
def test_paths_that_leave_the_literal_path_fail(template: str, rendered: str) -> None:
    with pytest.raises(PermanentFailure, match="literal path"):
        endpoints.check_url(template, rendered, option="url")


def test_a_host_option_that_reached_a_call_through_a_template_is_refused(
    make_call: MakeCall,
) -> None:
    action = builtins()["email"]
    call = make_call(
        action,
        {**others("email", "host"), "host": "evil.example"},
        templates={"host": "{{ event.raw.smtp }}"},
    )
    with pytest.raises(PermanentFailure, match="may not be templated"):
        endpoints.check_call(call, action)


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/a/b/../c", "/a/c"),
        ("/a/%2e%2e/c", "/c"),
        ("/a/b/..", "/a/"),
        ("/../../x", "/x"),
        ("\\a\\..\\b", "/b"),
        ("/a/./b/", "/a/b/"),
    ],
)
def test_normalised_path(path: str, expected: str) -> None:
    assert endpoints.normalised_path(path) == expected


class BeaconOptions(ActionOptions):
    url: str
    token: str


class Beacon(Action[BeaconOptions]):
    """A plugin that trusts its options: only its declaration protects it."""

    Options = BeaconOptions
    secret_options = frozenset({"token"})
    endpoint_options = {"url": "url"}

    async def send(self, call: Call[BeaconOptions]) -> Success:
        headers = {"Authorization": f"Bearer {call.options.token}"}
        async with self.resources.http.post(call.options.url, headers=headers) as resp:
            return Success(status=resp.status, response=await resp.text())


def beacon_rules(url: str) -> str:
    return (
        "version: 1\n"
        "webhooks:\n"
        "  - {name: production, path: /webhooks/kontent, secrets: [webhook-secret-1]}\n"
        "actions:\n"
        f'  beacon: {{type: beacon, url: "{url}", token: plugin-token-1}}\n'
        "rules:\n"
        "  - name: r\n"
        "    when: {object_type: content_item}\n"
        "    do: [beacon]\n"
    )


def test_a_plugin_that_declares_its_url_gets_the_load_check(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text(beacon_rules("https://{{ event.codename }}.evil.example/x"))
    with pytest.raises(ConfigError) as caught:
        load_config(path, {}, types={"beacon": Beacon})
    assert str(caught.value) == (
        f"{path}:5:31: actions.beacon.url: action 'beacon' option 'url': a template may fill "
        "the path or query only; write the scheme and host literally (https://host/...{{ ... }})"
    )


async def test_the_worker_refuses_a_plugins_rendered_url_that_climbs_out(tmp_path: Path) -> None:
    async with Recorder() as target:
        path = tmp_path / "rules.yaml"
        path.write_text(beacon_rules(f"{target.url}/api/items/{{{{ event.codename }}}}"))
        config = load_config(path, {}, types={"beacon": Beacon})
        store = open_store(f"sqlite:///{tmp_path}/bridge.db")
        await store.open()
        app = create_app(Settings(), config=config, store=store)
        try:
            async with (
                app.router.lifespan_context(app),
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=app), base_url="http://bridge"
                ) as client,
            ):
                for n, codename in enumerate(["..%2f..%2fadmin", "fine"]):
                    body = json.dumps(notification(n, codename)).encode()
                    headers = {
                        "Content-Type": "application/json",
                        "X-Kontent-ai-Signature": sign(body, "webhook-secret-1"),
                    }
                    answer = await client.post("/webhooks/kontent", content=body, headers=headers)
                    assert answer.status_code == 200, answer.text
                await target.wait_for(1)

                async def both_done() -> bool:
                    rows = await store.deliveries(limit=10)
                    return {r.state for r in rows} == {"dead", "succeeded"}

                await eventually(both_done)
                rows = {r.state: r for r in await store.deliveries(limit=10)}
        finally:
            await store.close()
    assert [r.path for r in target.requests] == ["/api/items/fine"]
    assert "leaves the template's literal path" in (rows["dead"].last_error or "")


def notification(n: int, codename: str) -> dict[str, Any]:
    system = {"id": f"item-{n}", "name": f"Item {n}", "codename": codename}
    message = {"object_type": "content_item", "action": "published"}
    return {"notifications": [{"data": {"system": system}, "message": message}]}
