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
    return OpenAIProvider(name="openai", model=model, api_key=key, base_url=base_url, **kw)


def test_openai_check(run):
    assert run(checked, openai_p()).state == "ok"
    r = run(checked, openai_p("gpt-2"))
    assert r.state == "incompatible" and "gpt-2" in r.message and "gpt-4o" in r.message and "LLM_PROVIDER" in r.message
    r = run(checked, openai_p(key=None))
    assert r.state == "incompatible" and "OPENAI_API_KEY" in r.message


def test_openai_compatible_server_needs_assume_tools(run):
    r = run(checked, openai_p("mixtral-local", base_url="http://127.0.0.1:9/v1"))
    assert r.state == "incompatible" and "assume_tools = true" in r.message and "mixtral-local" in r.message
    r = run(checked, openai_p("mixtral-local", base_url="http://127.0.0.1:9/v1", assume_tools=True))
    assert r.state == "ok"


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
