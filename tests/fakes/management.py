"""A fake Kontent.ai Management API v2: workflow and language listings, types, variants.

Variants: `GET|PUT /v2/projects/{env}/items/{item}/variants/codename/{language}` (read the
latest variant, upsert elements by codename) and `PUT .../change-workflow`, answered in the
documented shapes (elements by id, the workflow as workflow and step ids). Types:
`GET /v2/projects/{env}/types/codename/{type}` and `/types/{id}`; snippets:
`GET /v2/projects/{env}/snippets/{id}` (a type's `snippet` element stands for the snippet's
elements, which variants list by their own ids). An upsert's rich-text components are checked
as the API checks them: each names a known type by id and only that type's elements.
"""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer, Scripted

DEFAULT_ID = "00000000-0000-0000-0000-000000000000"


def step(id: str, codename: str, name: str | None = None) -> dict[str, Any]:
    return {"id": id, "name": name or codename.title(), "codename": codename}


def workflow(
    codename: str,
    *,
    id: str = DEFAULT_ID,
    steps: list[dict[str, Any]],
    published: dict[str, Any],
    archived: dict[str, Any],
) -> dict[str, Any]:
    """A workflow object shaped like the Management API's (`GET .../workflows` lists them)."""
    return {
        "id": id,
        "name": codename.title(),
        "codename": codename,
        "scopes": [],
        "steps": [{**s, "transitions_to": []} for s in steps],
        "published_step": {
            **published,
            "unpublish_role_ids": [],
            "create_new_version_role_ids": [],
        },
        "archived_step": {**archived, "role_ids": []},
    }


def language(id: str, codename: str, *, default: bool = False) -> dict[str, Any]:
    return {
        "id": id,
        "name": codename,
        "codename": codename,
        "is_active": True,
        "is_default": default,
        "fallback_language": {"id": DEFAULT_ID},
    }


