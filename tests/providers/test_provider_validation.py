"""check() for each provider: ok, incompatible, degraded, missing key."""

from __future__ import annotations

import pytest

from agentd.providers.ollama import OllamaProvider
from agentd.providers.openai import OpenAIProvider
from agentd.providers.validate import openai_model_supports_tools
from agentd.testing.fakellm import FakeLLM, ModelInfo, fault, text
from provider_helpers import fast_policy


async def checked(p):
    try:
        return await p.check()
    finally:
        await p.aclose()


@pytest.mark.parametrize("model", [
    "gpt-4", "gpt-4-turbo", "gpt-4-turbo-2024-04-09", "gpt-4o", "gpt-4o-2024-08-06", "gpt-4o-mini",
    "gpt-4o-mini-2024-07-18", "gpt-4.1", "gpt-4.1-mini-2025-04-14", "gpt-4.1-nano", "gpt-5", "gpt-5-mini",
    "gpt-5-nano-2025-08-07", "gpt-5.1", "o1", "o1-2024-12-17", "o3", "o3-mini", "o4-mini", "gpt-3.5-turbo",
    "gpt-3.5-turbo-1106", "gpt-3.5-turbo-0125",
])
def test_known_tool_models(model):
    assert openai_model_supports_tools(model)


@pytest.mark.parametrize("model", [
    "o1-mini", "o1-mini-2024-09-12", "o1-preview", "o1-preview-2024-09-12", "gpt-3.5-turbo-0613",
    "gpt-3.5-turbo-instruct", "chatgpt-4o-latest", "gpt-4o-audio-preview", "davinci-002", "llama3",
])
def test_models_without_tools(model):
    assert not openai_model_supports_tools(model)


def openai_p(model="gpt-4o", key="sk", base_url=None, **kw):
    return OpenAIProvider(name="openai", model=model, api_key=key, base_url=base_url, policy=fast_policy(1),
                          timeout_s=5, **kw)


def test_openai_check_asks_the_models_api_then_the_known_list(run, monkeypatch):
    import agentd.providers.openai as openai_mod

    with FakeLLM(api_key="sk") as fake:
        monkeypatch.setattr(openai_mod, "OPENAI_BASE_URL", fake.base_url)  # stands in for api.openai.com
        assert not openai_p().custom_base_url
        r = run(checked, openai_p())
        assert r.state == "ok" and fake.paths == ["GET /v1/models"]
        r = run(checked, openai_p("gpt-2"))
        assert r.state == "incompatible" and "gpt-2" in r.message and "gpt-4o" in r.message and "LLM_PROVIDER" in r.message
        r = run(checked, openai_p(key="sk-wrong"))
        assert r.state == "incompatible" and "OPENAI_API_KEY" in r.message
        assert fake.requests == []  # no chat call: OpenAI's models are known by name
    r = run(checked, openai_p(key=None))
    assert r.state == "incompatible" and "OPENAI_API_KEY" in r.message
    r = run(checked, openai_p())  # the fake is gone: not ok
    assert r.state == "degraded" and "could not read the model list" in r.message


def local_llm(script=None, model="qwen-local", **kw):
    return FakeLLM(script, models={model: ModelInfo(True)}, **kw)


def test_a_local_server_with_native_tool_calls_is_ok_after_a_sample_call(run):
    with local_llm() as fake:  # auto mode: calls the first tool natively
        r = run(checked, openai_p("qwen-local", key=None, base_url=fake.base_url))
        assert r.state == "ok" and "native tool calls" in r.message, r.message
        assert fake.paths == ["GET /v1/models", "POST /v1/chat/completions"]
        probe = fake.requests[0]
        assert probe["tools"][0]["function"]["name"] == "get_current_time" and probe["max_tokens"] > 0


@pytest.mark.parametrize("answer", [
    '```json\n{"name": "get_current_time", "arguments": {}}\n```',
    '<tool_call>\n{"name": "get_current_time", "arguments": {}}\n</tool_call>',
])
def test_a_local_model_that_writes_tool_calls_as_text_works(run, answer):
    with local_llm([text(answer)]) as fake:
        r = run(checked, openai_p("qwen-local", key=None, base_url=fake.base_url))
        fake.assert_complete()
    assert r.state == "ok" and "works: tool calls recovered from text" in r.message, r.message


def test_a_local_model_that_does_not_use_the_tool_is_refused_by_name(run):
    with local_llm([text("It is noon, probably.")]) as fake:
        r = run(checked, openai_p("qwen-local", key=None, base_url=fake.base_url))
        fake.assert_complete()
    assert r.state == "incompatible" and "qwen-local" in r.message and "without calling the tool" in r.message
    assert "It is noon" in r.message and "assume_tools" in r.message


