"""OpenAIProvider (httpx, no SDK) against FakeLLM, under trio."""

from __future__ import annotations

import pytest

from agentd.messages import Message, ToolCall
from agentd.protocol.errors import ProviderRateLimited, ProviderRejected, ProviderUnavailable
from agentd.providers.openai import OpenAIProvider
from agentd.testing.fakellm import FakeLLM, drop, fault, malformed, stall, text, tool_call, tool_calls
from provider_helpers import HISTORY, TOOLS, fast_policy, seeded


def make(fake: FakeLLM, sleeps=None, *, attempts: int = 4, timeout_s: float = 5.0, key: str | None = "sk-test",
         **kw) -> OpenAIProvider:
    return OpenAIProvider(name="openai", model="gpt-4o-mini", api_key=key, base_url=fake.base_url,
                          timeout_s=timeout_s, policy=fast_policy(attempts), rng=seeded(), sleep=sleeps, **kw)


async def once(p: OpenAIProvider, messages=HISTORY, tools=TOOLS, **kw):
    try:
        return await p.complete(messages, tools, **kw)
    finally:
        await p.aclose()


def test_tool_call_round_trip_sends_our_messages_in_chat_completions_shape(run):
    history = [
        *HISTORY,
        Message(role="assistant", tool_calls=[ToolCall("call_a", "get_time", '{"tz": "UTC"}')]),
        Message(role="tool", content="12:00", tool_call_id="call_a", name="get_time"),
    ]
    with FakeLLM([tool_call("get_time", {"tz": "UTC"}, id="call_b", tokens_in=42, tokens_out=7)]) as fake:
        c = run(once, make(fake), history)
        fake.assert_complete()
        body = fake.requests[0]
    assert c.message.tool_calls == [ToolCall("call_b", "get_time", '{"tz":"UTC"}')]
    assert c.finish_reason == "tool_calls"
    assert (c.usage.tokens_in, c.usage.tokens_out) == (42, 7)
    assert body["model"] == "gpt-4o-mini" and "stream" not in body
    assert body["tools"] == [{"type": "function", "function": {
        "name": "get_time", "description": "Current time", "parameters": TOOLS[0].parameters}}]
    assert body["messages"][2] == {"role": "assistant", "tool_calls": [
        {"id": "call_a", "type": "function", "function": {"name": "get_time", "arguments": '{"tz": "UTC"}'}}]}
    assert body["messages"][3] == {"role": "tool", "content": "12:00", "tool_call_id": "call_a"}


def test_parallel_tool_calls_keep_malformed_arguments_verbatim(run):
    with FakeLLM([tool_calls(("get_time", {"tz": "UTC"}), ("get_time", '{"tz": '))]) as fake:
        c = run(once, make(fake))
        fake.assert_complete()
    assert [tc.arguments for tc in c.message.tool_calls] == ['{"tz":"UTC"}', '{"tz": ']
    assert len({tc.id for tc in c.message.tool_calls}) == 2


def test_plain_answer_and_no_tools_key_when_tools_empty(run):
    with FakeLLM([text("It is noon.", tokens_in=3, tokens_out=4)]) as fake:
        c = run(once, make(fake), HISTORY, [])
        fake.assert_complete()
        assert "tools" not in fake.requests[0]
    assert c.message.content == "It is noon." and c.message.tool_calls == []
    assert c.finish_reason == "stop" and c.usage.tokens_out == 4


