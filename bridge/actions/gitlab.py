"""`gitlab_trigger`: start a GitLab CI pipeline with a pipeline trigger token."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import Field

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.buildhooks import BUILD_DEFAULTS
from bridge.actions.httputil import ApiUrlTemplate, api_endpoint, request


class GitlabTriggerOptions(ActionOptions):
    project: str = Field(min_length=1)  # numeric id or "group/project" (URL-encoded for you)
    token: str
    ref: str = "main"
    variables: dict[str, str] = Field(default_factory=dict)
    api_url: ApiUrlTemplate = "https://gitlab.com/api/v4"


class GitlabTriggerAction(Action[GitlabTriggerOptions]):
    Options = GitlabTriggerOptions
    defaults = BUILD_DEFAULTS
    secret_options = frozenset({"token"})
    endpoint_options = {"api_url": "url"}
    summary = "Trigger a GitLab CI pipeline (debounced: 60s, max_wait 10m)."

    async def send(self, call: Call[GitlabTriggerOptions]) -> Success:
        options = call.options
        form = {"token": options.token, "ref": options.ref}
        form |= {f"variables[{key}]": value for key, value in options.variables.items()}
        project = quote(options.project, safe="")
        return await request(
            self.resources.http,
            "POST",
            api_endpoint(call, f"/projects/{project}/trigger/pipeline"),
            what=f"{self.name} (GitLab)",
            data=form,
        )
