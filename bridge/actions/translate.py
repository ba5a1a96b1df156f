"""`translate`: the translation round trip, Kontent.ai -> DeepL -> Kontent.ai, then a report.

When an item reaches a workflow step (a rule on `workflow_step_changed`), the source language
variant is read through the Management API, its text and rich-text elements (those of its
snippets and of the components in its rich text too: translate_elements.py) go to DeepL through
the official `deepl` SDK (rich text with `tag_handling="html"`, so links, `<object>` component
and item tags and their data-* attributes come back unchanged), each target language variant is
upserted and moved to the configured workflow step, and the actions of `report_to` get one
message listing the languages (follow-up jobs in the store).

Idempotent per (item, language, source version), with the marker kept in Kontent.ai itself:
the source version is the source variant's `last_modified`; a target variant counts as done
when its `marker_element` holds `<source language>@<version>` (written in the same upsert), or,
without a marker element, when it was modified at or after that version. A language that fails
does not undo or redo the others: the job is retried and finds them done. The report is sent by
the call that finished the last language, so a repeated notification changes nothing.

The `deepl` SDK is synchronous (requests): its calls run in a worker thread, and its own retry
loop is turned off (`deepl.http_client.max_network_retries = 0`) so that 429 and 5xx answers
come back to the bridge's schedule instead of sleeping in a thread the job's timeout cannot stop.
The SDK's exceptions keep no header of the answer, so a transport adapter on the translator's
`requests` session notes each answer's Retry-After (per thread: a call runs in one) and the
Retry raised for a 429 or 5xx carries it, for the bridge's one retry policy to honour.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from bridge.actions.base import (
    Action,
    ActionOptions,
    Call,
    PermanentFailure,
    Resources,
    Retry,
    Success,
)
from bridge.actions.httputil import RETRYABLE_4XX, retry_after_s
from bridge.actions.translate_elements import Schema, Texts, collect
from bridge.events import Event
from bridge.kontent.management import MANAGEMENT_URL
from bridge.kontent.variants import ManagementClient, TypeElement, WorkflowSteps
from bridge.netproblems import no_answer

DEEPL_MAX_TEXTS = 50  # texts per /v2/translate request (DeepL's documented limit)
QUOTA_RETRY_S = 3600.0
DEFAULT_REPORT = "Translated '{item}' to {languages}"
_REPORT_FIELD = re.compile(r"\{(item|languages)\}")


class TranslateOptions(ActionOptions):
    deepl_auth_key: str
    deepl_server_url: str | None = Field(default=None, description="DeepL API base (tests)")
    glossary_id: str | None = None
    source_lang: str | None = Field(default=None, description="DeepL source code, e.g. EN")
    # Kontent.ai language codename -> DeepL target language code.
    languages: dict[str, str] = Field(min_length=1)
    source_language: str | None = Field(default=None, description="default: the event's")
    elements: list[str] | None = None  # element codenames; default every text and rich text
    workflow: str = "default"
    step: str | None = None  # move every written variant to this step (codename)
    marker_element: str | None = None
    management_api_key: str | None = None  # default: kontent.environments[env]
    management_url: str | None = None  # default: kontent.management_url
    report_to: list[str] = Field(default_factory=list)
    report_text: str = DEFAULT_REPORT  # {item} and {languages} are filled in

    @model_validator(mode="after")
    def _glossary_needs_source(self) -> TranslateOptions:
        if self.glossary_id and not self.source_lang:
            raise ValueError("glossary_id needs source_lang (DeepL requires both)")
        return self


@dataclass(slots=True)
class Outcome:
    """What one item's call did, per target language."""

    translated: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)
    already: list[str] = field(default_factory=list)
    failed: dict[str, Retry | PermanentFailure] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Source:
    version: str
    language: str
    texts: Texts  # the elements to write, and the texts in them to translate
    marker_id: str | None  # the marker element's id in this type, if configured and present


