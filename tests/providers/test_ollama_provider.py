"""OllamaProvider through the real ollama package against FakeLLM, under trio."""

from __future__ import annotations

import json

import pytest

from agentd.messages import Message, ToolCall
from agentd.protocol.errors import ProviderIncompatible, ProviderRejected, ProviderUnavailable
from agentd.providers.ollama import OllamaProvider
from agentd.testing.fakellm import FakeLLM, drop, fault, malformed, stall, text, tool_call, tool_calls
from provider_helpers import HISTORY, TOOLS, fast_policy, seeded


def make(fake: FakeLLM, sleeps=None, *, model: str = "llama3.1", attempts: int = 4, timeout_s: float = 5.0):
    return OllamaProvider(model=model, base_url=fake.ollama_url, timeout_s=timeout_s,
                          policy=fast_policy(attempts), rng=seeded(), sleep=sleeps)


async def once(p: OllamaProvider, messages=HISTORY, tools=TOOLS, **kw):
    try:
        return await p.complete(messages, tools, **kw)
    finally:
        await p.aclose()


def test_tool_call_round_trip(run):
    history = [
        *HISTORY,
        Message(role="assistant", tool_calls=[ToolCall("call_a", "get_time", '{"tz": "UTC"}')]),
        Message(role="tool", content="12:00", tool_call_id="call_a", name="get_time"),
    ]
    with FakeLLM([tool_call("get_time", {"tz": "UTC"}, tokens_in=30, tokens_out=6)]) as fake:
        c = run(once, make(fake), history)
        fake.assert_complete()
        body = fake.requests[0]
    (tc,) = c.message.tool_calls
    assert tc.name == "get_time" and json.loads(tc.arguments) == {"tz": "UTC"} and tc.id.startswith("call_")
    assert (c.usage.tokens_in, c.usage.tokens_out) == (30, 6) and c.finish_reason == "tool_calls"
    assert body["messages"][2]["tool_calls"] == [{"function": {"name": "get_time", "arguments": {"tz": "UTC"}}}]
    assert body["messages"][3] == {"role": "tool", "content": "12:00", "tool_name": "get_time"}
    assert body["tools"][0]["function"]["name"] == "get_time" and body["stream"] is False


def test_parallel_tool_calls_get_distinct_ids(run):
    with FakeLLM([tool_calls(("get_time", {"tz": "UTC"}), ("get_time", {"tz": "CET"}))]) as fake:
        c = run(once, make(fake))
    assert [json.loads(t.arguments)["tz"] for t in c.message.tool_calls] == ["UTC", "CET"]
    assert len({t.id for t in c.message.tool_calls}) == 2


def test_plain_answer_and_streaming(run):
    deltas: list[str] = []
    with FakeLLM([text("plain answer"), text("streamed answer here")]) as fake:
        p = make(fake)

        async def both():
            try:
                return await p.complete(HISTORY, []), await p.complete(HISTORY, [], on_delta=deltas.append)
            finally:
                await p.aclose()

        plain, streamed = run(both)
        fake.assert_complete()
    assert plain.message.content == "plain answer" and plain.finish_reason == "stop"
    assert streamed.message.content == "streamed answer here" and "".join(deltas) == "streamed answer here"
    assert len(deltas) > 1 and streamed.usage.tokens_in == 10


def test_streamed_tool_call(run):
    with FakeLLM([tool_call("get_time", {"tz": "UTC"})]) as fake:
        c = run(once, make(fake), on_delta=lambda s: None)
    assert c.message.tool_calls[0].name == "get_time"


def test_503_then_success_and_429_retried(run, sleeps):
    with FakeLLM([fault(503, "server busy"), fault(429), text("ok")]) as fake:
        assert run(once, make(fake, sleeps)).message.content == "ok"
        fake.assert_complete()
    assert len(sleeps.delays) == 2


def test_connection_refused_is_unavailable(run, sleeps):
    p = OllamaProvider(model="llama3.1", base_url="http://127.0.0.1:1", policy=fast_policy(2), sleep=sleeps)
    with pytest.raises(ProviderUnavailable, match="ollama serve"):
        run(once, p)
    assert len(sleeps.delays) == 1


def test_timeout_drop_and_malformed(run, sleeps):
    with FakeLLM([stall(10)]) as fake:
        with pytest.raises(ProviderUnavailable, match="timed out"):
            run(once, make(fake, attempts=1, timeout_s=0.3))
    with FakeLLM([drop(), malformed(), text("ok")]) as fake:
        assert run(once, make(fake, sleeps)).message.content == "ok"
        fake.assert_complete()


def test_unknown_model_and_no_tool_model(run):
    with FakeLLM([fault(404, "model 'nope' not found")]) as fake:
        with pytest.raises(ProviderRejected, match="ollama pull nope"):
            run(once, make(fake, model="nope"))
    with FakeLLM([]) as fake:
        with pytest.raises(ProviderIncompatible, match="does not support tools"):
            run(once, make(fake, model="gemma:2b"))


def test_retries_are_told_with_a_reason_before_each_wait(run, sleeps):
    notices = []
    with FakeLLM([fault(503, "busy"), fault(429), text("ok")]) as fake:
        assert run(once, make(fake, sleeps), on_retry=lambda *a: notices.append(a)).message.content == "ok"
    assert [(a, reason) for a, _, reason in notices] == [(1, "HTTP 503 from server"), (2, "HTTP 429 from server")]
    assert [d for _, d, _ in notices] == sleeps.delays
    p = OllamaProvider(model="llama3.1", base_url="http://127.0.0.1:1", policy=fast_policy(2), sleep=sleeps)
    notices.clear()
    with pytest.raises(ProviderUnavailable):
        run(once, p, on_retry=lambda *a: notices.append(a))
    assert notices[0][2] == "connection refused"


@pytest.mark.parametrize("streamed", [False, True])
def test_done_reason_length_is_a_cut_answer(run, streamed):
    from provider_helpers import RawServer, http_answer, with_server

    final = {"model": "llama3.1", "created_at": "2024-01-01T00:00:00Z", "done": True, "done_reason": "length",
             "prompt_eval_count": 5, "eval_count": 64}
    if streamed:
        parts = [{"model": "llama3.1", "created_at": "2024-01-01T00:00:00Z", "done": False,
                  "message": {"role": "assistant", "content": "padding "}},
                 {**final, "message": {"role": "assistant", "content": ""}}]
        body = b"".join(json.dumps(x).encode() + b"\n" for x in parts)
    else:
        body = json.dumps({**final, "message": {"role": "assistant", "content": "padding padding"}}).encode()
    server = RawServer([http_answer(body)])

    async def call(url):
        p = OllamaProvider(model="llama3.1", base_url=url.removesuffix("/v1"), timeout_s=5)
        kw = {"on_delta": lambda s: None} if streamed else {}
        return await once(p, **kw)

    c = run(with_server, server, call)
    assert c.finish_reason == "length" and c.message.content.startswith("padding")
