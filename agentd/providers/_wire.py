"""Chat Completions on the wire: request bodies built from cached bytes, and
msgspec structs for answers (plain and SSE-streamed). Internal to
``providers/openai.py``.

Request body cost is flat in the length of the history: each message is
encoded once (``MessageCache``, keyed by the identity of the frozen Message,
which a run appends to its list and keeps), each tool set once
(``ToolsCache``), and a call joins bytes. The output is byte for byte what
encoding the whole request as one struct gives (the tests check it).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import msgspec

from ..messages import Completion, Message, ToolCall, ToolSpec, Usage
from .base import MalformedResponse

# ---------------------------------------------------------------- request structs


class _WireFunction(msgspec.Struct, frozen=True):
    name: str
    arguments: str


class _WireToolCall(msgspec.Struct, frozen=True):
    id: str
    function: _WireFunction
    type: str = "function"


class _WireMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    role: str
    content: str | None = None
    tool_calls: list[_WireToolCall] | None = None
    tool_call_id: str | None = None


class _WireToolFunction(msgspec.Struct, frozen=True):
    name: str
    description: str
    parameters: dict[str, Any]


class _WireTool(msgspec.Struct, frozen=True):
    function: _WireToolFunction
    type: str = "function"


# ---------------------------------------------------------------- response structs


class _RFunction(msgspec.Struct):
    name: str = ""
    arguments: Any = ""  # a JSON string per the spec; some servers send an object


class _RToolCall(msgspec.Struct):
    id: str | None = None
    function: _RFunction = msgspec.field(default_factory=_RFunction)


class _RMessage(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_RToolCall] | None = None


class _RChoice(msgspec.Struct):
    message: _RMessage
    finish_reason: str | None = None


class _RPromptDetails(msgspec.Struct):
    cached_tokens: int | None = 0


class _RCompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = 0


class _RUsage(msgspec.Struct):
    prompt_tokens: int | None = 0
    completion_tokens: int | None = 0
    prompt_tokens_details: _RPromptDetails | None = None
    completion_tokens_details: _RCompletionDetails | None = None
    prompt_cache_hit_tokens: int | None = None  # DeepSeek's name for the cached part of the prompt

    def ours(self) -> Usage:
        cached = (self.prompt_tokens_details.cached_tokens if self.prompt_tokens_details else None) \
            or self.prompt_cache_hit_tokens or 0
        reasoning = (self.completion_tokens_details.reasoning_tokens if self.completion_tokens_details else None) or 0
        return Usage(self.prompt_tokens or 0, self.completion_tokens or 0, cached_in=cached, reasoning=reasoning)


class _Reply(msgspec.Struct):
    """What a whole response and a stream chunk both carry besides ``choices``."""

    usage: _RUsage | None = None
    model: str = ""
    error: Any = None


class _RResponse(_Reply):
    choices: list[_RChoice] = []


class _DFunction(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class _DToolCall(msgspec.Struct):
    index: int = 0
    id: str | None = None
    function: _DFunction | None = None


class _Delta(msgspec.Struct):
    content: str | None = None
    tool_calls: list[_DToolCall] | None = None


class _DChoice(msgspec.Struct):
    delta: _Delta = msgspec.field(default_factory=_Delta)
    finish_reason: str | None = None


class _Chunk(_Reply):
    choices: list[_DChoice] = []


encode = msgspec.json.Encoder().encode
_decode_response = msgspec.json.Decoder(_RResponse).decode
_decode_chunk = msgspec.json.Decoder(_Chunk).decode
_decode_any = msgspec.json.Decoder().decode


# ---------------------------------------------------------------- request encoding


def wire_message(m: Message) -> _WireMessage:
    calls = None
    if m.tool_calls:
        calls = [_WireToolCall(tc.id, _WireFunction(tc.name, tc.arguments)) for tc in m.tool_calls]
    content = m.content
    if m.role == "assistant" and content is None and not calls:
        content = ""
    elif m.role == "tool" and content is None:
        content = ""
    return _WireMessage(m.role, content, calls, m.tool_call_id)


class MessageCache:
    """Each message's encoded wire form, keyed by ``id(message)``.

    Messages are frozen structs that a run appends to its history and keeps,
    so at step n only the messages added since step n-1 are encoded. An entry
    holds its message (so the id cannot be reused while cached) and is checked
    by identity on lookup. Bounded by entries and bytes, oldest inserted out; a
    miss re-inserts at the young end, so a long run's first messages survive
    churn from other runs as long as the run keeps using them.
    """

    def __init__(self, max_entries: int = 4096, max_bytes: int = 32 << 20) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.nbytes = 0
        self._entries: dict[int, tuple[Message, bytes]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def encoded(self, messages: Sequence[Message]) -> list[bytes]:
        entries = self._entries
        out: list[bytes] = []
        for m in messages:
            hit = entries.get(id(m))
            if hit is not None and hit[0] is m:
                out.append(hit[1])
                continue
            raw = encode(wire_message(m))
            out.append(raw)
            if hit is not None:  # a dead message's id, reused
                self.nbytes -= len(entries.pop(id(m))[1])
            entries[id(m)] = (m, raw)
            self.nbytes += len(raw)
            while len(entries) > self.max_entries or (self.nbytes > self.max_bytes and len(entries) > 1):
                self.nbytes -= len(entries.pop(next(iter(entries)))[1])
        return out


class ToolsCache:
    """Encoded ``tools`` lists, keyed by the identity of the ToolSpec objects.

    The specs themselves are kept so their ids stay valid; a tool set is small
    and there are few per daemon, so the cache is bounded by ``size`` (oldest out).
    """

    def __init__(self, size: int = 64) -> None:
        self._size = size
        self._entries: dict[tuple[int, ...], tuple[tuple[ToolSpec, ...], bytes]] = {}

    def get(self, tools: Sequence[ToolSpec]) -> bytes:
        key = tuple(map(id, tools))
        hit = self._entries.get(key)
        if hit is not None:
            return hit[1]
        raw = encode([_WireTool(_WireToolFunction(t.name, t.description, t.parameters)) for t in tools])
        if len(self._entries) >= self._size:
            self._entries.pop(next(iter(self._entries)))
        self._entries[key] = (tuple(tools), raw)
        return raw


_STREAM_TAIL = b',"stream":true,"stream_options":{"include_usage":true}}'


def request_body(model_prefix: bytes, messages: list[bytes], tools: bytes | None, stream: bool,
                 extra: bytes = b"") -> bytes:
    """``model_prefix`` is ``b'{"model":<model>,"messages":['``; ``extra`` more
    members, each starting with a comma (``b',"max_tokens":128'``)."""
    parts = [model_prefix, b",".join(messages), b"]"]
    if tools is not None:
        parts += (b',"tools":', tools)
    if extra:
        parts.append(extra)
    parts.append(_STREAM_TAIL if stream else b"}")
    return b"".join(parts)


def model_prefix(model: str) -> bytes:
    return b'{"model":' + encode(model) + b',"messages":['


# ---------------------------------------------------------------- answers


def _arguments_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        return "{}"
    return encode(value).decode()


def _call_id(given: str | None, index: int) -> str:
    return given or f"call_{uuid.uuid4().hex[:16]}_{index}"


# Servers that name the output limit otherwise than OpenAI's "length".
_LENGTH_REASONS = frozenset({"length", "max_tokens", "max_output_tokens"})


def finish_reason(reason: str | None, has_calls: bool) -> str:
    """Ours: "length" for an answer cut by the output limit (OpenAI, llama.cpp,
    vLLM and LM Studio say "length", Ollama's ``done_reason`` too); else
    "tool_calls" when the answer has calls (Ollama says "stop" then); else the
    server's reason, "stop" when it gave none."""
    if reason in _LENGTH_REASONS:
        return "length"
    if has_calls:
        return "tool_calls"
    return reason or "stop"


def _completion(content: str | None, calls: list[ToolCall], usage: _RUsage, reason: str | None,
                model: str) -> Completion:
    return Completion(
        message=Message(role="assistant", content=content, tool_calls=calls),
        usage=usage.ours(),
        finish_reason=finish_reason(reason, bool(calls)),
        model=model,
    )


def error_message(obj: Any) -> str:
    if isinstance(obj, dict):
        msg = obj.get("message")
        if isinstance(msg, str) and msg:
            return msg
    return str(obj)


def error_detail(body: bytes, reason: str) -> str:
    """The provider's message from an error body (``{"error": {"message": ...}}``)."""
    try:
        obj = _decode_any(body)
    except (msgspec.DecodeError, msgspec.ValidationError):
        text = body.decode("utf-8", "replace").strip()
        return text[:500] or reason
    if isinstance(obj, dict):
        return error_message(obj.get("error", obj))
    return str(obj)[:500] or reason


def parse_completion(raw: bytes, model: str) -> Completion:
    try:
        resp = _decode_response(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponse(f"unreadable response body: {exc}") from exc
    if resp.error is not None:
        raise MalformedResponse(f"error in response: {error_message(resp.error)}")
    if not resp.choices:
        raise MalformedResponse("response without choices")
    choice = resp.choices[0]
    calls = [
        ToolCall(_call_id(tc.id, i), tc.function.name, _arguments_text(tc.function.arguments))
        for i, tc in enumerate(choice.message.tool_calls or ())
    ]
    return _completion(choice.message.content, calls, resp.usage or _RUsage(), choice.finish_reason,
                       resp.model or model)


class _RModel(msgspec.Struct):
    id: str
    supported_parameters: list[str] | None = None


class _RModels(msgspec.Struct):
    data: list[_RModel] = []


_decode_models = msgspec.json.Decoder(_RModels).decode


def parse_models(raw: bytes) -> dict[str, list[str]]:
    """A ``GET /models`` answer as {model id: supported parameters (OpenRouter's; else empty)}."""
    try:
        models = _decode_models(raw)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise MalformedResponse(f"unreadable model list: {exc}") from exc
    return {m.id: list(m.supported_parameters or ()) for m in models.data}


class LineSplitter:
    """Bytes in, complete lines out (``\\n``, ``\\r\\n`` or ``\\r`` endings stripped)."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        buf = self._rest + data if self._rest else data
        lines = buf.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
        self._rest = lines.pop()
        return iter(lines)

    def tail(self) -> bytes:
        rest, self._rest = self._rest, b""
        return rest


class StreamAccumulator:
    """Assembles a streamed Chat Completion from its SSE ``data:`` lines."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.text: list[str] = []
        self.calls: dict[int, list[Any]] = {}  # index -> [id, name, [argument pieces]]
        self.finish: str | None = None
        self.usage = _RUsage()
        self.emitted = False
        self.done = False

    def feed(self, line: bytes, on_delta: Callable[[str], None]) -> bool:
        """Take one SSE line; True once ``[DONE]`` arrived."""
        if not line.startswith(b"data:"):
            return False
        data = line[5:].strip()
        if data == b"[DONE]":
            self.done = True
            return True
        try:
            chunk = _decode_chunk(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise MalformedResponse(f"unreadable stream chunk: {exc}") from exc
        if chunk.error is not None:
            raise MalformedResponse(f"error in stream: {error_message(chunk.error)}")
        if chunk.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = chunk.usage
        for choice in chunk.choices:
            delta = choice.delta
            if delta.content:
                self.text.append(delta.content)
                self.emitted = True
                on_delta(delta.content)
            for tc in delta.tool_calls or ():
                slot = self.calls.setdefault(tc.index, [None, "", []])
                if tc.id:
                    slot[0] = tc.id
                if tc.function is not None:
                    if tc.function.name:
                        slot[1] += tc.function.name
                    if tc.function.arguments:
                        slot[2].append(tc.function.arguments)
            if choice.finish_reason:
                self.finish = choice.finish_reason
        return False

    def result(self) -> Completion:
        if not self.done and self.finish is None:
            raise MalformedResponse("stream ended before it finished")
        calls = [
            ToolCall(_call_id(slot[0], i), slot[1], "".join(slot[2]))
            for i, (_, slot) in enumerate(sorted(self.calls.items()))
        ]
        text = "".join(self.text) if self.text else None
        return _completion(text, calls, self.usage, self.finish, self.model)
