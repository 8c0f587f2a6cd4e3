"""OpenAI, OpenRouter and any OpenAI-compatible server, over Chat Completions.

The HTTP stack is httpx (``_httpx_client``): one ``httpx.AsyncClient`` per
provider, built on first use, ``trust_env`` (proxies, SSL_CERT_FILE/
SSL_CERT_DIR), its pool keeping ``pool_size`` connections alive (the factory
sets it from ``daemon.max_concurrent_runs``), every answer decoded under a
size cap. Request bodies are built from cached bytes (``_wire``: each message
encoded once and kept by identity, the tools list once per tool set) and
answers decoded by msgspec into our structs; streaming reads SSE lines. The
model list (``GET {base_url}/models``) goes through the same client and the
same error translation.

A local server needs no key: with a custom base URL and no API key, requests
go out without an ``Authorization`` header.

Errors: ``agentd.retry`` retries 408, 409, 429, 5xx, timeouts, connection
errors and malformed bodies, honouring ``Retry-After`` / ``retry-after-ms``.
A pooled keep-alive connection that the server had closed (llama.cpp closes
after streamed answers) fails before any byte of the answer arrives; that
request is sent again at once on a fresh connection, without a backoff and
without counting as a retry. What is left is translated, with
``raise ... from exc`` (the cause being httpx's exception, or an
``httpx.HTTPStatusError`` carrying the answer), into ProviderRateLimited (429),
ProviderRejected (400/401/403/404/422..., with the provider's error message),
ProviderUnavailable (5xx, timeouts, connection, malformed or oversized
answers). Cancelling the caller closes the connection, which aborts the request.
"""

from __future__ import annotations

import random
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .. import __version__
from ..messages import Completion, Message, ToolSpec
from ..protocol.errors import ProviderError, ProviderRejected
from ..retry import OnRetry, RetryPolicy, retry_after_from_headers
from . import _wire
from ._httpx_client import (DEFAULT_MAX_ANSWER_BYTES, describe_failure, error_text, limit_answers,
                            open_client)
from ._wire import MessageCache, ToolsCache
from .base import (CheckResult, MalformedResponse, RetryNotice, StreamBroken, failure_error, retry_counted,
                   status_error, transient_status)

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
KEY_HINTS = {
    "openai": "OPENAI_API_KEY (or `api_key` in the [openai] section of config.toml)",
    "openrouter": "OPENROUTER_API_KEY (or `api_key` in the [openrouter] section of config.toml)",
}
MIN_POOL = 8
PROBE_MAX_TOKENS = 160
_JSON_HEADERS = {"accept": "application/json"}
_SSE_HEADERS = {"accept": "text/event-stream"}
_MAX_ERROR_BODY = 64 * 1024

__all__ = ["KEY_HINTS", "OPENAI_BASE_URL", "OPENROUTER_BASE_URL", "MalformedResponse", "OpenAIProvider",
           "ToolsCache"]


def uses_completion_cap(provider: str, model: str) -> bool:
    """OpenAI's reasoning models (o1, o3, o4-mini..., gpt-5...) take
    ``max_completion_tokens``; asked with ``max_tokens`` they answer 400."""
    if provider != "openai":
        return False
    name = model.lower().rsplit("/", 1)[-1]
    return bool(re.match(r"(o\d|gpt-5)", name))


class _StatusError(Exception):
    """A non-2xx answer, read (internal; carries the httpx.HTTPStatusError as cause)."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body


class _Stale(Exception):
    """A reused connection failed before any byte of the answer (internal: sent again at once)."""


class _Trace:
    """httpcore's ``trace`` extension for one request: did it open a connection?"""

    __slots__ = ("connected",)

    def __init__(self) -> None:
        self.connected = False

    async def __call__(self, name: str, info: Any) -> None:
        if name == "connection.connect_tcp.started":
            self.connected = True


