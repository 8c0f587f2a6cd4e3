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


async def read_request(stream: trio.abc.ReceiveStream, buf: bytes = b"") -> tuple[bytes | None, bytes]:
    """For raw loopback servers: the next HTTP request on ``stream``, after the
    bytes ``buf`` already received. Returns (its head and Content-Length body,
    the bytes after it); the request is None when the client closed first."""
    while b"\r\n\r\n" not in buf:
        data = await stream.receive_some(65536)
        if not data:
            return None, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = await stream.receive_some(65536)
        if not data:
            return None, rest
        rest += data
    return head + b"\r\n\r\n" + rest[:length], rest[length:]