class FakeManagement(FakeServer):
    """`/v2/projects/{env}/workflows` and `/languages`, Bearer `key` required.

    Languages are served `page_size` at a time with a continuation token, as the real API pages
    them; `environments[env] = (workflows, languages)` sets what an environment holds.
    """

    def __init__(self, key: str = "management-key", page_size: int = 100) -> None:
        super().__init__()
        self.key = key
        self.page_size = page_size
        self.environments: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self.stalled = False  # answer nothing until released (timeouts)
        self.released = asyncio.Event()

        # Content: types[(env, codename)], item_types[(env, item id)] = type codename,
        # variants[(env, item id, language codename)] = the variant object.
        self.types: dict[tuple[str, str], dict[str, Any]] = {}
        self.snippets: dict[tuple[str, str], dict[str, Any]] = {}  # (env, snippet id)
        self.item_types: dict[tuple[str, str], str] = {}
        self.variants: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.upserts: list[tuple[str, str, dict[str, Any]]] = []  # (item, language, body)
        self.moves: list[tuple[str, str, str, str]] = []  # (item, language, workflow, step)
        self._ticks = itertools.count(1)
        self.faults: list[tuple[str, str, Scripted]] = []  # (method, path suffix, answer)

    def fail_request(
        self, method: str, path_suffix: str, status: int, headers: dict[str, str] | None = None
    ) -> None:
        """The next `method` request whose path ends with `path_suffix` gets `status`."""
        self.faults.append(
            (method, path_suffix, Scripted(status, {"message": "scripted"}, headers or {}))
        )

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/v2/projects/{env}/workflows", self._workflows)
        app.router.add_get("/v2/projects/{env}/languages", self._languages)
        app.router.add_get("/v2/projects/{env}/types/codename/{type}", self._type)
        app.router.add_get("/v2/projects/{env}/types/{id}", self._type_by_id)
        app.router.add_get("/v2/projects/{env}/snippets/{id}", self._snippet)
        variant = "/v2/projects/{env}/items/{item}/variants/codename/{language}"
        app.router.add_get(variant, self._get_variant)
        app.router.add_put(variant, self._upsert_variant)
        app.router.add_put(variant + "/change-workflow", self._change_workflow)

    # -- content set-up --------------------------------------------------------------------------
    def add_type(self, env: str, codename: str, elements: dict[str, str]) -> None:
        """`elements`: codename -> kind ("text", "rich_text", "number", ...); ids derived."""
        self.types[(env, codename)] = {
            "id": f"type-{codename}",
            "codename": codename,
            "elements": [
                {"id": f"el-{name}", "codename": name, "type": kind, "name": name.title()}
                for name, kind in elements.items()
            ],
        }

    def put_type(self, env: str, found: dict[str, Any]) -> None:
        """A content type object as the API answers it (ids and codenames its own)."""
        self.types[(env, found["codename"])] = found

    def put_snippet(self, env: str, found: dict[str, Any]) -> None:
        self.snippets[(env, found["id"])] = found

    def add_variant(
        self,
        env: str,
        item: str,
        language: str,
        type_codename: str,
        values: dict[str, Any],
        *,
        last_modified: str = "2026-11-30T10:00:00.1234567Z",
        step_id: str | None = None,
    ) -> dict[str, Any]:
        self.item_types[(env, item)] = type_codename
        variant = {
            "item": {"id": item},
            "language": {"id": self._language_id(env, language)},
            "last_modified": last_modified,
            "workflow": {
                "workflow_identifier": {"id": DEFAULT_ID},
                "step_identifier": {"id": step_id or self._first_step(env)},
            },
            "elements": [],
        }
        self.variants[(env, item, language)] = variant
        if (problem := self._set_elements(env, type_codename, variant, values)) is not None:
            raise ValueError(problem)  # a test's set-up the API would refuse
        return variant

    def value(self, env: str, item: str, language: str, element: str) -> Any:
        variant = self.variants[(env, item, language)]
        for value in variant["elements"]:
            if value["element"]["id"] == f"el-{element}":
                return value["value"]
        return None

    def step_of(self, env: str, item: str, language: str) -> str | None:
        """The codename of the step the variant is in."""
        step_id = self.variants[(env, item, language)]["workflow"]["step_identifier"]["id"]
        for flow in self.environments.get(env, ([], []))[0]:
            for found in [*flow["steps"], flow["published_step"], flow["archived_step"]]:
                if found["id"] == step_id:
                    return str(found["codename"])
        return None

    def _language_id(self, env: str, codename: str) -> str:
        for found in self.environments.get(env, ([], []))[1]:
            if found["codename"] == codename:
                return str(found["id"])
        return codename

    def _is_default(self, env: str, codename: str) -> bool:
        """The environment's default language (with no languages set up: `default`)."""
        languages = self.environments.get(env, ([], []))[1]
        if not languages:
            return codename == "default"
        return any(found["codename"] == codename and found["is_default"] for found in languages)

    def _non_localizable(self, env: str, type_codename: str, values: dict[str, Any]) -> str | None:
        """The first element of `values` the type marks `is_non_localizable`."""
        for element in self._elements(env, self.types[(env, type_codename)]):
            if element.get("is_non_localizable") and element["codename"] in values:
                return str(element["codename"])
        return None

    def _first_step(self, env: str) -> str:
        flows = self.environments.get(env, ([], []))[0]
        return str(flows[0]["steps"][0]["id"]) if flows and flows[0]["steps"] else DEFAULT_ID

    def _set_elements(
        self, env: str, type_codename: str, variant: dict[str, Any], values: dict[str, Any]
    ) -> str | None:
        """Replace the given elements (by codename); the problem, if an element is unknown."""
        known = {e["codename"]: e for e in self._elements(env, self.types[(env, type_codename)])}
        current = {v["element"]["id"]: v for v in variant["elements"]}
        for codename, value in values.items():
            element = known.get(codename)
            if element is None:
                return f"The element '{codename}' does not exist in the content type."
            entry = {"element": {"id": element["id"]}, "value": value}
            if element["type"] == "rich_text":
                if isinstance(value, dict):
                    if problem := self._components_problem(env, value.get("components")):
                        return problem
                    entry = {"element": {"id": element["id"]}, **value}
                else:
                    entry["components"] = []
            current[element["id"]] = entry
        variant["elements"] = list(current.values())
        return None

    def _elements(self, env: str, found: dict[str, Any]) -> list[dict[str, Any]]:
        """A type's elements with each `snippet` element expanded into the snippet's."""
        out = []
        for element in found["elements"]:
            if element["type"] == "snippet":
                out.extend(self.snippets[(env, element["snippet"]["id"])]["elements"])
            else:
                out.append(element)
        return out

    def _components_problem(self, env: str, components: Any) -> str | None:
        for component in components or []:
            type_id = (component.get("type") or {}).get("id")
            found = next(
                (t for (e, _), t in self.types.items() if e == env and t["id"] == type_id), None
            )
            if not component.get("id") or found is None:
                return f"The component {component.get('id')!r} has no valid content type."
            ids = {e["id"] for e in self._elements(env, found)}
            for value in component.get("elements", []):
                if value["element"].get("id") not in ids:
                    return f"The element {value['element']!r} is not in the component's type."
                if problem := self._components_problem(env, value.get("components")):
                    return problem
        return None

    def _now(self) -> str:
        when = datetime(2026, 12, 1, tzinfo=UTC) + timedelta(seconds=next(self._ticks))
        return when.strftime("%Y-%m-%dT%H:%M:%S.0000000Z")

    # -- content routes --------------------------------------------------------------------------
    async def _type(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        found = self.types.get((request.match_info["env"], request.match_info["type"]))
        if found is None:
            return _error(404, 107, "The requested content type was not found.")
        return web.json_response(found)

    async def _type_by_id(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        env, type_id = request.match_info["env"], request.match_info["id"]
        for (found_env, _), found in self.types.items():
            if found_env == env and found["id"] == type_id:
                return web.json_response(found)
        return _error(404, 107, "The requested content type was not found.")

    async def _snippet(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        found = self.snippets.get((request.match_info["env"], request.match_info["id"]))
        if found is None:
            return _error(404, 108, "The requested content type snippet was not found.")
        return web.json_response(found)

    async def _get_variant(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        found = self.variants.get(_variant_key(request))
        if found is None:
            return _error(404, 103, "The requested language variant was not found.")
        return web.json_response(found)

    async def _upsert_variant(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        env, item, language = key = _variant_key(request)
        type_codename = self.item_types.get((env, item))
        if type_codename is None:
            return _error(404, 100, "The requested content item was not found.")
        body = await request.json()
        values: dict[str, Any] = {}
        for entry in body.get("elements", []):
            codename = entry["element"].get("codename")
            if "components" in entry:
                values[codename] = {"value": entry["value"], "components": entry["components"]}
            else:
                values[codename] = entry["value"]
        if not self._is_default(env, language) and (
            shared := self._non_localizable(env, type_codename, values)
        ):
            # The API's answer for a shared value written outside the default language.
            return _error(400, 5, f"The element '{shared}' is non-localizable.")
        variant = self.variants.get(key)
        if variant is None:
            variant = self.add_variant(env, item, language, type_codename, {})
        problem = self._set_elements(env, type_codename, variant, values)
        if problem:
            return _error(400, 5, problem)
        variant["last_modified"] = self._now()
        self.upserts.append((item, language, body))
        return web.json_response(variant)

    async def _change_workflow(self, request: web.Request) -> web.Response:
        if (denied := self._denied(request)) is not None:
            return denied
        env, item, language = key = _variant_key(request)
        variant = self.variants.get(key)
        if variant is None:
            return _error(404, 103, "The requested language variant was not found.")
        body = await request.json()
        flow_codename = body["workflow_identifier"]["codename"]
        step_codename = body["step_identifier"]["codename"]
        for flow in self.environments.get(env, ([], []))[0]:
            if flow["codename"] != flow_codename:
                continue
            for found in [*flow["steps"], flow["published_step"], flow["archived_step"]]:
                if found["codename"] == step_codename:
                    variant["workflow"] = {
                        "workflow_identifier": {"id": flow["id"]},
                        "step_identifier": {"id": found["id"]},
                    }
                    self.moves.append((item, language, flow_codename, step_codename))
                    return web.Response(status=204)
        return _error(400, 5, f"The workflow step '{step_codename}' was not found.")

    def _denied(self, request: web.Request) -> web.Response | None:
        """401 for a wrong key; a scripted fault for a matching request."""
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        for index, (method, suffix, answer) in enumerate(self.faults):
            if request.method == method and request.path.endswith(suffix):
                del self.faults[index]
                return answer.response()
        return None

    def _environment(
        self, request: web.Request
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]] | web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.key}":
            return web.json_response({"message": "Unauthorized"}, status=401)
        found = self.environments.get(request.match_info["env"])
        if found is None:
            return web.json_response({"message": "Environment not found"}, status=404)
        return found

    async def _workflows(self, request: web.Request) -> web.Response:
        if self.stalled:
            await self.released.wait()
        found = self._environment(request)
        if isinstance(found, web.Response):
            return found
        return web.json_response(found[0])

    async def _languages(self, request: web.Request) -> web.Response:
        found = self._environment(request)
        if isinstance(found, web.Response):
            return found
        start = int(request.headers.get("x-continuation") or 0)
        page = found[1][start : start + self.page_size]
        end = start + len(page)
        token = str(end) if end < len(found[1]) else None
        return web.json_response(
            {"languages": page, "pagination": {"continuation_token": token, "next_page": None}}
        )

    def listings(self) -> int:
        """How many workflow listings were requested (one per catalog fetch)."""
        return sum(1 for r in self.requests if r.path.endswith("/workflows"))


def _variant_key(request: web.Request) -> tuple[str, str, str]:
    info = request.match_info
    return info["env"], info["item"], info["language"]


def _error(status: int, code: int, message: str) -> web.Response:
    """Kontent.ai's error object."""
    body = {"request_id": "fake", "error_code": code, "message": message}
    return web.json_response(body, status=status)