def test_streaming_delivers_deltas_and_assembles_tool_calls(run):
    deltas: list[str] = []
    with FakeLLM([text("Hello there, world"), tool_calls(("get_time", {"tz": "Europe/Paris"}), ("x", {}))]) as fake:
        p = make(fake)

        async def both():
            try:
                return (await p.complete(HISTORY, TOOLS, on_delta=deltas.append),
                        await p.complete(HISTORY, TOOLS, on_delta=lambda s: None))
            finally:
                await p.aclose()

        first, second = run(both)
        fake.assert_complete()
        assert fake.requests[0]["stream"] is True
        assert fake.requests[0]["stream_options"] == {"include_usage": True}
    assert "".join(deltas) == "Hello there, world" and len(deltas) > 1
    assert first.message.content == "Hello there, world" and first.usage.tokens_in == 10
    assert [(t.id, t.name, t.arguments) for t in second.message.tool_calls] == [
        ("call_0", "get_time", '{"tz":"Europe/Paris"}'), ("call_1", "x", "{}")]
    assert second.finish_reason == "tool_calls"


def test_429_retry_after_is_honoured(run, sleeps):
    retried = []
    with FakeLLM([fault(429, "slow down", retry_after=3), text("ok")]) as fake:
        p = make(fake, sleeps, on_retry=lambda a, d, e: retried.append((a, d)))
        c = run(once, p)
        fake.assert_complete()
    assert c.message.content == "ok"
    assert sleeps.delays == [3.0] and retried == [(1, 3.0)] and p.retries == 1


def test_429_that_outlives_the_retries_is_rate_limited(run, sleeps):
    with FakeLLM([fault(429, "quota exceeded")] * 2) as fake:
        with pytest.raises(ProviderRateLimited, match="quota exceeded") as err:
            run(once, make(fake, sleeps, attempts=2))
        fake.assert_complete()
    assert err.value.data["status"] == 429
    assert len(sleeps.delays) == 1 and 0.0 <= sleeps.delays[0] <= 0.5  # backoff, no Retry-After


def test_500_then_success(run, sleeps):
    with FakeLLM([fault(500), fault(503), text("fine")]) as fake:
        c = run(once, make(fake, sleeps))
        fake.assert_complete()
    assert c.message.content == "fine" and len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.5 and 0 <= sleeps.delays[1] <= 1.0


def test_timeout_becomes_unavailable(run):
    with FakeLLM([stall(10)]) as fake:
        with pytest.raises(ProviderUnavailable, match="timed out"):
            run(once, make(fake, attempts=1, timeout_s=0.3))


def test_connection_reset_is_retried_then_reported(run, sleeps):
    with FakeLLM([drop(), text("back")]) as fake:
        assert run(once, make(fake, sleeps)).message.content == "back"
        fake.assert_complete()
    with FakeLLM([drop(), drop()]) as fake:
        with pytest.raises(ProviderUnavailable, match="cannot reach"):
            run(once, make(fake, sleeps, attempts=2))


def test_401_is_rejected_without_retry_and_names_the_key(run, sleeps):
    with FakeLLM([], api_key="sk-right") as fake:
        with pytest.raises(ProviderRejected, match="OPENAI_API_KEY") as err:
            run(once, make(fake, sleeps, key="sk-wrong"))
    assert "Incorrect API key" in err.value.message and sleeps.delays == []
    assert isinstance(err.value.__cause__, Exception)  # translated with `from`
    assert not type(err.value.__cause__).__module__.startswith("agentd")


def test_400_is_rejected(run, sleeps):
    with FakeLLM([fault(400, "bad tool schema")]) as fake:
        with pytest.raises(ProviderRejected, match="bad tool schema"):
            run(once, make(fake, sleeps))
        fake.assert_complete()


def test_missing_key_is_rejected_before_any_request(run):
    for name, hint in (("openai", "OPENAI_API_KEY"), ("openrouter", "OPENROUTER_API_KEY")):
        p = OpenAIProvider(name=name, model="gpt-4o-mini", api_key=None, policy=fast_policy(1))
        with pytest.raises(ProviderRejected, match=hint):  # not "cannot reach": nothing was sent
            run(once, p)
        assert p._client is None


