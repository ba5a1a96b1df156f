"""Run one real bridge read against a URL in a fresh process and report its peak memory growth.

`python -m tests.actions.memory_probe http|delivery URL` prints one JSON object: the growth of
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

from bridge.actions.base import Call, Item, PermanentFailure, Resources, Retry
from bridge.actions.http import HttpAction, HttpOptions
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


async def _http(http: aiohttp.ClientSession, url: str) -> Any:
    options = HttpOptions.model_validate({"url": url, "method": "GET"})
    call = Call(
        delivery_id="dlv-probe",
        action="probe",
        options=options,
        items=(Item(make_event(), options),),
        templates={},
    )
    return await HttpAction("probe", Resources(http=http)).send(call)


async def _delivery(http: aiohttp.ClientSession, url: str) -> Any:
    client = DeliveryClient(http, url, url)
    return await client.fetch_item("env-1", "item-1", "en", preview=False)


async def main(mode: str, url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        run = _http if mode == "http" else _delivery
        _reset_peak()
        before = _status_kib("VmHWM")
        outcome: dict[str, Any]
        try:
            result = await run(http, url)
        except (Retry, PermanentFailure) as exc:
            outcome = {"kind": type(exc).__name__, "reason": exc.reason}
            outcome["stored"] = excerpt(exc.response)
        else:
            outcome = {"kind": "Success", "reason": None}
            outcome["stored"] = excerpt(getattr(result, "response", None) or str(result)[:4096])
        outcome["peak_delta_bytes"] = (_status_kib("VmHWM") - before) * 1024
    return outcome


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], sys.argv[2]))))
