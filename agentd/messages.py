"""The provider-neutral message and tool-call model used inside agentd.

SDK types (openai, ollama) never travel past agentd/providers/: each provider
converts these structs to its wire format and back.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

Role = Literal["system", "user", "assistant", "tool"]


class ToolCall(msgspec.Struct, frozen=True):
    """A tool call the model asked for. ``arguments`` is the raw JSON text the
    model produced: it may be malformed, and validating it is the loop's job."""

    id: str
    name: str
    arguments: str


class Message(msgspec.Struct, frozen=True, omit_defaults=True):
    role: Role
    content: str | None = None
    tool_calls: list[ToolCall] = []
    tool_call_id: str | None = None  # role == "tool"
    name: str | None = None  # role == "tool": the tool's name


class ToolSpec(msgspec.Struct, frozen=True):
    """What the model is told about a tool: the parameters are a JSON Schema.
    The flags are for our side only (approvals, the exfiltration guard) and never
    reach the model: ``read_only`` changes nothing outside the run,
    ``idempotent`` has no further effect when repeated, ``external`` reaches
    beyond this machine (untrusted output; what it sends leaves)."""

    name: str
    description: str
    parameters: dict[str, Any]
    read_only: bool = False
    idempotent: bool = False
    external: bool = False


class Usage(msgspec.Struct, frozen=True):
    """A call's token usage as the server reported it. ``tokens_in`` counts
    the whole prompt, ``cached_in`` the part of it served from the
    provider's prompt cache (billed at the cached rate); ``tokens_out`` the
    whole answer, ``reasoning`` the part of it spent on hidden reasoning
    (billed as output; shown apart). Zero where the server does not say."""

    tokens_in: int = 0
    tokens_out: int = 0
    cached_in: int = 0
    reasoning: int = 0


class Completion(msgspec.Struct, frozen=True):
    """One model response: an assistant message (text and/or tool calls)."""

    message: Message
    usage: Usage = Usage()
    finish_reason: str = "stop"
    model: str = ""
