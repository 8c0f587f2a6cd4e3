"""OpenAI, OpenRouter and any OpenAI-compatible server, over Chat Completions.

No SDK on the request path (the SDK lists models, for validation: see
``list_models``). Issue 7 asked to send prebuilt bodies "through the
SDK's lower-level request path, keeping its auth, base URL, retries and error
types — or another way that keeps per-step cost flat". We took the other way:
profiled under the daemon, the SDK's ``AsyncAPIClient.post`` was 66 % of its
Python time (request building 15-17 %: URL parsing, header checks, option
copies; httpx2's send 38-41 %, its pool scan growing with the connections), and
what we kept of it is small: auth is one header, the base URL a prefix, retries
are ours (``agentd.retry``) and its error types never left this module. So:

- one long-lived client per provider (``_http.HTTPClient``: trio and our own
  HTTP/1.1 framing, a LIFO pool of keep-alive connections, O(1) per request;
  ``pool_size``, which the factory sets from ``daemon.max_concurrent_runs``,
  keeps at least that many connections alive), the request target and headers
  (auth, content type, user agent, OpenRouter's ``HTTP-Referer``/``X-Title``)
  built once;
  ``_httpx_client.HttpxClient`` instead when the environment sets a proxy for the URL;
- the body built from cached bytes (``_wire``: each message is encoded once
  and kept by identity, the tools list once per tool set; a call joins bytes),
  the answer decoded by msgspec into our structs; streaming reads SSE lines.

Errors, as before: ``agentd.retry`` retries 408, 409, 429, 5xx, timeouts,
connection errors and malformed bodies, honouring ``Retry-After`` /
``retry-after-ms``; what is left is translated, with ``raise ... from exc``
(the cause being the transport's httpx exception or an ``httpx.HTTPStatusError``
carrying the answer), into ProviderRateLimited (429), ProviderRejected
(400/401/403/404/422..., with the provider's error message), ProviderUnavailable
(5xx, timeouts, connection, malformed answers). Cancelling the caller closes the
connection, which aborts the request.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from .. import __version__
from ..agent.messages import Completion, Message, ToolSpec
from ..errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from ..retry import OnRetry, RetryPolicy, retry, retry_after_from_headers
from . import _http, _wire
from ._wire import MalformedResponse, MessageCache, ToolsCache
from .base import CheckResult

OPENAI_BASE_URL = "https://api.openai.com/v1"
OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
KEY_HINTS = {
    "openai": "OPENAI_API_KEY (or `api_key` in the [openai] section of config.toml)",
    "openrouter": "OPENROUTER_API_KEY (or `api_key` in the [openrouter] section of config.toml)",
}
TRANSIENT_STATUS = frozenset({408, 409, 429})
MIN_POOL = 8
_JSON_HEADERS = ((b"accept", b"application/json"),)
_SSE_HEADERS = ((b"accept", b"text/event-stream"),)

__all__ = ["KEY_HINTS", "OPENAI_BASE_URL", "OPENROUTER_BASE_URL", "MalformedResponse", "OpenAIProvider",
           "ToolsCache"]


class _StreamBroken(Exception):
    """The stream failed after deltas were delivered (internal; not retried)."""


class _StatusError(Exception):
    """A non-2xx answer, read (internal; carries the httpx.HTTPStatusError as cause)."""

    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        super().__init__(status)
        self.status = status
        self.headers = headers
        self.body = body


class OpenAIProvider:
    """One model on OpenAI, OpenRouter or an OpenAI-compatible server.

    Raises from ``complete``: ProviderRejected (4xx, missing API key),
    ProviderRateLimited (429 after the retries), ProviderUnavailable (5xx,
    timeouts, connection errors and malformed answers after the retries).
    ``pool_size``: connections kept alive for reuse (at least ``MIN_POOL``);
    set it to the number of runs that call the model at once.
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
        self.retries = 0  # transient failures retried so far (for metrics)
        self._headers = dict(headers or {})
        self._on_retry = on_retry
        self._rng = rng
        self._sleep = sleep
        self._tools = ToolsCache()
        self._messages = MessageCache(max_entries=max(4096, 128 * self.pool_size), max_bytes=16 << 20)
        self._prefix = _wire.model_prefix(model)
        self._client: Any = None
        self._chat_target = b""

    # -- client
    def _transport(self) -> Any:
        client = self._client
        if client is not None:
            return client
        if not self.api_key:
            raise self.no_key_error()
        headers = {
            "Authorization": f"Bearer {self.api_key}",
            "Content-Type": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": f"agentd/{__version__}",
            **self._headers,
        }
        client = _http.make_client(self.base_url, headers, timeout=self.timeout_s, max_keepalive=self.pool_size)
        self._chat_target = client.target("/chat/completions")
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
    def encode_request(self, messages: Sequence[Message], tools: Sequence[ToolSpec], *, stream: bool) -> bytes:
        """The Chat Completions request body (public for benchmarks and tests)."""
        return _wire.request_body(self._prefix, self._messages.encoded(messages),
                                  self._tools.get(tools) if tools else None, stream)

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_delta: Callable[[str], None] | None = None,
    ) -> Completion:
        client = self._transport()
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
            raise self._translate(exc) from (exc.__cause__ if isinstance(exc, _StatusError) else exc)

    def _count_retry(self, attempt: int, delay: float, exc: BaseException) -> None:
        self.retries += 1
        if self._on_retry is not None:
            self._on_retry(attempt, delay, exc)

    async def _post(self, client: Any, body: bytes) -> Completion:
        status, headers, raw = await client.request(b"POST", self._chat_target, body, _JSON_HEADERS)
        if status != 200:
            self._raise_status(status, headers, raw)
        return _wire.parse_completion(raw, self.model)

    def _raise_status(self, status: int, headers: Any, body: bytes) -> None:
        """For a chat completion answered with ``status`` (not 200)."""
        if 200 <= status < 300:
            raise MalformedResponse(f"unexpected status {status}")
        err = _StatusError(status, headers, body)
        raise err from _http.status_error("POST", self.base_url + "/chat/completions", status, headers, body)

    async def _post_stream(self, client: Any, body: bytes, on_delta: Callable[[str], None]) -> Completion:
        ex = await client.send(b"POST", self._chat_target, body, _SSE_HEADERS)
        acc = _wire.StreamAccumulator(self.model)
        try:
            if ex.status != 200:
                self._raise_status(ex.status, ex.headers, await ex.read_all())
            lines = _wire.LineSplitter()
            while (data := await ex.read()) is not None:
                if any(acc.feed(line, on_delta) for line in lines.feed(data)):
                    break
            else:
                acc.feed(lines.tail(), on_delta)
            return acc.result()
        except Exception as exc:
            if acc.emitted:  # retrying would deliver the same text twice
                raise _StreamBroken(f"stream broke after text was delivered: {exc}") from exc
            raise
        finally:
            await ex.aclose()

    # -- errors
    def _is_transient(self, exc: BaseException) -> float | bool | None:
        import httpx

        if isinstance(exc, _StatusError):
            if exc.status in TRANSIENT_STATUS or exc.status >= 500:
                return retry_after_from_headers(httpx.Headers(exc.headers)) or True
            return None
        if isinstance(exc, (MalformedResponse, httpx.TransportError)):
            return True
        return None

    def _translate(self, exc: BaseException) -> ProviderError:
        import httpx

        who = f"{self.name} ({self.model})"
        if isinstance(exc, _StatusError):
            status = exc.status
            detail = _wire.error_detail(exc.body, f"HTTP {status}")
            data = {"provider": self.name, "status": status}
            if status == 429:
                return ProviderRateLimited(f"{who}: rate limited: {detail}", **data)
            if status in TRANSIENT_STATUS or status >= 500:
                return ProviderUnavailable(f"{who}: server error {status}: {detail}", **data)
            hint = ""
            if status in (401, 403):
                hint = f"; check {self.key_hint}"
            elif status == 404:
                hint = f"; check the model name {self.model!r} and the base URL {self.base_url}"
            return ProviderRejected(f"{who}: rejected ({status}): {detail}{hint}", **data)
        if isinstance(exc, httpx.TimeoutException):
            return ProviderUnavailable(f"{who}: timed out after {self.timeout_s:g}s", provider=self.name)
        if isinstance(exc, httpx.TransportError):
            return ProviderUnavailable(f"{who}: cannot reach {self.base_url}: {exc}", provider=self.name)
        if isinstance(exc, (MalformedResponse, _StreamBroken)):
            return ProviderUnavailable(f"{who}: {exc}", provider=self.name)
        if isinstance(exc, httpx.HTTPError):
            return ProviderError(f"{who}: {exc}", provider=self.name)
        raise exc

    # -- validation
    async def list_models(self) -> dict[str, list[str]]:
        """``GET {base_url}/models`` as {model id: supported parameters} (OpenRouter's shape).

        Through the ``openai`` SDK (``client.models.list()``): this call is made
        once at start-up and on ``provider.check``, so the SDK's per-call cost
        does not matter here, and its model types and errors are the reference
        for what OpenAI-compatible servers return. One attempt, no retries
        (validation reports "degraded" rather than wait). Raises the
        ProviderError subclasses, like ``complete``.
        """
        import openai

        if not self.api_key:
            raise self.no_key_error()
        client = openai.AsyncOpenAI(api_key=self.api_key, base_url=self.base_url, max_retries=0,
                                    timeout=min(self.timeout_s, 30.0), default_headers=self._headers or None)
        try:
            page = await client.models.list()
            return {m.id: list((m.model_extra or {}).get("supported_parameters") or ()) for m in page.data}
        except openai.APIError as exc:
            raise self._translate_sdk(exc) from exc
        finally:
            await client.close()

    def _translate_sdk(self, exc: Exception) -> ProviderError:
        import openai

        who = f"{self.name} ({self.model})"
        if isinstance(exc, openai.APIStatusError):
            return self._translate(_StatusError(exc.status_code, exc.response.headers, exc.response.content))
        if isinstance(exc, openai.APITimeoutError):
            return ProviderUnavailable(f"{who}: timed out listing models at {self.base_url}", provider=self.name)
        if isinstance(exc, openai.APIConnectionError):
            return ProviderUnavailable(f"{who}: cannot reach {self.base_url}: {exc}", provider=self.name)
        return ProviderUnavailable(f"{who}: unreadable model list: {exc}", provider=self.name)

    async def check(self) -> CheckResult:
        from . import validate

        return await validate.check_openai(self)
