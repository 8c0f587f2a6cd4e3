"""The scripted fake's text-form answers, over its real HTTP wire (OpenAI and
Ollama): what the loop tests rely on."""

from __future__ import annotations

import httpx
import pytest

from agentd.textcalls import recover_calls
from agentd.testing.fakellm import TEXT_FORMS, FakeLLM, ModelInfo, cut, json_prose, text_call, text_plan

TOOL = {"type": "function", "function": {"name": "write_file", "description": "", "parameters": {}}}


def _chat(fake: FakeLLM, model: str = "qwen", tools=(TOOL,)) -> dict:
    body = {"model": model, "messages": [{"role": "user", "content": "go"}], "tools": list(tools)}
    return httpx.post(f"{fake.base_url}/chat/completions", json=body, timeout=10).json()["choices"][0]


@pytest.mark.parametrize("form", TEXT_FORMS)
def test_text_calls_arrive_as_content_without_native_calls(form):
    with FakeLLM([text_call("write_file", {"path": "a.md", "content": "x"}, form=form)]) as fake:
        choice = _chat(fake)
    assert not choice["message"].get("tool_calls") and choice["finish_reason"] == "stop"
    schema = {"properties": {"path": {}, "content": {}}, "required": ["path", "content"]}  # for "described"
    [call] = recover_calls(choice["message"]["content"], ["write_file"], {"write_file": schema})
    assert (call.name, call.arguments) == ("write_file", '{"path":"a.md","content":"x"}')


def test_a_plan_recovers_to_its_first_call_and_prose_to_none():
    with FakeLLM([text_plan(("write_file", {"path": "a"}), ("write_file", {"path": "b"})), json_prose()]) as fake:
        plan, prose = _chat(fake), _chat(fake)
    assert [c.arguments for c in recover_calls(plan["message"]["content"], ["write_file", "finish"])] == ['{"path":"a"}']
    assert recover_calls(prose["message"]["content"], ["write_file", "finish"]) == []


def test_a_cut_answer_says_length_on_both_wires():
    with FakeLLM([cut(), cut()]) as fake:
        assert _chat(fake)["finish_reason"] == "length"
        body = {"model": "qwen2.5:7b", "messages": [{"role": "user", "content": "go"}], "stream": False}
        assert httpx.post(f"{fake.ollama_url}/api/chat", json=body, timeout=10).json()["done_reason"] == "length"


def test_auto_mode_writes_its_probe_call_as_text_for_a_text_calls_model():
    with FakeLLM(models={"qwen": ModelInfo(tools=True, text_calls=True)}) as fake:
        choice = _chat(fake)
    assert not choice["message"].get("tool_calls")
    assert [c.name for c in recover_calls(choice["message"]["content"], ["write_file"])] == ["write_file"]
