"""`github_dispatch`: a repository_dispatch event, so a GitHub Actions workflow rebuilds.

`client_payload` defaults to the events' fields (no raw notification: GitHub caps the payload
at 10 top-level keys and a small size, and workflows rarely need more).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.buildhooks import BUILD_DEFAULTS
from bridge.actions.httputil import ApiUrlTemplate, api_endpoint, request

REPO_PATTERN = r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$"


class GithubDispatchOptions(ActionOptions):
    repo: str = Field(pattern=REPO_PATTERN)
    token: str
    event_type: str = Field(default="kontent-bridge", min_length=1, max_length=100)
    client_payload: dict[str, Any] | None = None
    api_url: ApiUrlTemplate = "https://api.github.com"


class GithubDispatchAction(Action[GithubDispatchOptions]):
    Options = GithubDispatchOptions
    defaults = BUILD_DEFAULTS
    secret_options = frozenset({"token"})
    endpoint_options = {"api_url": "url"}
    summary = "Send a GitHub repository_dispatch event (debounced: 60s, max_wait 10m)."

    async def send(self, call: Call[GithubDispatchOptions]) -> Success:
        options = call.options
        payload = options.client_payload
        if payload is None:
            payload = {"events": [event.fields() for event in call.events]}
        return await request(
            self.resources.http,
            "POST",
            api_endpoint(call, f"/repos/{options.repo}/dispatches"),
            what=f"{self.name} (GitHub)",
            headers={
                "Authorization": f"Bearer {options.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            },
            json={"event_type": options.event_type, "client_payload": payload},
        )
