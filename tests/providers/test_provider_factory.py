from __future__ import annotations

import pytest

from agentd.shared import config
from agentd.protocol.errors import ConfigError
from agentd.providers.factory import make_provider, retry_policy
from agentd.providers.ollama import OllamaProvider
from agentd.providers.openai import OpenAIProvider


def test_no_provider_or_model_is_a_config_error(tmp_path):
    cfg = config.load(tmp_path / "none.toml", environ={})
    with pytest.raises(ConfigError, match="LLM_PROVIDER=openai|openrouter|ollama"):
        make_provider(cfg.resolved_provider(), cfg.provider)
    cfg = config.load(tmp_path / "none.toml", environ={"LLM_PROVIDER": "openai"})
    with pytest.raises(ConfigError, match="OPENAI_MODEL"):
        make_provider(cfg.resolved_provider(), cfg.provider)


def test_each_provider_is_built(tmp_path):
    env = {"LLM_PROVIDER": "openrouter", "OPENROUTER_MODEL": "openai/gpt-4o-mini", "OPENROUTER_API_KEY": "k"}
    cfg = config.load(tmp_path / "none.toml", environ=env)
    p = make_provider(cfg.resolved_provider(), cfg.provider)
    assert isinstance(p, OpenAIProvider) and p.base_url == "https://openrouter.ai/api/v1"
    assert p._headers["X-Title"] == "agentd"
    cfg = config.load(tmp_path / "none.toml", environ={"LLM_PROVIDER": "ollama", "LLM_MODEL": "llama3.1"})
    p = make_provider(cfg.resolved_provider(), cfg.provider)
    assert isinstance(p, OllamaProvider) and p.base_url == "http://localhost:11434"
    cfg = config.load(tmp_path / "none.toml", environ={"LLM_PROVIDER": "openai", "OPENAI_MODEL": "gpt-4o",
                                                       "OPENAI_BASE_URL": "http://127.0.0.1:8000/v1"})
    p = make_provider(cfg.resolved_provider(), cfg.provider)
    assert p.custom_base_url and p.api_key is None
    assert retry_policy(cfg.provider).max_attempts == cfg.provider.max_retries + 1


def test_every_setting_that_skips_a_check_has_an_environment_variable(tmp_path):
    env = {"LLM_PROVIDER": "openai", "OPENAI_MODEL": "qwen", "OPENAI_BASE_URL": "http://127.0.0.1:8766/v1"}
    cfg = config.load(tmp_path / "none.toml", environ=env)
    assert (cfg.provider.assume_tools, cfg.provider.check_on_start) == (False, True)
    for yes, no in (("true", "false"), ("1", "0"), ("yes", "no"), ("ON", "Off")):
        cfg = config.load(tmp_path / "none.toml", environ={**env, "LLM_ASSUME_TOOLS": yes, "LLM_CHECK_ON_START": no})
        assert (cfg.provider.assume_tools, cfg.provider.check_on_start) == (True, False)
        assert make_provider(cfg.resolved_provider(), cfg.provider).assume_tools
    with pytest.raises(ConfigError, match="LLM_ASSUME_TOOLS='maybe': expected true or false"):
        config.load(tmp_path / "none.toml", environ={**env, "LLM_ASSUME_TOOLS": "maybe"})


def test_the_answer_cap_reaches_both_providers(tmp_path):
    (tmp_path / "c.toml").write_text("[provider]\nmax_answer_bytes = 4096\n")
    for env in ({"LLM_PROVIDER": "openai", "OPENAI_MODEL": "gpt-4o"}, {"LLM_PROVIDER": "ollama", "LLM_MODEL": "x"}):
        cfg = config.load(tmp_path / "c.toml", environ=env)
        assert make_provider(cfg.resolved_provider(), cfg.provider).max_answer_bytes == 4096
