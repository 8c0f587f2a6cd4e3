"""The one retry policy of agentd: exponential backoff with full jitter that
honours a server's ``Retry-After``.

    policy = RetryPolicy(max_attempts=5, base_delay=1.0, max_delay=30.0)
    result = await retry(call, policy=policy, is_transient=classify,
                         on_retry=lambda attempt, delay, exc: metrics.retries += 1)

``is_transient(exc)`` decides per exception: ``None``/``False`` — not
transient, re-raised at once; ``True`` — transient, wait the backoff;
a number — transient, and the server asked for that many seconds
(``Retry-After``), which replaces the backoff but is still capped by
``max_delay``.

Time goes through ``sleep`` (``trio.sleep`` by default, so trio's MockClock
drives it in tests) and randomness through ``rng`` (a ``random.Random``;
seed it in tests). Nothing here is global.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from email.utils import parsedate_to_datetime
from typing import TypeVar

import msgspec

T = TypeVar("T")

IsTransient = Callable[[BaseException], "float | bool | None"]
OnRetry = Callable[[int, float, BaseException], None]


class RetryPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """``max_attempts`` counts the first try: 1 means never retry."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 30.0
    multiplier: float = 2.0
    jitter: bool = True

    def backoff_cap(self, attempt: int) -> float:
        """The upper bound of the wait after failed attempt number ``attempt`` (1-based)."""
        exponent = max(attempt - 1, 0)
        try:
            cap = self.base_delay * self.multiplier**exponent
        except OverflowError:
            cap = self.max_delay
        return min(cap, self.max_delay)

    def delay(self, attempt: int, rng: random.Random, retry_after: float | None = None) -> float:
        """Seconds to wait before the next attempt.

        A server's ``retry_after`` wins over the backoff, capped by ``max_delay``;
        otherwise full jitter: uniform in ``[0, backoff_cap(attempt)]``.
        """
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        cap = self.backoff_cap(attempt)
        return rng.uniform(0.0, cap) if self.jitter else cap


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delta-seconds or an HTTP-date.

    Returns ``None`` when the header is missing or unparseable; a date in the
    past gives ``0.0``. ``now`` (epoch seconds) is injectable for tests.
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(seconds, 0.0) if seconds == seconds else None  # NaN -> None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def retry_after_from_headers(headers, *, now: float | None = None) -> float | None:
    """``retry-after-ms`` (OpenAI's) or ``Retry-After`` from a headers mapping."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(float(ms) / 1000.0, 0.0)
        except ValueError:
            pass
    return parse_retry_after(headers.get("retry-after"), now=now)


async def _trio_sleep(seconds: float) -> None:
    import trio

    await trio.sleep(seconds)


async def retry(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: RetryPolicy,
    is_transient: IsTransient,
    on_retry: OnRetry | None = None,
    rng: random.Random | None = None,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> T:
    """Call ``fn()`` until it returns, a non-transient error, or the attempts run out.

    Raises: the last exception ``fn`` raised, unchanged (the caller translates it).
    Cancellation: ``Cancelled`` is a ``BaseException`` and is never caught, so
    cancelling the caller stops both the call and the wait.
    ``on_retry(attempt, delay, exc)`` runs before each wait (attempt is 1-based:
    the number of the attempt that just failed).
    """
    rng = rng if rng is not None else random.Random()
    sleep = sleep if sleep is not None else _trio_sleep
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except Exception as exc:
            verdict = is_transient(exc)
            if verdict is None or verdict is False or attempt >= policy.max_attempts:
                raise
            retry_after = None if verdict is True else float(verdict)
            delay = policy.delay(attempt, rng, retry_after)
            if on_retry is not None:
                on_retry(attempt, delay, exc)
            await sleep(delay)
