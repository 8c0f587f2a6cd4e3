"""A real HTTP fake of the LLM servers agentd talks to, on 127.0.0.1.

    with FakeLLM(script=[tool_call("get_time", {}), text("done")]) as fake:
        provider = OpenAIProvider(..., base_url=fake.base_url)
        ...
        fake.assert_complete()

Speaks OpenAI Chat Completions (``POST /v1/chat/completions``, plain and SSE
streaming), OpenRouter's ``GET /v1/models`` (with ``supported_parameters``),
and Ollama's ``/api/chat`` (plain and NDJSON streaming), ``/api/tags``,
``/api/show`` (with ``capabilities``) and ``/api/version``.

Chat requests are answered from one of three sources:

- ``script=[...]``: each chat request takes the next turn — ``tool_call()`` /
  ``tool_calls()``, ``text()``; what small local models answer instead of
  native calls (``text_call()``: a call written as text in one of the forms
  ``TEXT_FORMS``; ``text_plan()``: several such calls with results the model
  invented in between; ``json_prose()``: a summary that mentions JSON but calls
  nothing; ``cut()``: an answer stopped by the output limit, finish reason
  ``length``); or a fault (``fault()``: HTTP status with an
  optional Retry-After; ``stall()``: no answer for longer than the client's
  timeout; ``drop()``: the connection closes without an answer;
  ``malformed()``: 200 with a broken body). A request after the script ran
  out gets a 500 and is recorded in ``.errors``.
- ``loop=Loop(k)``: benchmarks. Stateless: a request holding n tool messages
  gets tool call n+1 while n < k, then the final answer, so any number of
  concurrent conversations can share one server.
- neither: auto mode, used by the validation probes: call the request's first
  tool once (if the model supports tools; as text if its ``ModelInfo`` says
  ``text_calls``), otherwise answer with text. A request that offers
  ``finish`` (an agentd run) gets ``finish`` with the summary "ok".

The server is a stdlib ``ThreadingHTTPServer`` with HTTP/1.1 keep-alive in a
background thread; ``latency`` seconds are added to every chat answer, and
``chunk_delay`` seconds between the chunks of a streamed one.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

import msgspec

from .loopback import LoopbackServer, serve_in_thread, stop

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode


# ---------------------------------------------------------------- script turns


@dataclass(frozen=True)
class Call:
    name: str
    arguments: str  # raw JSON text as the model "produced" it; may be malformed
    id: str | None = None  # None: the fake makes one up (OpenAI) / sends none (Ollama)


@dataclass(frozen=True)
class ToolTurn:
    calls: tuple[Call, ...]
    content: str | None = None
    tokens_in: int = 10
    tokens_out: int = 5
    cached_in: int = 0  # of tokens_in, from the prompt cache (OpenAI: prompt_tokens_details)
    reasoning: int = 0  # of tokens_out, hidden reasoning (OpenAI: completion_tokens_details)
    usage: bool = True  # False: the answer reports no usage at all (some servers)


@dataclass(frozen=True)
class TextTurn:
    text: str
    tokens_in: int = 10
    tokens_out: int = 5
    finish_reason: str = "stop"  # "length": cut by the output limit (Ollama: done_reason)
    cached_in: int = 0
    reasoning: int = 0
    usage: bool = True


@dataclass(frozen=True)
class Fault:
    status: int
    message: str = "fake failure"
    retry_after: str | None = None


@dataclass(frozen=True)
class Stall:
    seconds: float


@dataclass(frozen=True)
class Drop:
    pass


@dataclass(frozen=True)
class Malformed:
    body: bytes = b'{"choices": [ {"message": '


Turn = ToolTurn | TextTurn | Fault | Stall | Drop | Malformed


def _args_text(arguments: Any) -> str:
    return arguments if isinstance(arguments, str) else _json_encode(arguments).decode()


def tool_call(name: str, arguments: Any = None, *, id: str | None = None, **kw: Any) -> ToolTurn:
    """One tool call; ``arguments`` a dict (encoded) or raw text (kept as is)."""
    return ToolTurn((Call(name, _args_text({} if arguments is None else arguments), id),), **kw)


def finish_call(summary: str, **kw: Any) -> ToolTurn:
    """The model ends the run: a native ``finish`` call with ``summary``."""
    return tool_call("finish", {"summary": summary}, **kw)


def tool_calls(*calls: tuple[str, Any], **kw: Any) -> ToolTurn:
    """Several tool calls in one turn: ``tool_calls(("a", {...}), ("b", "{..."))``."""
    return ToolTurn(tuple(Call(n, _args_text(a)) for n, a in calls), **kw)


def text(content: str, **kw: Any) -> TextTurn:
    return TextTurn(content, **kw)


# How the call ``{"name": N, "arguments": A}`` is written in each text form.
TEXT_FORMS = ("fenced_json", "bare", "tool_call", "list", "function_eq", "function_name", "described")


def render_text_call(name: str, arguments: Any = None, form: str = "fenced_json") -> str:
    """A tool call written as text, the way local models write them."""
    args = _args_text({} if arguments is None else arguments)
    obj = '{"name": ' + _json_encode(name).decode() + ', "arguments": ' + args + "}"
    forms = {
        "fenced_json": f"```json\n{obj}\n```",
        "bare": obj,
        "tool_call": f"<tool_call>\n{obj}\n</tool_call>",
        "list": f"[{obj}]",
        "function_eq": f"<function={name}>{args}</function>",
        "function_name": f'<tools>\n<function name="{name}">\n{args}\n</function>\n</tools>',
        # the call explained instead of made: the tool's name in prose, its arguments alone in a fence
        "described": (f"To do this, call the `{name}` function with the following arguments:\n```json\n{args}\n```\n"
                      "This will do what the objective asks."),
    }
    if form not in forms:
        raise ValueError(f"unknown text form {form!r}; one of {', '.join(TEXT_FORMS)}")
    return forms[form]


def text_call(name: str, arguments: Any = None, *, form: str = "fenced_json", before: str = "",
              after: str = "", **kw: Any) -> TextTurn:
    """A tool call written as text (no native tool call) in ``form``, with
    optional prose ``before`` and ``after`` it."""
    body = render_text_call(name, arguments, form)
    return TextTurn("\n\n".join(x for x in (before, body, after) if x), **kw)


def text_plan(*calls: tuple[str, Any], form: str = "fenced_json", invented: str = "Output:\n```\nok\n```",
              **kw: Any) -> TextTurn:
    """Several text calls in one answer with results the model made up in
    between (``invented``), as small models write a whole plan at once."""
    parts = [render_text_call(n, a, form) for n, a in calls]
    return TextTurn(f"\n\n{invented}\n\n".join(parts), **kw)


def json_prose(**kw: Any) -> TextTurn:
    """A plain summary that shows JSON data and names tools but calls nothing."""
    return TextTurn('I used write_file to save the report. Each entry looks like this:\n\n```json\n'
                    '{"name": "Mars", "arguments": ["red", "cold"], "moons": 2}\n```\n\n'
                    'The file is `report.json`; call finish when you want a new one.', **kw)


def cut(content: str = "Here is my plan:\n" + "\n" * 40, **kw: Any) -> TextTurn:
    """An answer stopped by the output limit (finish reason ``length``)."""
    return TextTurn(content, finish_reason="length", **kw)


def fault(status: int, message: str = "fake failure", *, retry_after: str | float | None = None) -> Fault:
    return Fault(status, message, None if retry_after is None else str(retry_after))


def stall(seconds: float) -> Stall:
    return Stall(seconds)


def drop() -> Drop:
    return Drop()


def malformed(body: bytes = Malformed.body) -> Malformed:
    return Malformed(body)


@dataclass(frozen=True)
class Loop:
    """Benchmark mode: ``k`` tool calls of ``tool`` per conversation, then ``final``."""

    k: int
    tool: str = "noop"
    arguments: str = "{}"
    final: str = "done"


@dataclass(frozen=True)
class ModelInfo:
    tools: bool = True
    text_calls: bool = False  # auto mode writes its tool call as text (fenced JSON) instead of natively


DEFAULT_MODELS: dict[str, ModelInfo] = {
    "gpt-4o-mini": ModelInfo(True),
    "gpt-4o": ModelInfo(True),
    "openai/gpt-4o-mini": ModelInfo(True),
    "meta-llama/llama-2-13b-chat": ModelInfo(False),
    "llama3.1:latest": ModelInfo(True),
    "qwen2.5:7b": ModelInfo(True),
    "gemma:2b": ModelInfo(False),
}


# ---------------------------------------------------------------- the server


class _Server(LoopbackServer):
    request_queue_size = 256
    fake: FakeLLM


class FakeLLM:
    """A context manager running the fake on an ephemeral loopback port.

    Attributes: ``base_url`` (OpenAI style, ``http://127.0.0.1:PORT/v1``),
    ``ollama_url`` (``http://127.0.0.1:PORT``), ``requests`` (decoded chat
    request bodies, in arrival order), ``paths`` (every ``METHOD path``),
    ``errors`` (what went wrong on the fake's side).
    """

    def __init__(
        self,
        script: Sequence[Turn] | None = None,
        *,
        loop: Loop | None = None,
        latency: float = 0.0,
        chunk_delay: float = 0.0,
        models: dict[str, ModelInfo] | None = None,
        api_key: str | None = None,
        record: bool = True,
        port: int = 0,
    ) -> None:
        self._port_wanted = port
        self._script = list(script) if script is not None else None
        self._cursor = 0
        self.loop = loop
        self.latency = latency
        self.chunk_delay = chunk_delay
        self.models = dict(DEFAULT_MODELS if models is None else models)
        self.api_key = api_key
        self.record = record
        self.requests: list[dict[str, Any]] = []
        self.paths: list[str] = []
        self.errors: list[str] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._server: _Server | None = None

    # -- lifetime
    def __enter__(self) -> FakeLLM:
        server = _Server(("127.0.0.1", self._port_wanted), _Handler)
        server.fake = self
        self._server = server
        serve_in_thread(server)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._closed.set()
        if self._server is not None:
            stop(self._server)
            self._server = None

    @property
    def port(self) -> int:
        assert self._server is not None, "FakeLLM is not running"
        return self._server.server_address[1]

    @property
    def ollama_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- script
    def add(self, *turns: Turn) -> None:
        with self._lock:
            if self._script is None:
                self._script = []
            self._script.extend(turns)

    @property
    def remaining(self) -> int:
        with self._lock:
            return 0 if self._script is None else len(self._script) - self._cursor

    def assert_complete(self) -> None:
        """Every scripted turn was used and the fake saw nothing unexpected."""
        assert not self.errors, f"FakeLLM errors: {self.errors}"
        left = self.remaining
        assert left == 0, f"FakeLLM: {left} scripted turn(s) were never requested"

    def paced(self, chunks: Iterator[bytes]) -> Iterator[bytes]:
        """The chunks of a streamed answer, ``chunk_delay`` seconds apart (a
        model that types); a subclass can hold them (tests of live progress)."""
        for i, c in enumerate(chunks):
            if i and self.chunk_delay:
                self._closed.wait(self.chunk_delay)
            yield c

    def _next_turn(self, body: dict[str, Any]) -> Turn:
        if self.loop is not None:
            return self._loop_turn(body)
        with self._lock:
            if self.record:
                self.requests.append(body)
            if self._script is None:
                return self._auto_turn(body)
            if self._cursor >= len(self._script):
                self.errors.append(f"request {len(self.requests)} after the script ran out")
                return Fault(500, "FakeLLM: script exhausted")
            turn = self._script[self._cursor]
            self._cursor += 1
            return turn

    def _loop_turn(self, body: dict[str, Any]) -> Turn:
        done = sum(1 for m in body.get("messages") or () if m.get("role") == "tool")
        spec = self.loop
        assert spec is not None
        if done < spec.k:
            return ToolTurn((Call(spec.tool, spec.arguments, f"call_{done + 1}"),))
        return TextTurn(spec.final)

    def _auto_turn(self, body: dict[str, Any]) -> Turn:
        tools = body.get("tools") or []
        info = self.models.get(_ollama_name(str(body.get("model", ""))), self.models.get(str(body.get("model", ""))))
        called = any(m.get("role") == "tool" for m in body.get("messages") or ())
        if tools and not called and (info is None or info.tools):
            if any(t["function"]["name"] == "finish" for t in tools):  # an agentd run: end it honestly
                return ToolTurn((Call("finish", '{"summary": "ok"}'),))
            if info is not None and info.text_calls:
                return text_call(tools[0]["function"]["name"], {})
            return ToolTurn((Call(tools[0]["function"]["name"], "{}"),))
        return TextTurn("ok")


def _ollama_name(name: str) -> str:
    return name if ":" in name else f"{name}:latest"


# ---------------------------------------------------------------- wire formats


def _openai_tool_calls(turn: ToolTurn) -> list[dict[str, Any]]:
    return [
        {"id": c.id or f"call_{i}", "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for i, c in enumerate(turn.calls)
    ]


def _openai_body(turn: ToolTurn | TextTurn, model: str) -> bytes:
    if isinstance(turn, ToolTurn):
        message: dict[str, Any] = {"role": "assistant", "content": turn.content, "tool_calls": _openai_tool_calls(turn)}
        finish = "tool_calls"
    else:
        message = {"role": "assistant", "content": turn.text}
        finish = turn.finish_reason
    body: dict[str, Any] = {
        "id": "chatcmpl-fake",
        "object": "chat.completion",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
    }
    if turn.usage:
        body["usage"] = _openai_usage(turn)
    return _json_encode(body)


def _openai_usage(turn: ToolTurn | TextTurn) -> dict[str, Any]:
    usage: dict[str, Any] = {"prompt_tokens": turn.tokens_in, "completion_tokens": turn.tokens_out,
                             "total_tokens": turn.tokens_in + turn.tokens_out}
    if turn.cached_in:
        usage["prompt_tokens_details"] = {"cached_tokens": turn.cached_in}
    if turn.reasoning:
        usage["completion_tokens_details"] = {"reasoning_tokens": turn.reasoning}
    return usage


def _pieces(s: str, n: int = 3) -> list[str]:
    if not s:
        return []
    size = max(1, -(-len(s) // n))
    return [s[i:i + size] for i in range(0, len(s), size)]


def _openai_sse(turn: ToolTurn | TextTurn, model: str, include_usage: bool) -> Iterator[bytes]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> bytes:
        obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return b"data: " + _json_encode(obj) + b"\n\n"

    yield chunk({"role": "assistant", "content": ""})
    if isinstance(turn, TextTurn):
        for piece in _pieces(turn.text):
            yield chunk({"content": piece})
        finish = turn.finish_reason
    else:
        for piece in _pieces(turn.content or ""):
            yield chunk({"content": piece})
        for i, c in enumerate(turn.calls):
            yield chunk({"tool_calls": [{"index": i, "id": c.id or f"call_{i}", "type": "function",
                                         "function": {"name": c.name, "arguments": ""}}]})
            for piece in _pieces(c.arguments):
                yield chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]})
        finish = "tool_calls"
    yield chunk({}, finish)
    if include_usage and turn.usage:
        obj = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 0, "model": model,
               "choices": [], "usage": _openai_usage(turn)}
        yield b"data: " + _json_encode(obj) + b"\n\n"
    yield b"data: [DONE]\n\n"


def _ollama_message(turn: ToolTurn | TextTurn) -> dict[str, Any]:
    if isinstance(turn, TextTurn):
        return {"role": "assistant", "content": turn.text}
    calls = []
    for c in turn.calls:
        try:
            args = _json_decode(c.arguments)
        except msgspec.DecodeError:
            args = {"_malformed": c.arguments}
        calls.append({"function": {"name": c.name, "arguments": args}})
    return {"role": "assistant", "content": turn.content or "", "tool_calls": calls}


def _ollama_final(turn: ToolTurn | TextTurn, model: str, message: dict[str, Any]) -> dict[str, Any]:
    reason = turn.finish_reason if isinstance(turn, TextTurn) else "stop"
    return {"model": model, "created_at": "2024-01-01T00:00:00Z", "message": message, "done": True,
            "done_reason": reason, "prompt_eval_count": turn.tokens_in, "eval_count": turn.tokens_out}


def _ollama_stream(turn: ToolTurn | TextTurn, model: str) -> Iterator[bytes]:
    base = {"model": model, "created_at": "2024-01-01T00:00:00Z", "done": False}
    if isinstance(turn, TextTurn):
        for piece in _pieces(turn.text):
            yield _json_encode({**base, "message": {"role": "assistant", "content": piece}}) + b"\n"
        last: dict[str, Any] = {"role": "assistant", "content": ""}
    else:
        yield _json_encode({**base, "message": _ollama_message(turn)}) + b"\n"
        last = {"role": "assistant", "content": ""}
    yield _json_encode(_ollama_final(turn, model, last)) + b"\n"


# ---------------------------------------------------------------- handler


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes: without this, Nagle plus
        # the client's delayed ACK adds ~40 ms to every answer.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    # -- plumbing
    def _send(self, status: int, body: bytes, *, ctype: str = "application/json",
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _send_stream(self, chunks: Iterator[bytes], ctype: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for c in chunks:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(c), c))
        self.wfile.write(b"0\r\n\r\n")

    def _error(self, status: int, message: str, *, ollama: bool, retry_after: str | None = None) -> None:
        headers = {"Retry-After": retry_after} if retry_after is not None else None
        if ollama:
            body = _json_encode({"error": message})
        else:
            body = _json_encode({"error": {"message": message, "type": "fake_error", "code": None}})
        self._send(status, body, headers=headers)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        return _json_decode(raw) if raw else {}

    def _drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- routing
    def do_GET(self) -> None:
        fake = self.server.fake
        fake.paths.append(f"GET {self.path}")
        if self.path == "/v1/models":
            if not self._authorized():
                return
            data = [{"id": name, "name": name, "context_length": 128000,
                     "supported_parameters": (["tools", "tool_choice"] if info.tools else []) + ["temperature", "max_tokens"]}
                    for name, info in fake.models.items()]
            self._send(200, _json_encode({"data": data}))
        elif self.path == "/api/version":
            self._send(200, b'{"version":"0.12.0"}')
        elif self.path == "/api/tags":
            models = [{"name": n, "model": n, "modified_at": "2024-01-01T00:00:00Z", "size": 1, "digest": "0"}
                      for n in fake.models if ":" in n]
            self._send(200, _json_encode({"models": models}))
        else:
            self._error(404, f"no route GET {self.path}", ollama=self.path.startswith("/api"))

    def do_POST(self) -> None:
        fake = self.server.fake
        fake.paths.append(f"POST {self.path}")
        try:
            body = self._body()
        except msgspec.DecodeError:
            fake.errors.append(f"undecodable request body on {self.path}")
            self._error(400, "invalid JSON body", ollama=self.path.startswith("/api"))
            return
        if self.path == "/v1/chat/completions":
            if self._authorized():
                self._chat(body, ollama=False)
        elif self.path == "/api/chat":
            self._chat(body, ollama=True)
        elif self.path == "/api/show":
            name = _ollama_name(str(body.get("model") or body.get("name") or ""))
            info = fake.models.get(name)
            if info is None:
                self._error(404, f"model '{body.get('model')}' not found", ollama=True)
                return
            caps = ["completion", "tools"] if info.tools else ["completion"]
            self._send(200, _json_encode({"modelfile": "", "parameters": "", "template": "",
                                          "details": {"format": "gguf", "family": "llama"},
                                          "model_info": {}, "capabilities": caps}))
        else:
            self._error(404, f"no route POST {self.path}", ollama=self.path.startswith("/api"))

    def _authorized(self) -> bool:
        key = self.server.fake.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return True
        self._error(401, "Incorrect API key provided", ollama=False)
        return False

    def _chat(self, body: dict[str, Any], *, ollama: bool) -> None:
        fake = self.server.fake
        model = str(body.get("model", ""))
        if ollama and body.get("tools"):
            info = fake.models.get(_ollama_name(model))
            if info is not None and not info.tools:
                self._error(400, f"registry.ollama.ai/library/{model} does not support tools", ollama=True)
                return
        turn = fake._next_turn(body)
        if fake.latency:
            time.sleep(fake.latency)
        if isinstance(turn, Fault):
            self._error(turn.status, turn.message, ollama=ollama, retry_after=turn.retry_after)
        elif isinstance(turn, Stall):
            fake._closed.wait(turn.seconds)
            self._drop()
        elif isinstance(turn, Drop):
            self._drop()
        elif isinstance(turn, Malformed):
            self._send(200, turn.body)
        elif body.get("stream") and not ollama:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            self._send_stream(fake.paced(_openai_sse(turn, model, include_usage)), "text/event-stream")
        elif ollama and body.get("stream", True):
            self._send_stream(fake.paced(_ollama_stream(turn, model)), "application/x-ndjson")
        elif ollama:
            self._send(200, _json_encode(_ollama_final(turn, model, _ollama_message(turn))))
        else:
            self._send(200, _openai_body(turn, model))


__all__ = [
    "FakeLLM", "Loop", "ModelInfo", "DEFAULT_MODELS", "Turn", "ToolTurn", "TextTurn", "Fault", "Stall",
    "Drop", "Malformed", "Call", "tool_call", "tool_calls", "finish_call", "text", "fault", "stall", "drop", "malformed",
    "TEXT_FORMS", "render_text_call", "text_call", "text_plan", "json_prose", "cut",
]