def test_malformed_body_is_retried_then_unavailable(run, sleeps):
    with FakeLLM([malformed(), text("good")]) as fake:
        assert run(once, make(fake, sleeps)).message.content == "good"
    with FakeLLM([malformed(), malformed(b'{"choices": []}')]) as fake:
        with pytest.raises(ProviderUnavailable, match="choices"):
            run(once, make(fake, sleeps, attempts=2))
        fake.assert_complete()


def test_openrouter_headers_are_sent(run):
    with FakeLLM([text("hi")]) as fake:
        p = OpenAIProvider(name="openrouter", model="openai/gpt-4o-mini", api_key="k", base_url=fake.base_url,
                           headers={"HTTP-Referer": "https://example.org", "X-Title": "agentd"})
        run(once, p)
        fake.assert_complete()


def test_tools_list_is_encoded_once_per_tool_set():
    p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k")
    a = p._tools.get(TOOLS)
    assert p._tools.get(list(TOOLS)) is a  # same specs, new list: cache hit
    body = p.encode_request(HISTORY, TOOLS, stream=False)
    assert body.count(b'"get_time"') == 1


def test_streaming_request_is_retried_before_any_delta(run, sleeps):
    deltas: list[str] = []
    with FakeLLM([fault(502), drop(), text("late but whole")]) as fake:
        p = make(fake, sleeps)
        c = run(once, p, on_delta=deltas.append)
        fake.assert_complete()
    # the 502 waits for a backoff; the drop (the kept connection closed without
    # an answer) is sent again at once on a fresh connection
    assert c.message.content == "late but whole" == "".join(deltas)
    assert len(sleeps.delays) == 1 and p.retries == 1 and p.reconnects == 1


def test_cancelling_the_caller_aborts_the_request(run):
    import trio

    with FakeLLM([stall(10)]) as fake:
        p = make(fake, timeout_s=30)

        async def cancelled():
            with trio.move_on_after(0.3) as scope:
                await once(p)
            return scope.cancelled_caught

        assert run(cancelled, deadline=5) is True


def test_retries_are_told_with_a_reason_before_each_wait(run, sleeps):
    notices = []
    with FakeLLM([fault(503, "busy"), stall(10), text("ok")]) as fake:
        c = run(once, make(fake, sleeps, timeout_s=0.3), on_retry=lambda *a: notices.append(a))
        assert c.message.content == "ok"
    assert [(a, reason) for a, _, reason in notices] == [(1, "HTTP 503 from server"), (2, "timed out after 0.3 s")]
    assert [d for _, d, _ in notices] == sleeps.delays
    p = OpenAIProvider(name="openai", model="gpt-4o", api_key="k", base_url="http://127.0.0.1:1/v1",
                       policy=fast_policy(2), sleep=sleeps)
    notices.clear()
    with pytest.raises(ProviderUnavailable, match="cannot reach"):
        run(once, p, on_retry=lambda *a: notices.append(a))
    assert [reason for *_, reason in notices] == ["connection refused"]


@pytest.mark.parametrize("reason", ["length", "max_tokens"])
def test_an_answer_cut_by_the_output_limit_says_length_plain_and_streamed(run, reason):
    from provider_helpers import RawServer, completion_bytes, http_answer, with_server

    sse = b"".join(b"data: %s\n\n" % line for line in (
        b'{"choices":[{"delta":{"content":"\\n\\n\\n"},"finish_reason":null}]}',
        b'{"choices":[{"delta":{},"finish_reason":"%s"}]}' % reason.encode(), b"[DONE]"))
    server = RawServer([http_answer(completion_bytes("\n\n\n", reason)),
                        http_answer(sse, headers=(b"x-stream: 1",))])

    async def calls(url):
        p = OpenAIProvider(name="openai", model="m", api_key=None, base_url=url, timeout_s=5)
        try:
            return [await p.complete(HISTORY, TOOLS), await p.complete(HISTORY, TOOLS, on_delta=lambda s: None)]
        finally:
            await p.aclose()

    assert [c.finish_reason for c in run(with_server, server, calls)] == ["length", "length"]
