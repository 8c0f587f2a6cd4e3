"""Tool-calling validation: can the configured model call tools?

Each provider's ``check()`` delegates here and gets a ``CheckResult``:

- ok: the model can call tools.
- incompatible: it cannot, or the configuration cannot work (no API key, the
  model is unknown, not pulled, has no "tools" capability, or ignored the
  sample tool); the message names the model and says what to do.
- degraded: we could not tell (server unreachable, 5xx, rate limited,
  timeouts); the daemon starts and runs wait with backoff.

Per provider:

- openai: the model is matched against ``OPENAI_TOOL_MODELS`` (dated
  snapshots such as ``gpt-4o-2024-08-06`` match their family). On a custom
  base URL (any OpenAI-compatible server) a model off the list is accepted
  only with ``[provider] assume_tools = true``. No network call.
- openrouter: ``GET {base_url}/models``; the model's ``supported_parameters``
  must contain "tools".
- ollama: ``/api/version`` answers, the model is in ``/api/tags``,
  ``/api/show`` capabilities include "tools" (when reported), and a sample
  ``get_current_time`` tool call comes back as a tool call.

``check_*`` never raise ProviderError: every failure is a CheckResult.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..agent.messages import Message, ToolSpec
from ..errors import ProviderError, ProviderIncompatible, ProviderRejected
from .base import CheckResult, CheckState

if TYPE_CHECKING:
    from .ollama import OllamaProvider
    from .openai import OpenAIProvider

# Families known to accept the `tools` parameter (kept current by hand; a dated
# snapshot "<family>-YYYY-MM-DD" matches its family). Not here on purpose:
# o1-mini and o1-preview (no tools), gpt-3.5-turbo-0301/-0613/-instruct (before
# the tools API), chatgpt-4o-latest, *-audio-*, *-realtime-*, *-search-*.
OPENAI_TOOL_MODELS: tuple[str, ...] = (
    "gpt-5", "gpt-5-mini", "gpt-5-nano", "gpt-5-pro", "gpt-5-codex",
    "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano",
    "gpt-4o", "gpt-4o-mini",
    "gpt-4-turbo", "gpt-4-turbo-preview", "gpt-4-1106-preview", "gpt-4-0125-preview",
    "gpt-4", "gpt-4-0613",
    "o1", "o1-pro", "o3", "o3-mini", "o3-pro", "o4-mini",
    "gpt-3.5-turbo", "gpt-3.5-turbo-1106", "gpt-3.5-turbo-0125",
)
_SNAPSHOT = re.compile(r"^(?P<family>.+?)-\d{4}-\d{2}-\d{2}$")
# Later GPT-5 point releases (gpt-5.1, gpt-5.2-mini, ...) keep tool calling.
_GPT5_POINT = re.compile(r"^gpt-5\.\d+(-mini|-nano|-pro|-codex)?$")

PROBE_TOOL = ToolSpec(
    name="get_current_time",
    description="Returns the current time. Takes no arguments.",
    parameters={"type": "object", "properties": {}, "required": []},
)
PROBE_MESSAGES = (
    Message(role="system", content="You are a test. Always answer by calling the provided tool."),
    Message(role="user", content="What time is it? Call the get_current_time tool to find out."),
)


def openai_model_supports_tools(model: str) -> bool:
    name = model.strip().lower().removeprefix("openai/")
    if name in OPENAI_TOOL_MODELS or _GPT5_POINT.match(name):
        return True
    snap = _SNAPSHOT.match(name)
    if snap is not None:
        family = snap.group("family")
        return family in OPENAI_TOOL_MODELS or bool(_GPT5_POINT.match(family))
    return False


def _result(state: CheckState, message: str, provider: str, model: str) -> CheckResult:
    return CheckResult(state=state, message=message, provider=provider, model=model)


def _state_for(exc: ProviderError) -> CheckState:
    return "incompatible" if isinstance(exc, (ProviderRejected, ProviderIncompatible)) else "degraded"


async def check_openai(p: OpenAIProvider) -> CheckResult:
    """openai and openrouter (and OpenAI-compatible servers)."""
    if not p.api_key:
        return _result("incompatible", p.no_key_error().message, p.name, p.model)
    if p.name == "openrouter":
        return await check_openrouter(p)
    if openai_model_supports_tools(p.model):
        return _result("ok", f"{p.model} supports tool calling", p.name, p.model)
    if p.custom_base_url:
        if p.assume_tools:
            return _result("ok", f"{p.model} at {p.base_url} is assumed to support tool calling "
                                 "(provider.assume_tools = true)", p.name, p.model)
        return _result(
            "incompatible",
            f"{p.model} at {p.base_url} is not a model known to support tool calling. If this "
            "OpenAI-compatible server's model does call tools, set `assume_tools = true` in the "
            "[provider] section of config.toml; otherwise pick a model that does.",
            p.name, p.model)
    return _result(
        "incompatible",
        f"{p.model} is not an OpenAI model known to support tool calling; set OPENAI_MODEL (or LLM_MODEL) "
        f"to one of {', '.join(OPENAI_TOOL_MODELS)} — or switch provider (LLM_PROVIDER=openrouter|ollama)",
        p.name, p.model)


def _openrouter_id(model: str) -> str:
    # Routing suffixes are shortcuts, not separate entries in the model list.
    for suffix in (":nitro", ":floor", ":online", ":exacto"):
        if model.endswith(suffix):
            return model[: -len(suffix)]
    return model


async def check_openrouter(p: OpenAIProvider) -> CheckResult:
    try:
        models = await p.list_models()
    except ProviderError as exc:
        return _result(_state_for(exc), f"openrouter: could not read the model list at {p.base_url}/models: "
                       f"{exc.message}", p.name, p.model)
    params = models.get(_openrouter_id(p.model))
    if params is None:
        return _result("incompatible", f"openrouter: model {p.model!r} is not in OpenRouter's model list; "
                       "check OPENROUTER_MODEL (ids look like 'openai/gpt-4o-mini', see "
                       "https://openrouter.ai/models?supported_parameters=tools)", p.name, p.model)
    if "tools" not in params:
        return _result("incompatible", f"openrouter: model {p.model!r} does not support tool calling "
                       "(its supported_parameters lack 'tools'); pick one from "
                       "https://openrouter.ai/models?supported_parameters=tools", p.name, p.model)
    return _result("ok", f"{p.model} supports tool calling on OpenRouter", p.name, p.model)


def _ollama_names(model: str) -> set[str]:
    return {model, model if ":" in model else f"{model}:latest"}


async def check_ollama(p: OllamaProvider) -> CheckResult:
    name, model = "ollama", p.model
    try:
        version = await p.server_version()
    except ProviderError as exc:
        return _result("degraded", f"{exc.message} (or set OLLAMA_BASE_URL)", name, model)
    try:
        pulled = await p.pulled_models()
        if not _ollama_names(model) & set(pulled):
            return _result("incompatible", f"model {model!r} is not pulled on Ollama {version} at {p.base_url}; "
                           f"run `ollama pull {model}`", name, model)
        caps = await p.capabilities()
    except ProviderError as exc:
        return _result(_state_for(exc), f"Ollama at {p.base_url}: {exc.message}", name, model)
    if caps is not None and "tools" not in caps:
        return _result("incompatible", f"model {model!r} cannot call tools (capabilities: {', '.join(caps)}); "
                       "pick a tools model such as llama3.1, qwen2.5 or mistral-nemo and set OLLAMA_MODEL",
                       name, model)
    try:
        completion = await p.probe(PROBE_MESSAGES, [PROBE_TOOL])
    except ProviderError as exc:
        return _result(_state_for(exc), f"the sample tool call to {model!r} failed: {exc.message}", name, model)
    if not any(tc.name == PROBE_TOOL.name for tc in completion.message.tool_calls):
        return _result("incompatible", f"model {model!r} answered a sample request without calling the tool "
                       "it was given; pick a model that supports tool calling (llama3.1, qwen2.5, ...)",
                       name, model)
    return _result("ok", f"{model} on Ollama {version} called a sample tool", name, model)