class TranslateAction(Action[TranslateOptions]):
    Options = TranslateOptions
    secret_options = frozenset({"deepl_auth_key", "management_api_key"})
    endpoint_options = {"deepl_server_url": "host", "management_url": "host"}
    action_references = frozenset({"report_to"})
    per_event_options = frozenset(TranslateOptions.model_fields)  # one item at a time
    summary = "Translate a variant with DeepL and write the target variants back (Management API)."

    def __init__(self, name: str, resources: Resources) -> None:
        super().__init__(name, resources)
        self._translators: dict[tuple[str, str | None], Any] = {}

    async def send(self, call: Call[TranslateOptions]) -> Success:
        lines = []
        for item in call.items:
            lines.append(await self._item(item.options, item.event))
        return Success(status=200, response="; ".join(lines))

    async def close(self) -> None:
        translators, self._translators = self._translators, {}
        for translator in translators.values():
            await asyncio.to_thread(translator.close)

    # -- one item ------------------------------------------------------------------------------
    async def _item(self, options: TranslateOptions, event: Event) -> str:
        if not event.id or not event.environment_id or not event.type:
            raise PermanentFailure(
                "translate needs a content item event with id, environment, type"
            )
        follow_ups = self.resources.follow_ups
        unknown = [n for n in options.report_to if follow_ups and not follow_ups.known(n)]
        if unknown:
            raise PermanentFailure(f"report_to names unknown action(s): {', '.join(unknown)}")
        client = self._client(options, event.environment_id)
        source = await self._source(client, options, event)
        steps = await client.workflows() if options.step else None
        outcome = Outcome()
        targets = [lang for lang in options.languages if lang != source.language]
        for language in targets:
            try:
                state = await self._language(client, options, event, source, language, steps)
            except (Retry, PermanentFailure) as exc:
                outcome.failed[language] = exc
                continue
            getattr(outcome, state).append(language)
        summary = _summary(event, outcome)
        if outcome.failed:
            raise _failure(summary, outcome.failed)
        if outcome.translated or outcome.moved:
            await self._report(options, event, source, targets)
        return summary

    async def _source(
        self, client: ManagementClient, options: TranslateOptions, event: Event
    ) -> Source:
        language = options.source_language or event.language
        if not language:
            raise PermanentFailure("no source language: set source_language")
        variant = await client.variant(str(event.id), language)
        if variant is None:
            raise Retry(f"item {event.id} has no {language!r} variant (yet)")
        version = str(variant.get("last_modified") or "")
        if not version:
            raise Retry(f"the {language!r} variant of item {event.id} has no last_modified")
        schema = Schema(client)
        by_id = await schema.item_type(str(event.type))
        marker = next((e for e in by_id.values() if e.codename == options.marker_element), None)
        if options.marker_element and (marker is None or marker.kind != "text"):
            raise PermanentFailure(
                f"marker_element {options.marker_element!r} is not a text element of type "
                f"{event.type!r}: add it to the type, or remove the option"
            )

        def wanted(element: TypeElement) -> bool:
            return _wanted(element, schema.snippet_of.get(element.id), options)

        texts = await collect(variant, by_id, schema, wanted, options.marker_element)
        if texts.too_deep:
            self.resources.logger.warning(
                "%s: item %s: %d component(s) nested deeper than Kontent.ai allows were written "
                "back untranslated",
                self.name,
                event.id,
                texts.too_deep,
            )
        return Source(version, language, texts, marker.id if marker else None)

    async def _language(
        self,
        client: ManagementClient,
        options: TranslateOptions,
        event: Event,
        source: Source,
        language: str,
        steps: WorkflowSteps | None,
    ) -> str:
        """'translated', 'moved' (done before, its move had not happened) or 'already'."""
        item_id = str(event.id)
        target = await client.variant(item_id, language)
        if target is not None and _is_done(target, source, options):
            if options.step and steps and _needs_move(target, options, steps):
                await client.change_workflow(item_id, language, options.workflow, options.step)
                return "moved"
            return "already"
        code = options.languages[language]
        plain = await self._deepl(options, source.texts.texts(html=False), code, html=False)
        rich = await self._deepl(options, source.texts.texts(html=True), code, html=True)
        elements = source.texts.translated(plain, rich)
        if options.marker_element and source.marker_id:
            marker = f"{source.language}@{source.version}"
            elements.append({"element": {"codename": options.marker_element}, "value": marker})
        await client.upsert_variant(item_id, language, elements)
        if options.step:
            await client.change_workflow(item_id, language, options.workflow, options.step)
        return "translated"

    async def _report(
        self, options: TranslateOptions, event: Event, source: Source, languages: Sequence[str]
    ) -> None:
        follow_ups = self.resources.follow_ups
        if not options.report_to:
            return
        if follow_ups is None:
            self.resources.logger.warning("%s: no store for report_to; report skipped", self.name)
            return
        # One pass: an item named `{languages}` is that name in the report, not the languages.
        values = {"item": event.name or str(event.id), "languages": ", ".join(languages)}
        text = _REPORT_FIELD.sub(lambda found: values[found.group(1)], options.report_text)
        await follow_ups.enqueue(
            options.report_to,
            text=text,
            event=event,
            rule=f"{self.name}.report_to",
            key=f"translate:{event.id}:{source.language}@{source.version}",
        )

    # -- DeepL ---------------------------------------------------------------------------------
    async def _deepl(
        self, options: TranslateOptions, texts: list[str], target: str, *, html: bool
    ) -> list[str]:
        """`texts` translated in order; empty texts stay empty and are not sent."""
        sent = [i for i, text in enumerate(texts) if text.strip()]
        out = list(texts)
        translator = self._translator(options)
        for start in range(0, len(sent), DEEPL_MAX_TEXTS):
            indexes = sent[start : start + DEEPL_MAX_TEXTS]
            results = await asyncio.to_thread(
                _translate, translator, [texts[i] for i in indexes], options, target, html
            )
            for index, result in zip(indexes, results, strict=True):
                out[index] = result
        return out

    def _translator(self, options: TranslateOptions) -> Any:
        deepl = _deepl()
        deepl.http_client.max_network_retries = 0  # the bridge's schedule retries (see above)
        key = (options.deepl_auth_key, options.deepl_server_url)
        if key not in self._translators:
            translator = deepl.Translator(
                options.deepl_auth_key, server_url=options.deepl_server_url
            )
            _note_retry_after(translator)
            self._translators[key] = translator
        return self._translators[key]

    def _client(self, options: TranslateOptions, environment_id: str) -> ManagementClient:
        key = options.management_api_key
        if not key and self.resources.kontent is not None:
            environment = self.resources.kontent.environments.get(environment_id)
            key = getattr(environment, "management_api_key", None)
        if not key:
            raise PermanentFailure(
                f"no Management API key for environment {environment_id}: set "
                "management_api_key or kontent.environments[...].management_api_key"
            )
        base_url = options.management_url or self.resources.management_url or MANAGEMENT_URL
        return ManagementClient(self.resources.http, base_url, environment_id, key)


