"""FakeLLM itself: loop mode for concurrent conversations, script bookkeeping."""

from __future__ import annotations

import pytest
import trio

from agentd.messages import Message
from agentd.providers.openai import OpenAIProvider
from agentd.testing.fakellm import FakeLLM, Loop, text
from provider_helpers import HISTORY, TOOLS


async def conversation(p: OpenAIProvider, results: list[int]) -> None:
    history = list(HISTORY)
    for _ in range(10):
        c = await p.complete(history, TOOLS)
        if not c.message.tool_calls:
            results.append(sum(1 for m in history if m.role == "tool"))
            return
        history.append(c.message)
        for tc in c.message.tool_calls:
            history.append(Message(role="tool", content="ok", tool_call_id=tc.id, name=tc.name))


def test_loop_mode_serves_concurrent_conversations_independently(run):
    results: list[int] = []
    with FakeLLM(loop=Loop(k=3, tool="get_time"), record=False) as fake:
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=fake.base_url)

        async def main():
            try:
                async with trio.open_nursery() as nursery:
                    for _ in range(8):
                        nursery.start_soon(conversation, p, results)
            finally:
                await p.aclose()

        run(main)
        assert fake.requests == [] and fake.errors == []
    assert results == [3] * 8


def test_assert_complete_reports_unused_turns_and_overruns(run):
    with FakeLLM([text("a"), text("b")]) as fake:
        p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url=fake.base_url)

        async def one():
            try:
                return await p.complete(HISTORY, [])
            finally:
                await p.aclose()

        run(one)
        with pytest.raises(AssertionError, match="1 scripted turn"):
            fake.assert_complete()