def test_a_name_the_server_does_not_list_is_reported_not_refused(run):
    with local_llm(model="qwen2.5-coder-1.5b-instruct") as fake:
        r = run(checked, openai_p("my-model", key=None, base_url=fake.base_url))
    assert r.state == "ok", r.message  # llama.cpp answers under any name
    assert "lists one model, 'qwen2.5-coder-1.5b-instruct', not 'my-model'" in r.message
    with FakeLLM(models={"a": ModelInfo(True), "b": ModelInfo(True)}) as fake:
        r = run(checked, openai_p("c", key=None, base_url=fake.base_url))
    assert "'c' is not among the server's models (a, b)" in r.message


def test_a_known_model_or_assume_tools_skips_the_sample_call(run):
    with local_llm() as fake:
        r = run(checked, openai_p("gpt-4o", key=None, base_url=fake.base_url))
        assert r.state == "ok" and "known to call tools" in r.message
        r = run(checked, openai_p("qwen-local", key=None, base_url=fake.base_url, assume_tools=True))
        assert r.state == "ok" and "LLM_ASSUME_TOOLS" in r.message
        assert fake.paths == ["GET /v1/models"] * 2


def test_a_local_server_that_is_down_or_wants_a_key(run):
    for model, kw in (("qwen-local", {}), ("gpt-4o", {}), ("qwen-local", {"assume_tools": True})):
        r = run(checked, openai_p(model, key=None, base_url="http://127.0.0.1:1/v1", **kw))
        assert r.state == "degraded" and "cannot reach the server at http://127.0.0.1:1/v1" in r.message, r.message
    with local_llm(api_key="sk-needed") as fake:
        r = run(checked, openai_p("qwen-local", key=None, base_url=fake.base_url))
    assert r.state == "incompatible" and "refused" in r.message and "OPENAI_API_KEY" in r.message


def openrouter_p(url, model="openai/gpt-4o-mini", key="sk-or"):
    return OpenAIProvider(name="openrouter", model=model, api_key=key, base_url=url, policy=fast_policy(1))


def test_openrouter_check(run):
    with FakeLLM() as fake:
        assert run(checked, openrouter_p(fake.base_url)).state == "ok"
        assert run(checked, openrouter_p(fake.base_url, "openai/gpt-4o-mini:nitro")).state == "ok"
        r = run(checked, openrouter_p(fake.base_url, "meta-llama/llama-2-13b-chat"))
        assert r.state == "incompatible" and "tools" in r.message and "llama-2-13b-chat" in r.message
        r = run(checked, openrouter_p(fake.base_url, "acme/unknown"))
        assert r.state == "incompatible" and "acme/unknown" in r.message
        r = run(checked, openrouter_p(fake.base_url, key=None))
        assert r.state == "incompatible" and "OPENROUTER_API_KEY" in r.message
        assert fake.paths.count("GET /v1/models") == 4
    r = run(checked, openrouter_p("http://127.0.0.1:1/api/v1"))
    assert r.state == "degraded"


def ollama_p(url, model="llama3.1"):
    return OllamaProvider(model=model, base_url=url, policy=fast_policy(1), timeout_s=5)


def test_ollama_check_ok_runs_a_sample_tool_call(run):
    with FakeLLM() as fake:
        r = run(checked, ollama_p(fake.ollama_url))
        assert r.state == "ok", r.message
        assert fake.requests[0]["tools"][0]["function"]["name"] == "get_current_time"
        assert {"GET /api/version", "GET /api/tags", "POST /api/show", "POST /api/chat"} <= set(fake.paths)


def test_ollama_check_problems(run):
    with FakeLLM() as fake:
        r = run(checked, ollama_p(fake.ollama_url, "mistral"))
        assert r.state == "incompatible" and "ollama pull mistral" in r.message
        r = run(checked, ollama_p(fake.ollama_url, "gemma:2b"))
        assert r.state == "incompatible" and "cannot call tools" in r.message
    models = {"stubborn:latest": ModelInfo(True)}
    with FakeLLM([text("It is noon.")], models=models) as fake:
        r = run(checked, ollama_p(fake.ollama_url, "stubborn"))
        assert r.state == "incompatible" and "without calling the tool" in r.message
        fake.assert_complete()
    with FakeLLM([fault(500, "loading failed")]) as fake:
        r = run(checked, ollama_p(fake.ollama_url))
        assert r.state == "degraded" and "loading failed" in r.message
    r = run(checked, ollama_p("http://127.0.0.1:1"))
    assert r.state == "degraded" and "ollama serve" in r.message


def test_a_server_without_a_readable_model_list_is_probed(run):
    from provider_helpers import RawServer, http_answer, with_server

    call = (b'{"choices":[{"message":{"content":null,"tool_calls":[{"id":"c1","type":"function","function":'
            b'{"name":"get_current_time","arguments":"{}"}}]},"finish_reason":"tool_calls"}]}')
    for models in (http_answer(b"<html>no such page</html>", status=b"404 Not Found"),
                   http_answer(b"<html>a web page</html>")):
        server = RawServer([models, http_answer(call)])

        async def check(url):
            return await checked(openai_p("local", key=None, base_url=url))

        r = run(with_server, server, check)
        assert r.state == "ok" and "native tool calls" in r.message, r.message
        assert server.requests[0].startswith(b"GET /v1/models") and b"get_current_time" in server.requests[1]
