"""OpenAI, OpenRouter and any OpenAI-compatible server, through the ``openai`` SDK.

Why not ``client.chat.completions.create(messages=[...])``: the SDK turns every
message dict through its typed-dict transformation on each call, so the cost
of a call grows with the history. Here the request body is encoded once per
call by msgspec from prebuilt wire structs (the tools list is encoded once per
tool set and reused as ``msgspec.Raw``), sent as raw bytes with
``AsyncOpenAI.post(path, content=bytes, cast_to=httpx2.Response)`` — the SDK's
own low-level request path, which keeps its auth headers, base URL, timeouts
and error types — and the response is decoded by msgspec into our structs.

The SDK's retries are off (``max_retries=0``); ``agentd.retry`` retries 408,
409, 429, 5xx, timeouts, connection errors and malformed bodies, honouring
``Retry-After``/``retry-after-ms``. What is left is translated here, with
``raise ... from exc``, into ProviderRateLimited (429), ProviderRejected
(400/401/403/404/422...), ProviderUnavailable (5xx, timeouts, connection,
malformed responses). SDK types never leave this module.

The async client runs on httpx2/anyio, which works under ``trio.run``
(checked by the tests, which all run under trio).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from ..agent.messages import Completion, Message, ToolCall, ToolSpec, Usage
from ..errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from ..retry import OnRetry, RetryPolicy, retry, retry_after_from_headers
from .base import CheckResult

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
KEY_HINTS = {
    "openai": "OPENAI_API_KEY (or `api_key` in the [openai] section of config.toml)",
    "openrouter": "OPENROUTER_API_KEY (or `api_key` in the [openrouter] section of config.toml)",
}
TRANSIENT_STATUS = frozenset({408, 409, 429})


# ---------------------------------------------------------------- wire structs (request)


class _WireFunction(msgspec.Struct, frozen=True):
    name: str
    arguments: str


class _WireToolCall(msgspec.Struct, frozen=True):
    id: str
    function: _WireFunction
    type: str = "function"


class _WireMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str
    content: str | None = None
    tool_calls: list[_WireToolCall] | None = None
    tool_call_id: str | None = None


class _WireToolFunction(msgspec.Struct, frozen=True):
    name: str
    description: str
    parameters: dict[str, Any]


class _WireTool(msgspec.Struct, frozen=True):
    function: _WireToolFunction
    type: str = "function"


class _StreamOptions(msgspec.Struct, frozen=True):
    include_usage: bool = True


class _ChatRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    model: str
    messages: list[_WireMessage]
    tools: msgspec.Raw | None = None
    stream: bool = False
    stream_options: _StreamOptions | None = None


# ---------------------------------------------------------------- wire structs (response)


class _RFunction(msgspec.Struct):
    name: str = ""
    arguments: Any = ""  # a JSON string per the spec; some servers send an object


class _RToolCall(msgspec.Struct):
    id: str | None = None
    function: _RFunction = msgspec.field(default_factory=_RFunction)


class _RMessage(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_RToolCall] | None = None


class _RChoice(msgspec.Struct):
    message: _RMessage
    finish_reason: str | None = None


class _RUsage(msgspec.Struct):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0


class _RResponse(msgspec.Struct):
    choices: list[_RChoice] = []
    usage: _RUsage | None = None
    model: str = ""
    error: Any = None


class _DFunction(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _DToolCall(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _DFunction | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_DToolCall] | None = None


class _DChoice(msgspec.Struct):
    delta: _Delta = msgspec.field(default_factory=_Delta)
    finish_reason: str | None = None


class _Chunk(msgspec.Struct):
    choices: list[_DChoice] = []
    usage: _RUsage | None = None
    model: str = ""
    error: Any = None


class _ORModel(msgspec.Struct):
    id: str
    supported_parameters: list[str] | None = None


class _ORModels(msgspec.Struct):
    data: list[_ORModel]


_encode = msgspec.json.Encoder().encode
_decode_response = msgspec.json.Decoder(_RResponse).decode
_decode_chunk = msgspec.json.Decoder(_Chunk).decode
_decode_models = msgspec.json.Decoder(_ORModels).decode


class MalformedResponse(Exception):
    """The server answered 200 with a body we cannot read (internal; retried)."""


class _StreamBroken(Exception):
    """The stream failed after deltas were delivered (internal; not retried)."""


# ---------------------------------------------------------------- conversion


def _wire_message(m: Message) -> _WireMessage:
    calls = None
    if m.tool_calls:
        calls = [_WireToolCall(tc.id, _WireFunction(tc.name, tc.arguments)) for tc in m.tool_calls]
    content = m.content
    if m.role == "assistant" and content is None and not calls:
        content = ""
    elif m.role == "tool" and content is None:
        content = ""
    return _WireMessage(m.role, content, calls, m.tool_call_id)


def _arguments_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return _encode(value).decode()


def _call_id(given: str | None, index: int) -> str:
    return given or f"call_{uuid.uuid4().hex[:16]}_{index}"


def _finish(reason: str | None, calls: list[ToolCall]) -> str:
    if reason:
        return reason
    return "tool_calls" if calls else "stop"


def _error_message(obj: Any) -> str:
    if isinstance(obj, dict):
        msg = obj.get("message")
        if isinstance(msg, str) and msg:
            return msg
    return str(obj)


class ToolsCache:
    """Encoded ``tools`` lists, keyed by the identity of the ToolSpec objects.

    The specs themselves are kept so their ids stay valid; a tool set is small
    and there are few per daemon, so the cache is bounded by ``size`` (oldest out).
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: dict[tuple[int, ...], tuple[tuple[ToolSpec, ...], msgspec.Raw]] = {}

    def get(self, tools: Sequence[ToolSpec]) -> msgspec.Raw:
        key = tuple(map(id, tools))
        hit = self._entries.get(key)
        if hit is not None:
            return hit[1]
        wire = [_WireTool(_WireToolFunction(t.name, t.description, t.parameters)) for t in tools]
        raw = msgspec.Raw(_encode(wire))
        if len(self._entries) >= self._size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (tuple(tools), raw)
        return raw


