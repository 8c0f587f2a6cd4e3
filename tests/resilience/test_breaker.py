"""Circuit breakers on trio's virtual clock: open, fail fast, half-open, close."""

from __future__ import annotations

import msgspec
import pytest
import trio
import trio.testing

from agentd.breaker import Board, Breaker, GuardedProvider, GuardedTool
from agentd.protocol.errors import ProviderRejected, ProviderUnavailable, ToolError, ToolRefused


class P(msgspec.Struct):
    pass


class FlakyTool:
    name = "flaky"
    description = "fails while told to"
    Params = P
    timeout_s = 5.0
    side_effect = False
    default = True

    def __init__(self) -> None:
        self.fail = True
        self.calls = 0
        self.hang = False

    async def run(self, params, ctx) -> str:
        self.calls += 1
        if self.hang:
            await trio.sleep_forever()
        if self.fail:
            raise ToolError("upstream said 503")
        return "fine"


def run_virtual(fn):
    trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


async def failing_calls(g: GuardedTool, times: int, match: str = "503") -> None:
    """``times`` calls through the guard, each failing with a ToolError matching ``match``."""
    for _ in range(times):
        with pytest.raises(ToolError, match=match):
            await g.run(P(), None)


def test_opens_after_threshold_fails_fast_then_half_opens_and_closes():
    async def main():
        tool = FlakyTool()
        g = GuardedTool(tool, Breaker("tool:flaky", threshold=3, window_s=60, cooldown_s=30), lambda: 5.0)
        await failing_calls(g, 3)
        assert g._breaker.state == "open"
        with pytest.raises(ToolError, match="circuit breaker open"):
            await g.run(P(), None)
        assert tool.calls == 3  # failed fast: the tool was not called
        await trio.sleep(31)
        assert g._breaker.snapshot().state == "half_open"
        tool.fail = False
        assert await g.run(P(), None) == "fine"
        assert g._breaker.state == "closed"

    run_virtual(main)


def test_half_open_failure_reopens_and_failures_outside_window_do_not_count():
    async def main():
        tool = FlakyTool()
        b = Breaker("tool:flaky", threshold=3, window_s=10, cooldown_s=5)
        g = GuardedTool(tool, b, lambda: 5.0)
        await failing_calls(g, 2)
        await trio.sleep(11)  # the two failures age out of the window
        with pytest.raises(ToolError, match="503"):
            await g.run(P(), None)
        assert b.state == "closed"
        await failing_calls(g, 2)
        assert b.state == "open"
        await trio.sleep(6)
        with pytest.raises(ToolError, match="503"):  # the trial call fails
            await g.run(P(), None)
        assert b.state == "open" and b.times_opened == 2

    run_virtual(main)


def test_timeouts_count_as_failures_and_refusals_do_not():
    async def main():
        tool = FlakyTool()
        b = Breaker("tool:flaky", threshold=2, window_s=60, cooldown_s=30)
        g = GuardedTool(tool, b, lambda: 1.0)

        class Refusing(FlakyTool):
            async def run(self, params, ctx):
                raise ToolRefused("refusing a private address")

        r = GuardedTool(Refusing(), b, lambda: 1.0)
        for _ in range(5):
            with pytest.raises(ToolRefused):
                await r.run(P(), None)
        assert b.state == "closed"
        tool.hang = True
        await failing_calls(g, 2, match="timed out after 1 s")
        assert b.state == "open"

    run_virtual(main)


def test_provider_breaker():
    class Down:
        name, model = "openai", "gpt-4o"
        calls = 0

        async def complete(self, messages, tools, *, on_delta=None, on_retry=None):
            self.calls += 1
            raise ProviderUnavailable("connection refused")

    async def main():
        p = Down()
        board = Board(threshold=2, window_s=60, cooldown_s=10)
        g = GuardedProvider(p, board.get("provider:openai:default"))
        for _ in range(2):
            with pytest.raises(ProviderUnavailable, match="refused"):
                await g.complete([], [])
        with pytest.raises(ProviderUnavailable, match="circuit breaker open"):
            await g.complete([], [])
        assert p.calls == 2
        states = board.snapshot()
        assert [(s.name, s.state) for s in states] == [("provider:openai:default", "open")]

    run_virtual(main)


def test_a_cancelled_or_refused_half_open_trial_does_not_keep_the_breaker_shut():
    async def main():
        tool = FlakyTool()
        b = Breaker("tool:flaky", threshold=1, window_s=60, cooldown_s=5)
        g = GuardedTool(tool, b, lambda: 60.0)
        with pytest.raises(ToolError, match="503"):
            await g.run(P(), None)
        assert b.state == "open"
        await trio.sleep(6)
        tool.hang = True
        with trio.move_on_after(1):  # the run is cancelled during the trial call
            await g.run(P(), None)
        assert b.snapshot().state == "half_open"
        tool.hang, tool.fail = False, False
        assert await g.run(P(), None) == "fine"  # a new trial is let through
        assert b.state == "closed"

        class Rejecting:
            name, model = "openai", "gpt-4o"

            async def complete(self, messages, tools, *, on_delta=None, on_retry=None):
                raise ProviderRejected("the request was refused (HTTP 400)")

        pb = Breaker("provider:openai:default", threshold=1, window_s=60, cooldown_s=5)
        pb.failure()
        await trio.sleep(6)
        gp = GuardedProvider(Rejecting(), pb)
        for _ in range(2):  # the trial's refusal releases it: the next call is tried, not refused
            with pytest.raises(ProviderRejected, match="HTTP 400"):
                await gp.complete([], [])
        assert pb.snapshot().state == "half_open"

    run_virtual(main)
