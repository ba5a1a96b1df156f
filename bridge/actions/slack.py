"""`slack`: post a message with a bot token (chat.postMessage) or to an incoming webhook.

Built on the official slack-sdk async clients over the host's HTTP session. A coalesced batch
posts one message (its `text` is rendered over the whole batch). Slack answers errors by name;
names that mean "this configuration cannot work" (a revoked token, a missing channel) are
permanent, so the delivery stops at once with the reason instead of retrying for days.

A 2xx whose body cannot be read (cut off, too large) or is not Slack's answer (not JSON, not a
JSON object holding `ok`) is a success with a note saying so: Slack took the message, and a
retry would post it twice. A readable answer (`"ok": false` in a 200) is judged as always.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import yaml
from pydantic import Field, model_validator
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bridge.actions.base import Action, ActionOptions, Call, PermanentFailure, Retry, Success
from bridge.actions.httputil import (
    BodyTooLarge,
    UrlTemplate,
    answer_heads,
    answer_problem,
    check_headers,
    check_templated_origins,
    classify,
    excerpt,
    failure_reason,
    retry_after_s,
)
from bridge.templates import TemplateError, batch_context, is_template, render_options

SLACK_API = "https://slack.com/api/"
MAX_SUMMARY_LINES = 40
# Values a `blocks` option may write out (Slack takes 50 blocks; a large message is ~2,000).
MAX_BLOCK_VALUES = 10_000

# chat.postMessage error names for which a retry cannot succeed.
PERMANENT_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "no_permission",
        "missing_scope",
        "not_allowed_token_type",
        "team_access_not_granted",
        "org_login_required",
        "ekm_access_denied",
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "restricted_action",
        "restricted_action_read_only_channel",
        "restricted_action_thread_only_channel",
        "msg_too_long",
        "no_text",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_arguments",
        "invalid_arg_name",
        "invalid_charset",
        "too_many_attachments",
        "as_user_not_supported",
    }
)


class SlackOptions(ActionOptions):
    token: str | None = None
    channel: str | None = None
    webhook_url: UrlTemplate | None = None
    text: str | None = None
    # Block Kit blocks: a YAML list, or a string holding a YAML/JSON list (a template's output).
    blocks: list[dict[str, Any]] | str | None = None
    base_url: UrlTemplate = SLACK_API
    unfurl_links: bool | None = None
    thread_ts: str | None = Field(default=None, description="reply in this thread")

    @model_validator(mode="after")
    def _one_way_to_post(self) -> SlackOptions:
        if self.webhook_url and (self.token or self.channel):
            raise ValueError("give either token and channel, or webhook_url, not both")
        if not self.webhook_url and not (self.token and self.channel):
            raise ValueError("give token and channel (chat.postMessage) or webhook_url")
        return self


class SlackAction(Action[SlackOptions]):
    Options = SlackOptions
    secret_options = frozenset({"token", "webhook_url"})
    endpoint_options = {"base_url": "url", "webhook_url": "url"}
    summary = "Post a Slack message (bot token + channel, or an incoming webhook)."

    async def send(self, call: Call[SlackOptions]) -> Success:
        check_templated_origins(call, "base_url", "webhook_url")
        options = call.options
        if options.token:  # sent as a header by the SDK: a CR/LF there can never be sent
            check_headers({"Authorization": f"Bearer {options.token}"}, what=self.name)
        text = options.text if options.text is not None else _summary(call)
        blocks = _blocks(_written_blocks(call), options.blocks)
        with answer_heads() as heads:  # the status, when the SDK fails reading what follows it
            try:
                if options.webhook_url:
                    return await self._webhook(options, text, blocks)
                return await self._post(options, text, blocks, heads)
            except (TimeoutError, aiohttp.ClientError, SlackClientError) as exc:
                if isinstance(exc, SlackApiError):
                    raise
                if (posted := _posted(heads, exc)) is not None:
                    return posted
                if isinstance(exc, BodyTooLarge):
                    # The session bounds what the SDK reads. Not retried: the answer came after
                    # the request, so the message may be posted, and a retry would post it twice.
                    raise PermanentFailure(
                        f"{self.name}: Slack answered more than {exc.max_bytes} bytes; the "
                        "message may have been posted, so it is not sent again"
                    ) from exc
                raise Retry(failure_reason(f"{self.name}: Slack", exc)) from exc

    async def _post(
        self,
        options: SlackOptions,
        text: str,
        blocks: list[dict[str, Any]] | None,
        heads: list[int],
    ) -> Success:
        client = AsyncWebClient(
            token=options.token,
            base_url=options.base_url,
            session=self.resources.http,
            retry_handlers=[],
        )
        extra: dict[str, Any] = {}
        if options.unfurl_links is not None:
            extra["unfurl_links"] = options.unfurl_links
        if options.thread_ts:
            extra["thread_ts"] = options.thread_ts
        try:
            response = await client.chat_postMessage(
                channel=str(options.channel), text=text, blocks=blocks, **extra
            )
        except SlackApiError as exc:
            if (posted := _posted_anyway(exc)) is not None:
                return posted
            if not _slack_answer(exc) and (posted := _posted(heads, exc)) is not None:
                return posted
            raise _api_failure(exc) from exc
        except (AttributeError, RecursionError) as exc:  # validate() calls .get on anything;
            # json.loads raises RecursionError on a deep nesting, which the SDK does not catch
            if (posted := _posted(heads, exc)) is not None:
                return posted
            raise Retry(
                "Slack chat.postMessage answered something other than a JSON object "
                f"({type(exc).__name__}: {exc})"
            ) from exc
        return Success(
            status=response.status_code,
            response=f"posted to {response.get('channel')} ts={response.get('ts')}",
        )

    async def _webhook(
        self, options: SlackOptions, text: str, blocks: list[dict[str, Any]] | None
    ) -> Success:
        client = AsyncWebhookClient(
            str(options.webhook_url), session=self.resources.http, retry_handlers=[]
        )
        response = await client.send(text=text, blocks=blocks, unfurl_links=options.unfurl_links)
        # The shared status rules (408/409/425 retry, any 2xx is posted); Slack names the cause
        # in the body (no_service, channel_is_archived).
        return classify(
            response.status_code,
            response.headers,
            response.body or "",
            what="Slack webhook",
            body_in_reason=True,
        )


def _posted_anyway(exc: SlackApiError) -> Success | None:
    """A success when Slack's own answer says `"ok": true` in a 2xx other than 200: the SDK
    raises for any status but 200, and a retry would post the message twice."""
    response = exc.response
    data = getattr(response, "data", None)
    status = getattr(response, "status_code", None)
    if not (isinstance(data, dict) and data.get("ok") is True and isinstance(status, int)):
        return None
    if not 200 <= status < 300:
        return None
    return Success(status=status, response=f"posted to {data.get('channel')} ts={data.get('ts')}")


def _slack_answer(exc: SlackApiError) -> bool:
    """Whether Slack's answer was read: a JSON object holding `ok` (its `error` says why not)."""
    data = getattr(exc.response, "data", None)
    return isinstance(data, dict) and "ok" in data