# ---------------------------------------------------------------- the provider


class OpenAIProvider:
    """One model on OpenAI, OpenRouter or an OpenAI-compatible server.

    Raises from ``complete``: ProviderRejected (4xx, missing API key),
    ProviderRateLimited (429 after the retries), ProviderUnavailable (5xx,
    timeouts, connection errors and malformed answers after the retries).
    """

    def __init__(
        self,
        *,
        name: str,
        model: str,
        api_key: str | None,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        policy: RetryPolicy | None = None,
        assume_tools: bool = False,
        headers: dict[str, str] | None = None,
        on_retry: OnRetry | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        self.model = model
        self.api_key = api_key
        default = OPENROUTER_BASE_URL if name == "openrouter" else OPENAI_BASE_URL
        self.base_url = (base_url or default).rstrip("/")
        self.custom_base_url = base_url is not None and self.base_url != default
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.assume_tools = assume_tools
        self.retries = 0  # transient failures retried so far (for metrics)
        self._headers = dict(headers or {})
        self._on_retry = on_retry
        self._rng = rng
        self._sleep = sleep
        self._tools = ToolsCache()
        self._client: Any = None

    # -- client
    def _sdk(self) -> Any:
        if not self.api_key:
            raise ProviderRejected(
                f"{self.name}: no API key; set {KEY_HINTS.get(self.name, KEY_HINTS['openai'])}",
                provider=self.name,
            )
        if self._client is None:
            import openai

            self._client = openai.AsyncOpenAI(
                api_key=self.api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.timeout_s,
                default_headers=self._headers or None,
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.close()

    # -- the call
    def encode_request(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *, stream: bool) -> bytes:
        """The Chat Completions request body (public for benchmarks and tests)."""
        return _encode(_ChatRequest(
            model=self.model,
            messages=[_wire_message(m) for m in messages],
            tools=self._tools.get(tools) if tools else None,
            stream=stream,
            stream_options=_StreamOptions() if stream else None,
        ))

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_delta: Callable[[str], None] | None = None,
    ) -> Completion:
        client = self._sdk()
        body = self.encode_request(messages, tools, stream=on_delta is not None)
        if on_delta is None:
            attempt = lambda: self._post(client, body)  # noqa: E731
        else:
            attempt = lambda: self._post_stream(client, body, on_delta)  # noqa: E731
        try:
            return await retry(attempt, policy=self.policy, is_transient=self._is_transient,
                               on_retry=self._count_retry, rng=self._rng, sleep=self._sleep)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def _count_retry(self, attempt: int, delay: float, exc: BaseException) -> None:
        self.retries += 1
        if self._on_retry is not None:
            self._on_retry(attempt, delay, exc)

    async def _post(self, client: Any, body: bytes) -> Completion:
        import httpx2

        response = await client.post(
            "/chat/completions", cast_to=httpx2.Response, content=body,
            options={"headers": {"Content-Type": "application/json"}},
        )
        return self._parse(response.content)

    def _parse(self, raw: bytes) -> Completion:
        try:
            resp = _decode_response(raw)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MalformedResponse(f"unreadable response body: {exc}") from exc
        if resp.error is not None:
            raise MalformedResponse(f"error in response: {_error_message(resp.error)}")
        if not resp.choices:
            raise MalformedResponse("response without choices")
        choice = resp.choices[0]
        calls = [
            ToolCall(_call_id(tc.id, i), tc.function.name, _arguments_text(tc.function.arguments))
            for i, tc in enumerate(choice.message.tool_calls or ())
        ]
        usage = resp.usage or _RUsage()
        return Completion(
            message=Message(role="assistant", content=choice.message.content, tool_calls=calls),
            usage=Usage(usage.prompt_tokens or 0, usage.completion_tokens or 0),
            finish_reason=_finish(choice.finish_reason, calls),
            model=resp.model or self.model,
        )

    async def _post_stream(self, client: Any, body: bytes, on_delta: Callable[[str], None]) -> Completion:
        import httpx2

        response = await client.post(
            "/chat/completions", cast_to=httpx2.Response, content=body, stream=True,
            options={"headers": {"Content-Type": "application/json", "Accept": "text/event-stream"}},
        )
        acc = _StreamAccumulator(self.model)
        try:
            async for line in response.aiter_lines():
                if acc.feed(line, on_delta):
                    break
            return acc.result()
        except Exception as exc:
            if acc.emitted:  # retrying would deliver the same text twice
                raise _StreamBroken(f"stream broke after text was delivered: {exc}") from exc
            raise
        finally:
            await response.aclose()

    # -- errors
    def _is_transient(self, exc: BaseException) -> float | bool | None:
        import httpx2
        import openai

        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            if status in TRANSIENT_STATUS or status >= 500:
                return retry_after_from_headers(exc.response.headers) or True
            return None
        if isinstance(exc, (openai.APIConnectionError, MalformedResponse, httpx2.TransportError)):
            return True
        return None

    def _translate(self, exc: BaseException) -> ProviderError:
        import httpx2
        import openai

        who = f"{self.name} ({self.model})"
        if isinstance(exc, openai.APIStatusError):
            status = exc.status_code
            detail = _error_message(exc.body.get("error", exc.body)) if isinstance(exc.body, dict) else exc.message
            data = {"provider": self.name, "status": status}
            if status == 429:
                return ProviderRateLimited(f"{who}: rate limited: {detail}", **data)
            if status in TRANSIENT_STATUS or status >= 500:
                return ProviderUnavailable(f"{who}: server error {status}: {detail}", **data)
            hint = ""
            if status in (401, 403):
                hint = f"; check {KEY_HINTS.get(self.name, KEY_HINTS['openai'])}"
            elif status == 404:
                hint = f"; check the model name {self.model!r} and the base URL {self.base_url}"
            return ProviderRejected(f"{who}: rejected ({status}): {detail}{hint}", **data)
        if isinstance(exc, (openai.APITimeoutError, httpx2.TimeoutException)):
            return ProviderUnavailable(f"{who}: timed out after {self.timeout_s:g}s", provider=self.name)
        if isinstance(exc, (openai.APIConnectionError, httpx2.TransportError)):
            cause = exc.__cause__ or exc
            return ProviderUnavailable(f"{who}: cannot reach {self.base_url}: {cause}", provider=self.name)
        if isinstance(exc, (MalformedResponse, _StreamBroken)):
            return ProviderUnavailable(f"{who}: {exc}", provider=self.name)
        if isinstance(exc, openai.OpenAIError):
            return ProviderError(f"{who}: {exc}", provider=self.name)
        raise exc

    # -- validation
    async def list_models(self) -> dict[str, list[str]]:
        """``GET {base_url}/models`` as {model id: supported parameters} (OpenRouter's shape).

        One attempt, no retries. Raises the ProviderError subclasses, like ``complete``.
        """
        import httpx2

        client = self._sdk()

        async def fetch() -> dict[str, list[str]]:
            response = await client.get("/models", cast_to=httpx2.Response)
            try:
                models = _decode_models(response.content)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                raise MalformedResponse(f"unreadable model list: {exc}") from exc
            return {m.id: list(m.supported_parameters or ()) for m in models.data}

        try:  # one attempt: validation reports "degraded" rather than wait
            return await fetch()
        except ProviderError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    async def check(self) -> CheckResult:
        from . import validate

        return await validate.check_openai(self)


class _StreamAccumulator:
    """Assembles a streamed Chat Completion from its SSE ``data:`` lines."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.text: list[str] = []
        self.calls: dict[int, list[Any]] = {}  # index -> [id, name, [argument pieces]]
        self.finish: str | None = None
        self.usage = _RUsage()
        self.emitted = False
        self.done = False

    def feed(self, line: str, on_delta: Callable[[str], None]) -> bool:
        """Take one SSE line; True once ``[DONE]`` arrived."""
        if not line.startswith("data:"):
            return False
        data = line[5:].strip()
        if data == "[DONE]":
            self.done = True
            return True
        try:
            chunk = _decode_chunk(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MalformedResponse(f"unreadable stream chunk: {exc}") from exc
        if chunk.error is not None:
            raise MalformedResponse(f"error in stream: {_error_message(chunk.error)}")
        if chunk.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                self.text.append(delta.content)
                self.emitted = True
                on_delta(delta.content)
            for tc in delta.tool_calls or ():
                slot = self.calls.setdefault(tc.index, [None, "", []])
                if tc.id:
                    slot[0] = tc.id
                if tc.function is not None:
                    if tc.function.name:
                        slot[1] += tc.function.name
                    if tc.function.arguments:
                        slot[2].append(tc.function.arguments)
            if choice.finish_reason:
                self.finish = choice.finish_reason
        return False

    def result(self) -> Completion:
        if not self.done and self.finish is None:
            raise MalformedResponse("stream ended before it finished")
        calls = [
            ToolCall(_call_id(slot[0], i), slot[1], "".join(slot[2]))
            for i, (_, slot) in enumerate(sorted(self.calls.items()))
        ]
        text = "".join(self.text) if self.text else None
        return Completion(
            message=Message(role="assistant", content=text, tool_calls=calls),
            usage=Usage(self.usage.prompt_tokens or 0, self.usage.completion_tokens or 0),
            finish_reason=_finish(self.finish, calls),
            model=self.model,
        )