# The Retry-After of the last DeepL answer this thread read (a `_translate` runs in one thread,
# and `requests` builds the response in the thread that sent the request).
_answered = threading.local()


def _note_retry_after(translator: Any) -> None:
    """Mount a transport adapter on the translator's `requests` session (the SDK's
    HttpClient._session; it prepares requests itself, so session hooks never run) that notes
    each answer's Retry-After for `_translate`. Without that session, delays stay None."""
    session = getattr(getattr(translator, "_client", None), "_session", None)
    if session is None or not hasattr(session, "mount"):
        return
    from requests.adapters import HTTPAdapter

    class NotingAdapter(HTTPAdapter):
        def build_response(self, req: Any, resp: Any) -> Any:
            response = super().build_response(req, resp)
            _answered.retry_after_s = retry_after_s(response.headers)
            return response

    for prefix in ("https://", "http://"):
        session.mount(prefix, NotingAdapter())


def _translate(
    translator: Any, texts: list[str], options: TranslateOptions, target: str, html: bool
) -> list[str]:
    deepl = _deepl()
    _answered.retry_after_s = None
    try:
        results = translator.translate_text(
            texts,
            source_lang=options.source_lang,
            target_lang=target,
            tag_handling="html" if html else None,
            glossary=options.glossary_id,
        )
    except deepl.QuotaExceededException as exc:
        raise Retry(f"DeepL quota exceeded: {exc}", delay_s=QUOTA_RETRY_S, status=456) from None
    except deepl.TooManyRequestsException as exc:
        wait_s = _answered.retry_after_s
        raise Retry(f"DeepL rate limit: {exc}", delay_s=wait_s, status=429) from None
    except deepl.AuthorizationException as exc:
        raise PermanentFailure(f"DeepL refused the key: {exc}", status=403) from None
    except deepl.ConnectionException as exc:
        raise Retry(no_answer("DeepL", exc) or f"DeepL unreachable: {exc}") from None
    except deepl.DeepLException as exc:
        status = exc.http_status_code
        if status is not None and 400 <= status < 500 and status not in RETRYABLE_4XX:
            raise PermanentFailure(f"DeepL: {exc}", status=status) from None
        wait_s = _answered.retry_after_s if status is not None else None
        raise Retry(f"DeepL: {exc}", delay_s=wait_s, status=status) from None
    return [result.text for result in results]