class OpenAIProvider:
    """One model on OpenAI, OpenRouter or an OpenAI-compatible server.

    Raises from ``complete``: ProviderRejected (4xx, missing API key),
    ProviderRateLimited (429 after the retries), ProviderUnavailable (5xx,
    timeouts, connection errors, malformed answers after the retries; an
    answer over ``max_answer_bytes`` decoded, at once; a SOCKS proxy without
    SOCKS support). ``pool_size``: connections kept alive for reuse (at
    least ``MIN_POOL``); set it to the number of runs that call the model at once.
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
        pool_size: int | None = None,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        max_tokens: int | None = None,
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
        self.pool_size = max(MIN_POOL, pool_size or 0)
        self.max_answer_bytes = max_answer_bytes
        self.retries = 0  # transient failures retried so far (for metrics)
        self.reconnects = 0  # requests sent again at once after a stale pooled connection
        self._headers = dict(headers or {})
        self._on_retry = on_retry
        self._rng = rng
        self._sleep = sleep
        self._tools = ToolsCache()
        self._messages = MessageCache(max_entries=max(4096, 128 * self.pool_size), max_bytes=16 << 20)
        self._prefix = _wire.model_prefix(model)
        self._client: Any = None
        self._chat_url = self.base_url + "/chat/completions"
        self.max_tokens = max_tokens  # the answer cap sent with every call (None: the server's default)
        self._cap = self.cap_member(max_tokens) if max_tokens else b""

    # -- client
    @property
    def needs_key(self) -> bool:
        """OpenAI and OpenRouter need a key; a server at a custom base URL may not."""
        return self.name == "openrouter" or not self.custom_base_url

    def _http(self) -> Any:
        client = self._client
        if client is not None:
            return client
        if not self.api_key and self.needs_key:
            raise self.no_key_error()
        import httpx

        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity",
                   "User-Agent": f"agentd/{__version__}", **self._headers}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        client = open_client(
            self.name, headers=headers, timeout=httpx.Timeout(self.timeout_s),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=self.pool_size,
                                keepalive_expiry=5.0),
            event_hooks={"response": [limit_answers(self.max_answer_bytes)]})
        self._client = client
        return client

    def no_key_error(self) -> ProviderRejected:
        return ProviderRejected(f"{self.name}: no API key; set {self.key_hint}", provider=self.name)

    @property
    def key_hint(self) -> str:
        return KEY_HINTS.get(self.name, KEY_HINTS["openai"])

    async def aclose(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.aclose()

    # -- the call
    def encode_request(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *, stream: bool,
                       extra: bytes = b"") -> bytes:
        """The Chat Completions request body (public for benchmarks and tests)."""
        return _wire.request_body(self._prefix, self._messages.encoded(messages),
                                  self._tools.get(tools) if tools else None, stream, extra)

    def cap_member(self, n: int) -> bytes:
        """The request member capping the answer at ``n`` tokens: OpenAI's
        o-series and gpt-5 models refuse ``max_tokens`` and take
        ``max_completion_tokens`` (which counts their reasoning too); every
        other model and server (OpenRouter, llama.cpp, vLLM...) takes ``max_tokens``."""
        return (b',"max_completion_tokens":%d' if uses_completion_cap(self.name, self.model)
                else b',"max_tokens":%d') % n

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_delta: Callable[[str], None] | None = None,
        on_retry: RetryNotice | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        cap = self.cap_member(max_tokens) if max_tokens else self._cap
        return await self._complete(messages, tools, on_delta, on_retry, self.policy, cap)

    async def probe(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion:
        """One attempt, no retries (validation reports "degraded" rather than wait), and a
        short answer (``max_tokens``): a small model that pads its answer would take minutes."""
        return await self._complete(messages, tools, None, None, RetryPolicy(max_attempts=1),
                                    self.cap_member(PROBE_MAX_TOKENS))

    async def ping(self) -> None:
        """Raises ProviderUnavailable when the server does not answer at all
        (``GET {base_url}/models``, one attempt, at most 5 s; any HTTP answer
        will do, and only its head is read: OpenRouter's list is large)."""
        import httpx

        try:
            client = self._http()
            request = client.build_request("GET", self.base_url + "/models", headers=_JSON_HEADERS,
                                           timeout=min(self.timeout_s, 5.0))
            response = await client.send(request, stream=True)
            await response.aclose()
        except (httpx.TransportError, httpx.DecodingError) as exc:
            raise self._translate(exc) from exc

    async def _complete(self, messages: Sequence[Message], tools: Sequence[ToolSpec],
                        on_delta: Callable[[str], None] | None, on_retry: RetryNotice | None,
                        policy: RetryPolicy, extra: bytes = b"") -> Completion:
        body = self.encode_request(messages, tools, stream=on_delta is not None, extra=extra)

        async def attempt() -> Completion:
            client = self._http()
            stale: BaseException | None = None
            for _ in range(self.pool_size + 1):  # at most every pooled connection, then a fresh one
                try:
                    if on_delta is None:
                        return await self._post(client, body)
                    return await self._post_stream(client, body, on_delta)
                except _Stale as exc:
                    self.reconnects += 1
                    stale = exc.__cause__
            assert stale is not None
            raise stale

        try:
            return await retry_counted(self, attempt, policy, on_retry)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._translate(exc) from (exc.__cause__ if isinstance(exc, _StatusError) else exc)

    async def _send(self, client: Any, request: Any) -> Any:
        """Sends and reads the answer's head; a stale pooled connection becomes ``_Stale``."""
        import httpx

        trace = _Trace()
        request.extensions["trace"] = trace
        try:
            return await client.send(request, stream=True)
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            if trace.connected:
                raise
            raise _Stale() from exc

    async def _post(self, client: Any, body: bytes) -> Completion:
        response = await self._send(client, client.build_request("POST", self._chat_url, content=body,
                                                                 headers=_JSON_HEADERS))
        try:
            if response.status_code != 200:
                await self._raise_status(response)
            return _wire.parse_completion(await response.aread(), self.model)
        finally:
            await response.aclose()

    async def _raise_status(self, response: Any) -> None:
        """For an answer with a status other than 200 (its body read up to 64 KiB)."""
        import httpx

        status = response.status_code
        if 200 <= status < 300:
            raise MalformedResponse(f"unexpected status {status}")
        parts, size = [], 0
        async for data in response.aiter_bytes():
            parts.append(data)
            size += len(data)
            if size >= _MAX_ERROR_BODY:
                break
        body = b"".join(parts)[:_MAX_ERROR_BODY]
        request = response.request
        cause = httpx.HTTPStatusError(f"{status} {response.reason_phrase} for {request.method} {request.url}",
                                      request=request, response=response)
        raise _StatusError(status, response.headers, body) from cause

    async def _post_stream(self, client: Any, body: bytes, on_delta: Callable[[str], None]) -> Completion:
        response = await self._send(client, client.build_request("POST", self._chat_url, content=body,
                                                                 headers=_SSE_HEADERS))
        acc = _wire.StreamAccumulator(self.model)
        try:
            if response.status_code != 200:
                await self._raise_status(response)
            lines = _wire.LineSplitter()
            async for data in response.aiter_raw():
                if any(acc.feed(line, on_delta) for line in lines.feed(data)):
                    break
            else:
                acc.feed(lines.tail(), on_delta)
            return acc.result()
        except Exception as exc:
            if acc.emitted:  # retrying would deliver the same text twice
                raise StreamBroken(f"stream broke after text was delivered: {exc}") from exc
            raise
        finally:
            await response.aclose()

    # -- errors
    def _is_transient(self, exc: BaseException) -> float | bool | None:
        import httpx

        if isinstance(exc, _StatusError):
            if transient_status(exc.status):
                return retry_after_from_headers(exc.headers) or True
            return None
        if isinstance(exc, (MalformedResponse, httpx.TransportError)):
            return True
        return None

    def describe(self, exc: BaseException) -> str:
        """Why an attempt failed, for a person watching the retries."""
        if isinstance(exc, _StatusError):
            return f"HTTP {exc.status} from server"
        return describe_failure(exc, self.timeout_s)

    def _translate(self, exc: BaseException) -> ProviderError:
        import httpx

        who = f"{self.name} ({self.model})"
        if isinstance(exc, _StatusError):
            status = exc.status
            hint = ""
            if status in (401, 403):
                hint = f"; check {self.key_hint}"
            elif status == 404:
                hint = f"; check the model name {self.model!r} and the base URL {self.base_url}"
            return status_error(who, status, _wire.error_detail(exc.body, f"HTTP {status}"), hint=hint,
                                provider=self.name)
        known = failure_error(who, exc, timeout_s=self.timeout_s, provider=self.name,
                              unreachable=f"cannot reach {self.base_url}: {error_text(exc)}")
        if known is not None:
            return known
        if isinstance(exc, httpx.HTTPError):
            return ProviderError(f"{who}: {exc}", provider=self.name)
        raise exc

    # -- validation
    async def list_models(self) -> dict[str, list[str]]:
        """``GET {base_url}/models`` as {model id: supported parameters} (OpenRouter's shape).

        One attempt, no retries (validation reports "degraded" rather than
        wait). Raises the ProviderError subclasses, like ``complete``.
        """
        try:
            client = self._http()
            response = await client.get(self.base_url + "/models", headers=_JSON_HEADERS)
            if response.status_code != 200:
                await self._raise_status(response)
            return _wire.parse_models(response.content)
        except ProviderError:
            raise
        except Exception as exc:
            raise self._translate(exc) from (exc.__cause__ if isinstance(exc, _StatusError) else exc)

    async def check(self) -> CheckResult:
        from . import validate

        return await validate.check_openai(self)

