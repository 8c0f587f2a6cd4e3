"""Shared helpers for the provider tests: everything runs under trio.run with a deadline."""

from __future__ import annotations

import random

import pytest
import trio

from agentd.agent.messages import Message, ToolSpec
from agentd.retry import RetryPolicy

TOOLS = [ToolSpec("get_time", "Current time", {"type": "object", "properties": {"tz": {"type": "string"}}})]
HISTORY = [Message(role="system", content="be brief"), Message(role="user", content="what time is it?")]


class SleepRecorder:
    """An injected sleep: records the requested delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await trio.lowlevel.checkpoint()


@pytest.fixture
def run():
    def _run(fn, *args, deadline: float = 15.0, **kwargs):
        async def main():
            with trio.fail_after(deadline):
                return await fn(*args, **kwargs)

        return trio.run(main)

    return _run


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def fast_policy(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=8.0)


def seeded() -> random.Random:
    return random.Random(1234)
