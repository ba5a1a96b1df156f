"""Run one real bridge read against a URL in a fresh process and report its peak memory growth.

`python -m tests.actions.memory_probe http|delivery|slack|slack_webhook|algolia URL` prints
one JSON object: the growth of
the peak resident set (VmHWM, reset just before the call through /proc/self/clear_refs), the
outcome, and the response as the store would keep it. A separate process, so that nothing the
test process (or its server) allocated is counted.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
from typing import Any

import aiohttp

from bridge.actions.algolia import AlgoliaAction, AlgoliaOptions
from bridge.actions.base import (
    Action,
    ActionOptions,
    Call,
    Item,
    PermanentFailure,
    Resources,
    Retry,
)
from bridge.actions.http import HttpAction, HttpOptions
from bridge.actions.httputil import client_session
from bridge.actions.slack import SlackAction, SlackOptions
from bridge.delivery.records import excerpt
from bridge.kontent.client import DeliveryClient
from tests.fakes.events import make_event


def _status_kib(name: str) -> int:
    with open("/proc/self/status") as status:
        found = re.search(rf"^{name}:\s+(\d+) kB", status.read(), re.MULTILINE)
    assert found is not None
    return int(found.group(1))


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS


async def _send(
    action: Action[Any], options: ActionOptions, event_fields: dict[str, Any] | None = None
) -> Any:
    call = Call(
        delivery_id="dlv-probe",
        action="probe",
        options=options,
        items=(Item(make_event(**(event_fields or {})), options),),
        templates={},
    )
    try:
        return await action.send(call)
    finally:
        await action.close()


async def _http(http: aiohttp.ClientSession, url: str) -> Any:
    options = HttpOptions.model_validate({"url": url, "method": "GET"})
    return await _send(HttpAction("probe", Resources(http=http)), options)


async def _slack(http: aiohttp.ClientSession, url: str) -> Any:
    values = {"token": "xoxb-probe", "channel": "#probe", "base_url": url + "/api/"}
    options = SlackOptions.model_validate(values)
    return await _send(SlackAction("probe", Resources(http=http)), options)


async def _slack_webhook(http: aiohttp.ClientSession, url: str) -> Any:
    options = SlackOptions.model_validate({"webhook_url": url + "/services/T/B/X"})
    return await _send(SlackAction("probe", Resources(http=http)), options)


async def _algolia(http: aiohttp.ClientSession, url: str) -> Any:
    values = {"app_id": "APPID", "api_key": "key", "index": "probe", "hosts": [url]}
    options = AlgoliaOptions.model_validate(values)
    action = AlgoliaAction("probe", Resources(http=http))
    return await _send(action, options, {"action": "deleted"})  # a delete: no content fetch


async def _delivery(http: aiohttp.ClientSession, url: str) -> Any:
    client = DeliveryClient(http, url, url)
    return await client.fetch_item("env-1", "item-1", "en", preview=False)


async def main(mode: str, url: str) -> dict[str, Any]:
    async with client_session() as http:  # as the runtime's session
        run = MODES[mode]
        _reset_peak()
        before = _status_kib("VmHWM")
        outcome: dict[str, Any]
        try:
            result = await run(http, url)
        except (Retry, PermanentFailure) as exc:
            outcome = {"kind": type(exc).__name__, "reason": exc.reason}
            outcome["stored"] = excerpt(exc.response)
        except Exception as exc:  # what the worker would retry; reported, so peak is still seen
            outcome = {"kind": type(exc).__name__, "reason": str(exc)[:500], "stored": None}
        else:
            outcome = {"kind": "Success", "reason": None}
            outcome["stored"] = excerpt(getattr(result, "response", None) or str(result)[:4096])
        outcome["peak_delta_bytes"] = (_status_kib("VmHWM") - before) * 1024
    return outcome


MODES = {
    "http": _http,
    "delivery": _delivery,
    "slack": _slack,
    "slack_webhook": _slack_webhook,
    "algolia": _algolia,
}

if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
