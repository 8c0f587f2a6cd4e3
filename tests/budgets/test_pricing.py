"""Where a model's price comes from (the configuration, else the genai-prices
database read from its installed package, else unknown), what a call costs,
and the prompt bound a call's worst case is priced with."""

from __future__ import annotations

from types import SimpleNamespace

import msgspec

from agentd.shared import config as config_mod
from agentd.messages import Message, ToolCall, ToolSpec
from agentd.budgets import MESSAGE_OVERHEAD, PROMPT_OVERHEAD, PromptMeter
from agentd.pricing import lookup
from agentd.providers.openai import uses_completion_cap

NOW = 1_790_000_000_000  # 2026-09 (ms)


def provider(name: str, model: str, base_url: str | None = None, custom: bool = False):
    return SimpleNamespace(name=name, model=model, base_url=base_url, custom_base_url=custom)


def cfg(prices: dict | None = None) -> config_mod.Config:
    return config_mod.from_data({"prices": prices or {}})


def test_openai_and_openrouter_models_are_priced_from_the_database():
    mini = lookup(cfg(), provider("openai", "gpt-4o-mini"))
    assert mini is not None and mini.source.startswith("genai-prices ")
    assert mini.per_million(NOW) == (0.15, 0.6)
    # 1000 prompt tokens of which 600 cached (half price), 100 out: 400 x 150 + 600 x 75 + 100 x 600 nano-dollars
    assert mini.cost(1000, 600, 100, NOW) == 60_000 + 45_000 + 60_000
    routed = lookup(cfg(), provider("openrouter", "openai/gpt-4o-mini"))
    assert routed is not None and routed.per_million(NOW) == (0.15, 0.6)


def test_local_and_unknown_models_have_no_price_until_the_config_gives_one():
    assert lookup(cfg(), provider("openai", "qwen2.5-coder", "http://127.0.0.1:8080/v1", custom=True)) is None
    assert lookup(cfg(), provider("ollama", "llama3.1", "http://localhost:11434")) is None
    # A real OpenAI model name served by some local server is not priced as OpenAI's.
    assert lookup(cfg(), provider("openai", "gpt-4o", "http://127.0.0.1:8080/v1", custom=True)) is None
    free = lookup(cfg({"llama3.1": {"input": 0, "output": 0}}), provider("ollama", "llama3.1"))
    assert free is not None and free.cost(100_000, 0, 10_000, NOW) == 0


def test_the_config_price_wins_over_the_database_and_rounds_up():
    own = lookup(cfg({"gpt-4o-mini": {"input": 1, "output": 3, "cached_input": 0.5}}),
                 provider("openai", "gpt-4o-mini"))
    assert own is not None and own.source == 'config [prices."gpt-4o-mini"]'
    assert own.cost(10, 4, 1, NOW) == 6 * 1000 + 4 * 500 + 3000
    tiny = lookup(cfg({"m": {"input": 0.000001, "output": 0}}), provider("ollama", "m"))
    assert tiny.cost(1, 0, 0, NOW) == 1  # 1e-12 USD is charged as one nano-dollar, never as nothing


def test_a_price_must_name_input_and_output():
    try:
        cfg({"m": {"input": 0}})
    except msgspec.ValidationError as exc:
        assert "output" in str(exc)
    else:
        raise AssertionError("a price without output was accepted")


def test_the_prompt_bound_is_the_bytes_then_the_real_count_plus_what_was_added():
    meter = PromptMeter()
    specs = [ToolSpec("t", "a tool", {"type": "object"})]
    tools_bytes = len(msgspec.json.encode(specs))
    msgs = [Message(role="system", content="héllo"), Message(role="user", content="do it")]
    first = meter.bound(msgs, specs)
    assert first == PROMPT_OVERHEAD + tools_bytes + len("héllo".encode()) + 5 + 2 * MESSAGE_OVERHEAD
    meter.observed(msgs, specs, 700)
    msgs += [Message(role="assistant", tool_calls=[ToolCall("c1", "t", "{}")]),
             Message(role="tool", tool_call_id="c1", name="t", content="ok")]
    assert meter.bound(msgs, specs) == 700 + (2 + 1 + 2) + (2 + 1 + 2) + 2 * MESSAGE_OVERHEAD
    # A rebuilt history (a resumed run) is bounded from its bytes again.
    rebuilt = [Message(role="system", content="héllo"), Message(role="user", content="do it")]
    assert meter.bound(rebuilt, specs) == first


def test_which_models_take_max_completion_tokens():
    assert uses_completion_cap("openai", "o3-mini") and uses_completion_cap("openai", "gpt-5-mini")
    assert uses_completion_cap("openai", "o1")
    assert not uses_completion_cap("openai", "gpt-4o") and not uses_completion_cap("openrouter", "openai/o3")
    assert not uses_completion_cap("openai", "omni-local")


def test_the_budgets_guide_examples_are_valid():
    """docs/budgets.md: its TOML blocks are valid configuration, its goal
    create command parses, and its worst-case figure is what the code computes."""
    import re
    import shlex
    import tomllib
    from pathlib import Path

    from agentctl.parser import build_parser

    text = (Path(__file__).resolve().parents[2] / "docs" / "budgets.md").read_text()
    blocks = re.findall(r"```toml\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    for block in blocks:
        config_mod.from_data(tomllib.loads(block))
    command = re.search(r"```sh\n(agentctl goal create.*?)```", text, re.S).group(1)
    args = build_parser().parse_args(shlex.split(command.replace("\\\n", " "))[1:])
    assert (args.max_cost_per_day, args.max_cost) == (0.50, 0.20)
    mini = lookup(cfg(), provider("openai", "gpt-4o-mini"))
    assert f"${mini.cost(12_000, 0, 2048, NOW) / 1e9:.4f}" == "$0.0030" and "= $0.0030" in text
    assert f"${mini.cost(9310, 6144, 412, NOW) / 1e9:.4f}" == "$0.0012" and "$0.0012)" in text


def test_a_server_on_this_machine_or_the_lan_is_never_looked_up():
    for url in ("http://127.0.0.1:8080/v1", "http://localhost:1234/v1", "http://[::1]:8000/v1",
                "http://192.168.1.20:8000/v1", "http://gpu-box:8000/v1"):
        assert lookup(cfg(), provider("openai", "gpt-4o", url, custom=True)) is None, url
    groq = lookup(cfg(), provider("openai", "llama-3.3-70b-versatile", "https://api.groq.com/openai/v1",
                                  custom=True))
    assert groq is not None and "groq" in groq.source