def _posted(heads: list[int], exc: BaseException) -> Success | None:
    """A success when Slack answered 2xx and only what came after the status failed."""
    if not heads or not 200 <= heads[-1] < 300:
        return None
    return Success(
        status=heads[-1],
        response=(
            f"accepted: Slack answered {heads[-1]}, but {_unread(exc)}; taken as posted, since "
            "sending it again could post the message twice"
        ),
    )


def _unread(exc: BaseException) -> str:
    """Why a 2xx answer could not be read, in words (never its text: it may be a proxy's)."""
    if isinstance(exc, BodyTooLarge):
        return f"its answer is larger than the {exc.max_bytes} bytes read"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return f"its answer broke off ({answer_problem(exc).rstrip('.')})"
    if isinstance(exc, TimeoutError):
        return "its answer did not end in time"
    if isinstance(exc, RecursionError):
        return "its answer nests too deeply to parse"
    if isinstance(exc, SlackApiError | AttributeError):
        return "its answer is not a Slack answer (a JSON object holding ok)"
    return f"reading its answer failed ({type(exc).__name__})"


def _api_failure(exc: SlackApiError) -> Retry | PermanentFailure:
    """What an error answer of chat.postMessage means. Slack names errors in a JSON object
    (`{"ok": false, "error": ...}`); anything else in front of it (a proxy's HTML, a bare 401,
    a JSON list) has only its HTTP status, judged by the shared rules (httputil.classify)."""
    response = exc.response
    # A SlackResponse, or the bare aiohttp response when the SDK could not read the body.
    status: int | None = getattr(response, "status_code", None) or getattr(response, "status", None)
    headers = getattr(response, "headers", None) or {}
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if not data or not str(data).strip():  # unread ({} for HTML): the SDK's message says why
        data = str(exc).splitlines()[0] if str(exc) else ""
    # Slack's answer as the JSON it was (str() of the parsed dict would read as Python).
    shown = data if not isinstance(data, dict | list) else json.dumps(data, ensure_ascii=False)
    detail = excerpt(str(shown))
    reason = f"Slack chat.postMessage failed: {error}"
    if status == 429 or error == "ratelimited":
        return Retry(reason, delay_s=retry_after_s(headers), status=status, response=detail)
    if error in PERMANENT_ERRORS:
        return PermanentFailure(reason, status=status, response=detail)
    if status is not None and not 200 <= status < 300:
        try:  # the reason quotes Slack's `error` from the answer itself (classify)
            classify(status, headers, detail, what="Slack chat.postMessage")
        except (Retry, PermanentFailure) as failure:
            return failure
    if error is None:
        reason = f"Slack chat.postMessage answered {status} without a Slack error name"
    return Retry(reason, status=status, response=detail)


