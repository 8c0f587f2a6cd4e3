from __future__ import annotations

import pytest

from agentd import config
from agentd.errors import ConfigError
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
