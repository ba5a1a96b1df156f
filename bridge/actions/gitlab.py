"""`gitlab_trigger`: start a GitLab CI pipeline with a pipeline trigger token."""

from __future__ import annotations

from urllib.parse import quote

from pydantic import Field, field_validator

from bridge.actions.base import Action, ActionOptions, Call, Success
from bridge.actions.buildhooks import BUILD_DEFAULTS
from bridge.actions.httputil import check_templated_origins, check_url_template, request


class GitlabTriggerOptions(ActionOptions):
    project: str = Field(min_length=1)  # numeric id or "group/project" (URL-encoded for you)
    token: str
    ref: str = "main"
    variables: dict[str, str] = Field(default_factory=dict)
    api_url: str = "https://gitlab.com/api/v4"

    @field_validator("api_url")
    @classmethod
    def _literal_origin(cls, value: str) -> str:
        return check_url_template(value, option="api_url")


class GitlabTriggerAction(Action[GitlabTriggerOptions]):
    Options = GitlabTriggerOptions
    defaults = BUILD_DEFAULTS
    secret_options = frozenset({"token"})
    summary = "Trigger a GitLab CI pipeline (debounced: 60s, max_wait 10m)."

    async def send(self, call: Call[GitlabTriggerOptions]) -> Success:
        check_templated_origins(call, "api_url")
        options = call.options
        form = {"token": options.token, "ref": options.ref}
        form |= {f"variables[{key}]": value for key, value in options.variables.items()}
        project = quote(options.project, safe="")
        return await request(
            self.resources.http,
            "POST",
            f"{options.api_url.rstrip('/')}/projects/{project}/trigger/pipeline",
            what=f"{self.name} (GitLab)",
            data=form,
        )
