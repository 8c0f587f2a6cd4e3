"""Circuit breakers: one per tool and one per provider endpoint.

    closed ──(threshold failures within window)──▶ open
    open ──(cooldown elapsed)──▶ half_open: one trial call is let through
    half_open ──success──▶ closed        half_open ──failure──▶ open (cooldown again)

While open, calls fail fast with a message that says what is disabled, why,
and when it will be tried again — the model reads it as the tool's error, the
user sees it in ``daemon.status``.

What counts as a failure: for a tool, its own failures (network errors,
timeouts, 5xx) — not refusals of bad input, which are the model's mistakes;
for the provider, errors left after the retries (unavailable, rate limited).

Time comes from ``clock`` (trio.current_time by default), so tests drive it
with trio's MockClock.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

import trio

from . import log
from .protocol.errors import ProviderRateLimited, ProviderUnavailable, ToolError, ToolRefused
from .protocol import methods as m
from .timeutil import now_ms, iso
from .tools.base import copy_attributes

_log = log.get("agentd.breaker")


class Breaker:
    def __init__(self, name: str, *, threshold: int = 5, window_s: float = 60.0, cooldown_s: float = 30.0,
                 clock: Callable[[], float] | None = None) -> None:
        self.name = name
        self.threshold = threshold
        self.window_s = window_s
        self.cooldown_s = cooldown_s
        self._clock = clock or trio.current_time
        self.state = "closed"
        self._failures: deque[float] = deque()
        self.opened_at: float | None = None
        self.opened_wall_ms: int | None = None
        self._trial_in_flight = False
        self.times_opened = 0

    def _now(self) -> float:
        return self._clock()

    def allow(self) -> str | None:
        """None if a call may go ahead, else the reason it may not."""
        self.allow_peek()
        if self.state == "open":
            left = self.opened_at + self.cooldown_s - self._now()
            return (f"{self.name} is disabled for {left:.0f} s more after {self.threshold} failures within "
                    f"{self.window_s:.0f} s (circuit breaker open); try something else or wait")
        if self.state == "half_open":
            if self._trial_in_flight:
                return f"{self.name} is being tried again after failures; wait for that trial (circuit breaker half-open)"
            self._trial_in_flight = True
        return None

    def success(self) -> None:
        if self.state != "closed":
            _log.info("breaker closed", breaker=self.name)
        self.state = "closed"
        self._failures.clear()
        self._trial_in_flight = False
        self.opened_at = None

    def release(self) -> None:
        """A call ended without telling us anything about the tool's health."""
        self._trial_in_flight = False

    def failure(self) -> None:
        now = self._now()
        if self.state == "half_open":
            self._open(now)
            return
        self._failures.append(now)
        while self._failures and self._failures[0] < now - self.window_s:
            self._failures.popleft()
        if len(self._failures) >= self.threshold:
            self._open(now)

    def _open(self, now: float) -> None:
        self.state = "open"
        self.opened_at = now
        self.opened_wall_ms = now_ms()
        self._trial_in_flight = False
        self._failures.clear()
        self.times_opened += 1
        _log.warning("breaker opened", breaker=self.name, cooldown_s=self.cooldown_s)

    def snapshot(self) -> m.BreakerState:
        self.allow_peek()
        return m.BreakerState(name=self.name, state=self.state, failures=len(self._failures),
                              opened_at=iso(self.opened_wall_ms) if self.state != "closed" else None)

    def allow_peek(self) -> None:
        """Move open -> half_open if the cooldown passed (for status), without taking the trial."""
        if self.state == "open" and self.opened_at is not None and self._now() >= self.opened_at + self.cooldown_s:
            self.state = "half_open"
            self._trial_in_flight = False
            _log.info("breaker half-open", breaker=self.name)


class Board:
    """All breakers of the daemon, by name."""

    def __init__(self, **defaults: Any) -> None:
        self.defaults = defaults
        self.breakers: dict[str, Breaker] = {}

    def get(self, name: str) -> Breaker:
        b = self.breakers.get(name)
        if b is None:
            b = self.breakers[name] = Breaker(name, **self.defaults)
        return b

    def snapshot(self) -> list[m.BreakerState]:
        return [b.snapshot() for b in self.breakers.values()]


class GuardedTool:
    """A tool behind its breaker. It owns the tool's timeout, so a timeout
    counts as a failure of the tool."""

    def __init__(self, tool: Any, breaker: Breaker, timeout_for: Callable[[], float]) -> None:
        self._tool = tool
        self._breaker = breaker
        self._timeout_for = timeout_for
        copy_attributes(self, tool)

    async def run(self, params: Any, ctx: Any) -> str:
        why = self._breaker.allow()
        if why is not None:
            raise ToolError(why, breaker=self._breaker.name)
        timeout = self._timeout_for()
        try:
            # A plain cancel scope, not fail_after (a generator context manager): this runs per tool call.
            with trio.CancelScope(deadline=trio.current_time() + timeout) as scope:
                result = await self._tool.run(params, ctx)
        except ToolRefused:
            self._breaker.release()  # bad input is the model's mistake, not the tool's failure
            raise
        except ToolError:
            self._breaker.failure()
            raise
        except BaseException:  # cancelled from outside, or a bug: says nothing about the tool's health
            self._breaker.release()  # (and a half-open trial must not stay taken for ever)
            raise
        if scope.cancelled_caught:
            self._breaker.failure()
            raise ToolError(f"{self.name} timed out after {timeout:.0f} s")
        self._breaker.success()
        return result


class GuardedProvider:
    """The provider behind the breaker of its endpoint."""

    def __init__(self, provider: Any, breaker: Breaker) -> None:
        self._p = provider
        self._breaker = breaker
        self.name = provider.name
        self.model = provider.model

    def __getattr__(self, item: str) -> Any:
        return getattr(self._p, item)

    async def complete(self, messages: Sequence[Any], tools: Sequence[Any], *, on_delta=None, on_retry=None,
                       max_tokens: int | None = None):
        why = self._breaker.allow()
        if why is not None:
            raise ProviderUnavailable(why, breaker=self._breaker.name)
        cap = {"max_tokens": max_tokens} if max_tokens else {}
        try:
            result = await self._p.complete(messages, tools, on_delta=on_delta, on_retry=on_retry, **cap)
        except (ProviderUnavailable, ProviderRateLimited):
            self._breaker.failure()
            raise
        except BaseException:  # a refused request, a cancelled run: not the endpoint's health
            self._breaker.release()
            raise
        self._breaker.success()
        return result

    async def check(self):
        return await self._p.check()

    async def aclose(self) -> None:
        await self._p.aclose()


def guard_registry(registry: Any, board: Board, tools_config: Any) -> Any:
    """Wrap every tool of ``registry`` (in place) with its breaker."""
    for name in list(registry._tools):  # the built-ins; a source's tools come guarded already
        tool = registry._tools[name]
        if getattr(tool, "ends_run", False):  # nothing to guard: it only reports the summary
            continue
        registry._tools[name] = GuardedTool(tool, board.get(f"tool:{name}"),
                                            lambda n=name: registry.timeout_for(n, tools_config))
    return registry