def _deepl() -> Any:
    """The `deepl` SDK, from the optional `translate` extra; without it the job cannot run."""
    try:
        import deepl
    except ImportError:
        raise PermanentFailure(
            "the deepl SDK is not installed: pip install 'kontent-bridge[translate]'"
        ) from None
    return deepl


def _wanted(element: TypeElement, snippet: str | None, options: TranslateOptions) -> bool:
    """`elements` names an element of the type, or the snippet element a snippet's stands for;
    everything inside a chosen rich text's components goes with it. A non-localizable element
    is never written: its value is the default language's in every variant."""
    if element.codename == options.marker_element or not element.localizable:
        return False
    chosen = options.elements
    return (
        chosen is None or element.codename in chosen or (snippet is not None and snippet in chosen)
    )


def _is_done(target: dict[str, Any], source: Source, options: TranslateOptions) -> bool:
    if options.marker_element and source.marker_id:
        for value in target.get("elements") or []:
            ref = value.get("element") if isinstance(value, dict) else None
            if isinstance(ref, dict) and (
                ref.get("id") == source.marker_id or ref.get("codename") == options.marker_element
            ):
                return bool(value.get("value") == f"{source.language}@{source.version}")
        return False
    modified = _instant(target.get("last_modified"))
    version = _instant(source.version)
    return modified is not None and version is not None and modified >= version


def _needs_move(target: dict[str, Any], options: TranslateOptions, steps: WorkflowSteps) -> bool:
    """Done but not in the configured step: moved unless people took it further (published)."""
    workflow = target.get("workflow")
    ref = workflow.get("step_identifier") if isinstance(workflow, dict) else None
    if not isinstance(ref, dict):
        ref = target.get("workflow_step")
    step_id = str(ref.get("id")) if isinstance(ref, dict) else ""
    if step_id in steps.final_step_ids:
        return False
    return steps.steps.get(step_id) != (options.workflow, options.step)


_FRACTION = re.compile(r"(\.\d{6})\d+")


def _instant(value: Any) -> datetime | None:
    """An ISO 8601 time as an instant (Kontent.ai writes 7 fractional digits and a Z)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(_FRACTION.sub(r"\1", value.replace("Z", "+00:00")))
    except ValueError:
        return None


def _summary(event: Event, outcome: Outcome) -> str:
    parts = [f"item {event.id}"]
    for label, languages in (
        ("translated", outcome.translated),
        ("moved", outcome.moved),
        ("already done", outcome.already),
        ("failed", list(outcome.failed)),
    ):
        if languages:
            parts.append(f"{label}: {', '.join(languages)}")
    return "; ".join(parts)


def _failure(summary: str, failed: dict[str, Retry | PermanentFailure]) -> Retry | PermanentFailure:
    """One language failing retries the job (the others are found done); all permanent: dead."""
    reasons = "; ".join(f"{language}: {exc.reason}" for language, exc in failed.items())
    retries = [exc for exc in failed.values() if isinstance(exc, Retry)]
    if retries:
        delays = [exc.delay_s for exc in retries if exc.delay_s is not None]
        return Retry(f"{summary} ({reasons})", delay_s=max(delays) if delays else None)
    first = next(iter(failed.values()))
    return PermanentFailure(f"{summary} ({reasons})", status=first.status, response=first.response)
