"""Ollama, through the ``ollama`` package's ``AsyncClient`` (``/api/chat`` with tools).

``ollama.AsyncClient`` is a thin layer over ``httpx.AsyncClient``, whose
transport (httpcore) picks its async backend with sniffio, so it runs under
``trio.run`` unchanged (the tests all run under trio). The httpx client is
built by ``_httpx_client.open_client``, like the OpenAI provider's:
``trust_env``, answers capped in decoded size, a SOCKS proxy without SOCKS
support reported as ProviderUnavailable naming the fix. It is built on first
use, so that report reaches ``check()`` (degraded) instead of start-up.

``done_reason`` becomes ``Completion.finish_reason``: "length" when the
answer was cut by the output limit (``num_predict``), else "tool_calls" when
it holds calls, else Ollama's reason ("stop").

Conversion: our messages become Ollama's chat messages (tool results carry
``tool_name``; an assistant's tool-call arguments go back as objects). Ollama
returns tool-call arguments as objects and no call ids: arguments are
re-encoded to JSON text and ids are synthesized.

Errors: ``ollama.ResponseError`` (an HTTP status), the package's
``ConnectionError`` and raw ``httpx`` transport errors (raised while a stream
is read) are retried per ``agentd.retry`` when transient (408, 409, 429, 5xx,
connection refused, timeouts, malformed bodies), then translated with the
providers' shared map (``base.status_error``, ``base.failure_error``) and
``raise ... from exc``: ProviderRateLimited (429), ProviderUnavailable (5xx,
unreachable, timeouts, malformed), ProviderIncompatible (400 "does not support
tools"), ProviderRejected (other 4xx; 404 says to run ``ollama pull``).
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import msgspec

from ..messages import Completion, Message, ToolCall, ToolSpec, Usage
from ..protocol.errors import ProviderError, ProviderIncompatible, ProviderUnavailable
from ..retry import OnRetry, RetryPolicy
from . import _wire
from ._httpx_client import (DEFAULT_MAX_ANSWER_BYTES, describe_failure, error_text, limit_answers,
                            open_client)
from .base import (CheckResult, MalformedResponse, RetryNotice, StreamBroken, failure_error, retry_counted,
                   status_error, transient_status)

OLLAMA_BASE_URL = "http://localhost:11434"
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


def _arguments_object(text: str) -> dict[str, Any]:
    try:
        value = _decode(text)
    except msgspec.DecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def to_ollama_message(m: Message) -> dict[str, Any]:
    out: dict[str, Any] = {"role": m.role, "content": m.content or ""}
    if m.tool_calls:
        out["tool_calls"] = [
            {"function": {"name": tc.name, "arguments": _arguments_object(tc.arguments)}} for tc in m.tool_calls
        ]
    if m.role == "tool" and m.name:
        out["tool_name"] = m.name
    return out


def _tool_calls(raw: Sequence[Any] | None) -> list[ToolCall]:
    calls = []
    for i, tc in enumerate(raw or ()):
        fn = tc.function
        args = fn.arguments if fn.arguments is not None else {}
        text = args if isinstance(args, str) else _encode(dict(args)).decode()
        calls.append(ToolCall(f"call_{uuid.uuid4().hex[:16]}_{i}", fn.name, text))
    return calls


class OllamaProvider:
    """One model on an Ollama server. Raises like ``OpenAIProvider.complete``,
    plus ProviderIncompatible when the server says the model has no tools."""

    name = "ollama"

    def __init__(
        self,
        *,
        model: str,
        base_url: str | None = None,
        timeout_s: float = 120.0,
        policy: RetryPolicy | None = None,
        on_retry: OnRetry | None = None,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        api_key: str | None = None,
        max_tokens: int | None = None,
    ) -> None:
        self.model = model
        self.max_tokens = max_tokens  # the answer cap (Ollama's num_predict; None: the server's default)
        self._options = {"num_predict": max_tokens} if max_tokens else None
        self.base_url = (base_url or OLLAMA_BASE_URL).rstrip("/")
        self.timeout_s = timeout_s
        self.policy = policy or RetryPolicy()
        self.retries = 0
        self._on_retry = on_retry
        self._rng = rng
        self._sleep = sleep
        self._tools_key: tuple[int, ...] = ()
        self._tools_held: tuple[ToolSpec, ...] = ()
        self._tools_wire: list[dict[str, Any]] = []
        self.max_answer_bytes = max_answer_bytes
        self._api_key = api_key  # a bearer token, for an Ollama behind an authenticating proxy
        self._sdk: Any = None

    @property
    def _client(self) -> Any:
        """The ``ollama.AsyncClient``, built on first use (raises ProviderUnavailable, see the module doc)."""
        if self._sdk is None:
            import ollama

            self._sdk = open_client("ollama", factory=ollama.AsyncClient, host=self.base_url,
                                    timeout=self.timeout_s,
                                    headers={"Authorization": f"Bearer {self._api_key}"} if self._api_key else None,
                                    event_hooks={"response": [limit_answers(self.max_answer_bytes)]})
        return self._sdk

    async def aclose(self) -> None:
        if self._sdk is not None:
            sdk, self._sdk = self._sdk, None
            await sdk.close()

    def _wire_tools(self, tools: Sequence[ToolSpec]) -> list[dict[str, Any]]:
        key = tuple(map(id, tools))
        if key != self._tools_key:
            self._tools_held = tuple(tools)
            self._tools_wire = [
                {"type": "function",
                 "function": {"name": t.name, "description": t.description, "parameters": t.parameters}}
                for t in tools
            ]
            self._tools_key = key
        return self._tools_wire

    # -- the call
    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_delta: Callable[[str], None] | None = None,
        on_retry: RetryNotice | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        options = {"num_predict": max_tokens} if max_tokens else self._options
        return await self._complete(messages, tools, on_delta, on_retry, self.policy, options)

    async def probe(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion:
        """One attempt, no retries: validation reports "degraded" rather than wait."""
        return await self._complete(messages, tools, None, None, RetryPolicy(max_attempts=1), self._options)

    async def _complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                        on_delta: Callable[[str], None] | None, on_retry: RetryNotice | None,
                        policy: RetryPolicy, options: dict[str, Any] | None) -> Completion:
        wire = [to_ollama_message(m) for m in messages]
        wire_tools = self._wire_tools(tools) if tools else None
        if on_delta is None:
            attempt = lambda: self._chat(wire, wire_tools, options)  # noqa: E731
        else:
            attempt = lambda: self._chat_stream(wire, wire_tools, on_delta, options)  # noqa: E731

        try:
            return await retry_counted(self, attempt, policy, on_retry)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._translate(exc) from exc

    def describe(self, exc: BaseException) -> str:
        """Why an attempt failed, for a person watching the retries."""
        import ollama

        if isinstance(exc, ollama.ResponseError) and exc.status_code >= 0:
            return f"HTTP {exc.status_code} from server"
        return describe_failure(exc, self.timeout_s)

    async def _chat(self, wire: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                    options: dict[str, Any] | None) -> Completion:
        import pydantic

        try:
            resp = await self._client.chat(model=self.model, messages=wire, tools=tools, stream=False,
                                           options=options)
        except (pydantic.ValidationError, json.JSONDecodeError, TypeError) as exc:
            raise MalformedResponse(f"unreadable response: {exc}") from exc
        calls = _tool_calls(resp.message.tool_calls)
        return Completion(
            message=Message(role="assistant", content=resp.message.content or None, tool_calls=calls),
            usage=Usage(resp.prompt_eval_count or 0, resp.eval_count or 0),
            finish_reason=_wire.finish_reason(resp.done_reason, bool(calls)),
            model=resp.model or self.model,
        )

    async def _chat_stream(
        self, wire: list[dict[str, Any]], tools: list[dict[str, Any]] | None, on_delta: Callable[[str], None],
        options: dict[str, Any] | None = None,
    ) -> Completion:
        import pydantic

        text: list[str] = []
        raw_calls: list[Any] = []
        last = None
        try:
            stream = await self._client.chat(model=self.model, messages=wire, tools=tools, stream=True,
                                             options=options)
            async for part in stream:
                last = part
                if part.message.content:
                    text.append(part.message.content)
                    on_delta(part.message.content)
                raw_calls.extend(part.message.tool_calls or ())
        except (pydantic.ValidationError, json.JSONDecodeError, TypeError) as exc:
            if text:
                raise StreamBroken(f"stream broke after text was delivered: {exc}") from exc
            raise MalformedResponse(f"unreadable stream: {exc}") from exc
        except Exception as exc:
            if text:
                raise StreamBroken(f"stream broke after text was delivered: {exc}") from exc
            raise
        if last is None or not last.done:
            raise MalformedResponse("stream ended before it finished")
        calls = _tool_calls(raw_calls)
        return Completion(
            message=Message(role="assistant", content="".join(text) or None, tool_calls=calls),
            usage=Usage(last.prompt_eval_count or 0, last.eval_count or 0),
            finish_reason=_wire.finish_reason(last.done_reason, bool(calls)),
            model=last.model or self.model,
        )

    # -- errors
    def _is_transient(self, exc: BaseException) -> float | bool | None:
        import httpx
        import ollama

        if isinstance(exc, ollama.ResponseError):
            status = exc.status_code
            return True if transient_status(status) else None
        if isinstance(exc, (ConnectionError, httpx.TransportError, MalformedResponse)):
            return True
        return None

    def _translate(self, exc: BaseException) -> ProviderError:
        import ollama

        who = f"ollama ({self.model})"
        data = {"provider": "ollama"}
        if isinstance(exc, ollama.ResponseError):
            status, detail = exc.status_code, exc.error
            if not transient_status(status) and "does not support tools" in str(detail):
                return ProviderIncompatible(
                    f"{who}: the model cannot call tools ({detail}); pick a tools model, e.g. llama3.1 or qwen2.5",
                    status=status, **data)
            hint = f"; run `ollama pull {self.model}`" if status == 404 else ""
            return status_error(who, status, detail, hint=hint, **data)
        known = failure_error(who, exc, timeout_s=self.timeout_s, **data,
                              unreachable=f"cannot reach Ollama at {self.base_url} ({error_text(exc)}); "
                                          f"is `ollama serve` running?")
        if known is None:
            raise exc
        return known

    # -- validation helpers (each raises the ProviderError subclasses; no retries:
    #    validation reports "degraded" instead of waiting)
    async def server_version(self) -> str:
        try:
            r = await self._client._client.get("/api/version")
            r.raise_for_status()
            return str(_decode(r.content).get("version", "?"))
        except Exception as exc:
            raise self._translate_any(exc) from exc

    async def ping(self) -> None:
        """Raises ProviderUnavailable when the server does not answer (``/api/version``)."""
        await self.server_version()

    async def pulled_models(self) -> list[str]:
        try:
            resp = await self._client.list()
        except Exception as exc:
            raise self._translate_any(exc) from exc
        return [m.model for m in resp.models if m.model]

    async def capabilities(self) -> list[str] | None:
        """The model's ``/api/show`` capabilities (None: the server does not report them)."""
        try:
            resp = await self._client.show(self.model)
        except Exception as exc:
            raise self._translate_any(exc) from exc
        return None if resp.capabilities is None else list(resp.capabilities)

    def _translate_any(self, exc: Exception) -> ProviderError:
        import httpx
        import ollama

        if isinstance(exc, ProviderError):
            return exc
        if isinstance(exc, httpx.HTTPStatusError):
            exc = ollama.ResponseError(exc.response.text, exc.response.status_code)
        if isinstance(exc, (msgspec.DecodeError, json.JSONDecodeError, AttributeError, TypeError)):
            exc = MalformedResponse(f"unreadable answer: {exc}")
        try:
            return self._translate(exc)
        except Exception:
            return ProviderUnavailable(f"ollama ({self.model}): {exc}", provider="ollama")

    async def check(self) -> CheckResult:
        from . import validate

        return await validate.check_ollama(self)