def _written_blocks(call: Call[SlackOptions]) -> Any:
    """A `blocks` template that is YAML as written (`text: "*{{ event.name }}*"`): parsed first,
    then each of its strings rendered on its own, so what event data holds is only ever a
    string's text. Rendered first and parsed after, an item named `The "best" coffee` was not
    valid YAML (the job died), and one named `x"}` plus a line `- {type: image, image_url: ...}`
    added a block of its choosing. None when the template is no YAML list of mappings before
    rendering (a `{% for %}` writing the blocks): that one is rendered as text, then parsed."""
    template = call.templates.get("blocks")
    if not (isinstance(template, str) and is_template(template)):
        return None
    try:
        written = yaml.safe_load(template)
    except (yaml.YAMLError, RecursionError):
        return None
    if not (isinstance(written, list) and all(isinstance(b, dict) for b in written)):
        return None
    if _expanded_size(written) > MAX_BLOCK_VALUES:
        return None  # the text path says why
    try:
        return render_options({"blocks": written}, batch_context(call.events))["blocks"]
    except TemplateError as exc:
        raise PermanentFailure(f"cannot render options: {exc}") from None


def _blocks(written: Any, value: list[dict[str, Any]] | str | None) -> list[dict[str, Any]] | None:
    """Blocks written in YAML, or a template that renders YAML/JSON; bad blocks are permanent."""
    if written is not None:
        value = written
    if value is None or isinstance(value, list):
        return value
    try:
        parsed = yaml.safe_load(value)
    except yaml.YAMLError as exc:
        raise PermanentFailure(f"blocks is not valid YAML/JSON: {exc}") from exc
    except RecursionError:
        raise PermanentFailure("blocks is nested too deep for YAML/JSON") from None
    if parsed is None:
        return None
    if _expanded_size(parsed) > MAX_BLOCK_VALUES:
        # The template renders event data into YAML: anchors and aliases in an item's name
        # parse to shared lists, which the SDK would write out whole (9**9 values from 400 bytes).
        raise PermanentFailure(
            f"blocks expands to more than {MAX_BLOCK_VALUES} values "
            "(YAML aliases (*name) nested inside each other?)"
        )
    if not (isinstance(parsed, list) and all(isinstance(b, dict) for b in parsed)):
        raise PermanentFailure("blocks must be a list of Block Kit objects")
    return parsed


def _expanded_size(value: Any) -> int:
    """How many values `value` holds written out, each shared list or mapping counted at every
    place it is used; counted once per object (so shared ones cost nothing) and iteratively."""
    sizes: dict[int, int] = {}
    entered: set[int] = set()  # lists and mappings whose children are being counted
    pending: list[tuple[Any, bool]] = [(value, False)]
    while pending:
        node, children_done = pending.pop()
        if id(node) in sizes:
            continue
        if not isinstance(node, dict | list):
            sizes[id(node)] = 1
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if children_done:
            sizes[id(node)] = min(1 + sum(sizes[id(c)] for c in children), MAX_BLOCK_VALUES + 1)
            continue
        if id(node) in entered:  # `&a [*a]`: a list inside itself never ends written out
            return MAX_BLOCK_VALUES + 1
        entered.add(id(node))
        pending.append((node, True))
        pending.extend((child, False) for child in children if id(child) not in sizes)
    return sizes[id(value)]


def _summary(call: Call[SlackOptions]) -> str:
    lines = [event.summary() for event in call.events]
    if len(lines) > MAX_SUMMARY_LINES:
        hidden = len(lines) - MAX_SUMMARY_LINES
        lines = [*lines[:MAX_SUMMARY_LINES], f"… and {hidden} more"]
    return "\n".join(lines)
