"""A fake DeepL API v2, as the official `deepl` SDK calls it (Translator(server_url=...)).

`POST /v2/translate` (JSON, as the SDK sends it, or a form with repeated `text`) and
`GET|POST /v2/usage`, `DeepL-Auth-Key <key>` required (403 otherwise). Translation is
deterministic: plain text becomes `[DE] text`; with `tag_handling=html` only the text between
tags is marked, so tags and attributes come back byte for byte, as DeepL keeps them. A glossary
(`glossaries[id] = {"source": "target"}`) replaces its terms first. `quota_exceeded_next()` and
`rate_limit_next()` script DeepL's 456 and 429 answers.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

_TEXT_NODE = re.compile(r">([^<]+)<")


def fake_translation(text: str, target: str, *, html: bool, glossary: dict[str, str]) -> str:
    for term, replacement in glossary.items():
        text = text.replace(term, replacement)
    mark = f"[{target.upper()}] "
    if not html:
        return mark + text
    wrapped = _TEXT_NODE.sub(
        lambda m: ">" + (mark + m.group(1) if m.group(1).strip() else m.group(1)) + "<",
        f">{text}<",
    )
    return wrapped[1:-1]


class FakeDeepL(FakeServer):
    def __init__(self, key: str = "deepl-key:fx") -> None:
        super().__init__()
        self.key = key
        self.glossaries: dict[str, dict[str, str]] = {}
        self.translations: list[dict[str, Any]] = []  # every accepted /v2/translate request
        self.characters = 0

    def quota_exceeded_next(self) -> None:
        self.fail_next(456, {"message": "Quota Exceeded"})

    def rate_limit_next(self, retry_after_s: int = 1) -> None:
        self.fail_next(429, {"message": "Too many requests"}, {"Retry-After": str(retry_after_s)})

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/translate", self._translate)
        app.router.add_route("*", "/v2/usage", self._usage)

    def _authorized(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"DeepL-Auth-Key {self.key}"

    async def _translate(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Wrong endpoint or invalid key"}, status=403)
        if request.content_type == "application/json":
            body: dict[str, Any] = await request.json()
        else:
            form = await request.post()
            body = {k: form.get(k) for k in form}
            body["text"] = form.getall("text", [])
        texts = body.get("text")
        target = body.get("target_lang")
        if not isinstance(texts, list) or not texts or not target:
            return web.json_response({"message": "Value for 'text' not supported."}, status=400)
        glossary_id = body.get("glossary_id")
        glossary: dict[str, str] = {}
        if glossary_id:
            if glossary_id not in self.glossaries:
                return web.json_response({"message": "Glossary not found"}, status=404)
            if not body.get("source_lang"):
                return web.json_response({"message": "source_lang is required"}, status=400)
            glossary = self.glossaries[glossary_id]
        html = body.get("tag_handling") == "html"
        self.translations.append(body)
        self.characters += sum(len(str(t)) for t in texts)
        source = str(body.get("source_lang") or "EN").upper()
        return web.json_response(
            {
                "translations": [
                    {
                        "detected_source_language": source,
                        "text": fake_translation(str(t), str(target), html=html, glossary=glossary),
                        "billed_characters": len(str(t)),
                    }
                    for t in texts
                ]
            }
        )

    async def _usage(self, request: web.Request) -> web.Response:
        if not self._authorized(request):
            return web.json_response({"message": "Wrong endpoint or invalid key"}, status=403)
        return web.json_response({"character_count": self.characters, "character_limit": 500000})
