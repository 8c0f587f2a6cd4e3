"""Tool-calling validation: can the configured model call tools?

Each provider's ``check()`` delegates here and gets a ``CheckResult``:

- ok: the model can call tools.
- incompatible: it cannot, or the configuration cannot work (no API key, the
  model is unknown, not pulled, has no "tools" capability, or ignored the
  sample tool); the message names the model and says what to do.
- degraded: we could not tell (server unreachable, 5xx, rate limited,
  timeouts); the daemon starts and runs wait with backoff.

Per provider:

- openai: ``GET {base_url}/models`` answers (the server is up, the key is
  good), and the model is matched against ``OPENAI_TOOL_MODELS`` (dated
  snapshots such as ``gpt-4o-2024-08-06`` match their family).
- a custom base URL (any OpenAI-compatible server: llama.cpp, vLLM, LM
  Studio, LocalAI, ...): ``GET {base_url}/models`` answers (a model off the
  list is reported, not refused: a one-model server may answer under any
  name), then a model off the known list is probed with a sample
  ``get_current_time`` call: native tool calls or calls written as text
  (which the agent loop recovers) are ok, no tool use is incompatible.
  ``[provider] assume_tools = true`` (``LLM_ASSUME_TOOLS=1``) skips the probe.
- openrouter: ``GET {base_url}/models``; the model's ``supported_parameters``
  must contain "tools".
- ollama: ``/api/version`` answers, the model is in ``/api/tags``,
  ``/api/show`` capabilities include "tools" (when reported), and a sample
  ``get_current_time`` tool call comes back as a tool call (native, or
  written as text).

``check_*`` never raise ProviderError: every failure is a CheckResult.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from ..messages import Completion, Message, ToolSpec
from ..protocol.errors import ProviderError, ProviderIncompatible, ProviderRejected
from .base import CheckResult, CheckState, MalformedResponse


class _Probed(Protocol):
    """What every check reads of its provider. The checks name what they use rather than
    the provider classes: those call the checks, and a module never imports its caller."""

    model: str
    base_url: str

    async def probe(self, messages: Sequence[Message], tools: Sequence[ToolSpec]) -> Completion: ...


class OpenAIChecked(_Probed, Protocol):
    """``OpenAIProvider`` as its checks see it."""

    name: str
    api_key: str | None
    custom_base_url: bool
    assume_tools: bool

    @property
    def needs_key(self) -> bool: ...
    def no_key_error(self) -> ProviderError: ...
    async def list_models(self) -> dict[str, list[str]]: ...


class OllamaChecked(_Probed, Protocol):
    """``OllamaProvider`` as its check sees it."""

    async def server_version(self) -> str: ...
    async def pulled_models(self) -> list[str]: ...
    async def capabilities(self) -> list[str] | None: ...

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


async def check_openai(p: OpenAIChecked) -> CheckResult:
    """openai and openrouter (and OpenAI-compatible servers)."""
    if not p.api_key and p.needs_key:
        return _result("incompatible", p.no_key_error().message, p.name, p.model)
    if p.name == "openrouter":
        return await check_openrouter(p)
    if p.custom_base_url:
        return await check_compatible(p)
    try:
        await p.list_models()
    except ProviderError as exc:
        return _result(_state_for(exc), f"openai: could not read the model list at {p.base_url}/models: "
                       f"{exc.message}", p.name, p.model)
    if openai_model_supports_tools(p.model):
        return _result("ok", f"{p.model} supports tool calling", p.name, p.model)
    return _result(
        "incompatible",
        f"{p.model} is not an OpenAI model known to support tool calling; set OPENAI_MODEL (or LLM_MODEL) "
        f"to one of {', '.join(OPENAI_TOOL_MODELS)} — or switch provider (LLM_PROVIDER=openrouter|ollama)",
        p.name, p.model)


async def check_compatible(p: OpenAIChecked) -> CheckResult:
    """An OpenAI-compatible server at a custom base URL (llama.cpp, vLLM, LM Studio, LocalAI, ...).

    Asks the server: its model list (is the model there?), then, unless the
    model's name is known to call tools or ``assume_tools`` is set, one sample
    tool call, whose answer says which of three it is: native tool calls,
    tool calls written as text (recovered by the agent loop), or no tool use.
    """
    where = f"{p.model} at {p.base_url}"
    notes: list[str] = []
    try:
        listed = list(await p.list_models())
    except ProviderRejected as exc:
        if exc.data.get("status") in (401, 403):
            return _result("incompatible", f"the server at {p.base_url} refused the request: {exc.message}",
                           p.name, p.model)
        listed = []  # no model list on this server (404, ...): the sample call decides
    except ProviderError as exc:
        if isinstance(exc.__cause__, MalformedResponse):
            listed = []  # a model list of another shape: the sample call decides
        else:
            return _result("degraded", f"cannot reach the server at {p.base_url}: {exc.message}", p.name,
                           p.model)
    if listed and p.model not in listed:
        if len(listed) == 1:
            notes.append(f"the server lists one model, {listed[0]!r}, not {p.model!r} (a server that serves "
                         f"one model may answer under any name; set OPENAI_MODEL={listed[0]} to match)")
        else:
            notes.append(f"{p.model!r} is not among the server's models ({', '.join(listed[:10])}"
                         f"{', ...' if len(listed) > 10 else ''})")
    note = "; " + "; ".join(notes) if notes else ""
    if openai_model_supports_tools(p.model):
        return _result("ok", f"{where}: the server answers; the model is known to call tools{note}",
                       p.name, p.model)
    if p.assume_tools:
        return _result("ok", f"{where} is assumed to call tools (provider.assume_tools = true, "
                             f"LLM_ASSUME_TOOLS=1); not probed{note}", p.name, p.model)
    try:
        completion = await p.probe(PROBE_MESSAGES, [PROBE_TOOL])
    except ProviderError as exc:
        return _result(_state_for(exc), f"the sample tool call to {where} failed: {exc.message}{note}",
                       p.name, p.model)
    return _probe_verdict(completion, where, note, p.name, p.model)


def _probe_verdict(completion: Completion, where: str, note: str, provider: str, model: str) -> CheckResult:
    """What the answer to the sample tool call says about the model."""
    from ..textcalls import recover_calls

    if any(tc.name == PROBE_TOOL.name for tc in completion.message.tool_calls):
        return _result("ok", f"{where}: works: native tool calls{note}", provider, model)
    text = completion.message.content or ""
    if any(tc.name == PROBE_TOOL.name for tc in recover_calls(text, [PROBE_TOOL.name])):
        return _result("ok", f"{where}: works: tool calls recovered from text (the model writes its calls "
                             f"as text, not as native tool calls){note}", provider, model)
    said = " ".join(text.split())[:120]
    return _result(
        "incompatible",
        f"{where}: the model answered a sample request without calling the tool it was given "
        f"(it said: {said!r}); pick a model that can call tools, or set provider.assume_tools = true "
        f"(LLM_ASSUME_TOOLS=1) to use it anyway{note}", provider, model)


def _openrouter_id(model: str) -> str:
    # Routing suffixes are shortcuts, not separate entries in the model list.
    for suffix in (":nitro", ":floor", ":online", ":exacto"):
        if model.endswith(suffix):
            return model[: -len(suffix)]
    return model


async def check_openrouter(p: OpenAIChecked) -> CheckResult:
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


async def check_ollama(p: OllamaChecked) -> CheckResult:
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
    return _probe_verdict(completion, f"{model} on Ollama {version}", "", name, model)
