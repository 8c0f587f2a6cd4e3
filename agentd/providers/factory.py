"""Build the configured Provider.

    provider = make_provider(config.resolved_provider(), config.provider)

Raises ConfigError when no provider or no model is configured. The provider
modules (and the ollama SDK) are imported here, lazily, so importing agentd stays cheap.
"""

from __future__ import annotations

from ..shared.config import ProviderConfig, ResolvedProvider
from ..protocol.errors import ConfigError
from ..retry import OnRetry, RetryPolicy
from .base import Provider

MODEL_VARS = {"openai": "OPENAI_MODEL", "openrouter": "OPENROUTER_MODEL", "ollama": "OLLAMA_MODEL"}


def retry_policy(cfg: ProviderConfig) -> RetryPolicy:
    """``max_retries`` counts retries, so attempts are one more."""
    return RetryPolicy(
        max_attempts=max(cfg.max_retries, 0) + 1,
        base_delay=cfg.retry_base_delay_s,
        max_delay=cfg.retry_max_delay_s,
    )


def make_provider(
    resolved: ResolvedProvider | None,
    cfg: ProviderConfig,
    *,
    on_retry: OnRetry | None = None,
    concurrency: int | None = None,
) -> Provider:
    """A Provider for ``resolved`` (``Config.resolved_provider()``).

    ``concurrency``: how many runs may call the model at once
    (``daemon.max_concurrent_runs``); the OpenAI provider keeps that many
    connections alive.

    Raises ConfigError: no provider, or no model. A missing API key is not an
    error here: ``check()`` reports it as incompatible, ``complete()`` raises
    ProviderRejected.
    """
    if resolved is None:
        raise ConfigError(
            "no LLM provider configured: set LLM_PROVIDER=openai|openrouter|ollama and the model "
            "(e.g. OPENAI_MODEL), or `name` and `model` in the [provider] section of config.toml",
            key="provider.name",
        )
    if not resolved.model:
        raise ConfigError(
            f"no model configured for {resolved.name}: set {MODEL_VARS[resolved.name]} or LLM_MODEL, "
            f"or `model` in the [provider] (or [{resolved.name}]) section of config.toml",
            key="provider.model",
        )
    policy = retry_policy(cfg)
    if resolved.name == "ollama":
        from .ollama import OllamaProvider

        return OllamaProvider(model=resolved.model, base_url=resolved.base_url, timeout_s=cfg.timeout_s,
                              policy=policy, on_retry=on_retry, api_key=resolved.api_key,
                              max_answer_bytes=cfg.max_answer_bytes, max_tokens=cfg.max_tokens)
    from .openai import OpenAIProvider

    headers: dict[str, str] = {}
    if resolved.name == "openrouter":
        if cfg.http_referer:
            headers["HTTP-Referer"] = cfg.http_referer
        if cfg.app_title:
            headers["X-Title"] = cfg.app_title
    return OpenAIProvider(
        name=resolved.name, model=resolved.model, api_key=resolved.api_key, base_url=resolved.base_url,
        timeout_s=cfg.timeout_s, policy=policy, assume_tools=cfg.assume_tools, headers=headers,
        on_retry=on_retry, pool_size=concurrency, max_answer_bytes=cfg.max_answer_bytes,
        max_tokens=cfg.max_tokens,
    )
