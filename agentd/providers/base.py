"""The provider interface. Implementations: openai.py (OpenAI, OpenRouter and any
OpenAI-compatible server), ollama.py.

Errors: every SDK or transport error is translated inside the provider module,
through the one map here (``status_error``, ``failure_error``), into the
``ProviderError`` subclasses of ``agentd.protocol.errors`` (``raise ... from``):
ProviderUnavailable (connection refused, timeouts and 5xx left after retries;
an answer over ``provider.max_answer_bytes`` decoded; a SOCKS proxy without
SOCKS support),
ProviderRateLimited (429 left after retries), ProviderRejected (other 4xx: auth,
bad request, unknown model), ProviderIncompatible (the model cannot call tools).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from ..messages import Completion, Message, ToolSpec
from ..protocol.errors import ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable
from ..retry import RetryPolicy, retry

T = TypeVar("T")

CheckState = Literal["ok", "degraded", "incompatible"]

# on_retry(attempt, delay_s, reason): called before each backoff sleep of one
# complete() call; attempt is the 1-based number of the attempt that failed,
# reason a short text for a person ("HTTP 503 from server", "timed out after
# 120 s", "connection refused").
RetryNotice = Callable[[int, float, str], None]


async def retry_counted(provider: Any, fn: Callable[[], Awaitable[T]], policy: RetryPolicy,
                        on_retry: RetryNotice | None) -> T:
    """``agentd.retry.retry`` for a provider's call: each retry adds to
    ``provider.retries``, goes to the provider's own ``_on_retry`` (the
    exception, for metrics) and to ``on_retry`` (``provider.describe(exc)``,
    for a person). Uses the provider's ``_is_transient``, ``_rng`` and ``_sleep``.
    """

    def count(attempt_no: int, delay: float, exc: BaseException) -> None:
        provider.retries += 1
        if provider._on_retry is not None:
            provider._on_retry(attempt_no, delay, exc)
        if on_retry is not None:
            on_retry(attempt_no, delay, provider.describe(exc))

    return await retry(fn, policy=policy, is_transient=provider._is_transient,
                       on_retry=count, rng=provider._rng, sleep=provider._sleep)


class MalformedResponse(Exception):
    """The server answered with a body we cannot read (internal; retried)."""


class StreamBroken(Exception):
    """A stream failed after text was delivered (internal; not retried: the
    watcher already saw that text)."""


# With every 5xx (and Ollama's -1, "no status"): worth retrying.
TRANSIENT_STATUS = frozenset({408, 409, 429})


def transient_status(status: int) -> bool:
    return status in TRANSIENT_STATUS or status >= 500 or status == -1


def status_error(who: str, status: int, detail: str, *, hint: str = "", **data: Any) -> ProviderError:
    """The error for an HTTP ``status`` a model server answered with: 429 is
    rate limited, the other transient statuses unavailable, any other status
    rejected (``hint`` says what to check)."""
    if status == 429:
        return ProviderRateLimited(f"{who}: rate limited: {detail}", status=status, **data)
    if transient_status(status):
        return ProviderUnavailable(f"{who}: server error {status}: {detail}", status=status, **data)
    return ProviderRejected(f"{who}: rejected ({status}): {detail}{hint}", status=status, **data)


def failure_error(who: str, exc: BaseException, *, timeout_s: float, unreachable: str,
                  **data: Any) -> ProviderError | None:
    """The error for a failure without an HTTP status: a timeout or no
    connection (``unreachable`` says where and what to check) or an answer we
    could not read is unavailable; None for anything else."""
    import httpx

    from ._httpx_client import AnswerTooLarge

    if isinstance(exc, httpx.TimeoutException):
        return ProviderUnavailable(f"{who}: timed out after {timeout_s:g} s", **data)
    if isinstance(exc, (ConnectionError, httpx.TransportError)):
        return ProviderUnavailable(f"{who}: {unreachable}", **data)
    if isinstance(exc, (MalformedResponse, StreamBroken, AnswerTooLarge, httpx.DecodingError)):
        return ProviderUnavailable(f"{who}: {exc}", **data)
    return None


class CheckResult(msgspec.Struct, frozen=True):
    """The outcome of the tool-calling validation.

    ``state``: ok — the model can call tools; incompatible — it cannot (the
    daemon refuses to start); degraded — we could not tell (server unreachable),
    the daemon starts and retries with backoff.
    """

    state: CheckState
    message: str
    provider: str
    model: str


class Provider(Protocol):
    name: str  # "openai" | "openrouter" | "ollama"
    model: str

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec],
        *,
        on_delta: Callable[[str], None] | None = None,
        on_retry: RetryNotice | None = None,
        max_tokens: int | None = None,
    ) -> Completion:
        """One model call, retried on transient errors per the retry policy.

        ``max_tokens`` caps this answer below the provider's own cap
        (``provider.max_tokens``, sent with every call).

        ``tools`` empty means "answer without tools" (the final summary turn).
        ``on_delta`` (optional) receives text deltas when the provider streams.
        ``on_retry`` (optional) hears of each retry before its backoff sleep.
        ``finish_reason`` of the result is "length" when the answer was cut
        by the output limit, "tool_calls" when it holds calls, else "stop"
        (or what the server said).
        Cancellation: cancelling the caller aborts the HTTP request.
        """
        ...

    async def check(self) -> CheckResult:
        """Tool-calling validation (see the module docstring of validate.py)."""
        ...

    async def aclose(self) -> None: ...
