"""A counting proxy between one system under test and the model server.

Every system (agentd and each framework) talks to the model through its own
``MeterProxy`` on 127.0.0.1, so model calls and tokens are counted the same
way for all of them, from the server's own ``usage`` figures, instead of
trusting each framework's bookkeeping. The proxy also applies the same limits
to everyone:

- ``max_tokens`` of every request is capped at ``max_tokens`` (set when the
  client sent none);
- a streamed request asks for the usage chunk (``stream_options``);
- at most ``hard_cap`` model calls per goal: the call after that is answered
  HTTP 400 ("model call cap reached"), so a system that ignores its own step
  cap cannot run for ever.

Calls are grouped by the harness's current ``tag`` (one goal run). Each
request and answer is appended to ``transcript`` (JSON lines) when set, so a
failed goal can be read afterwards.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from agentd.testing.loopback import LoopbackServer, serve_in_thread, stop

_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "proxy-connection", "te",
        "trailer", "upgrade", "accept-encoding"}


@dataclass
class Meter:
    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    native_tool_calls: int = 0
    finish_reasons: dict[str, int] = field(default_factory=dict)
    refused: int = 0
    errors: int = 0
    model_seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class MeterProxy:
    def __init__(self, upstream: str, *, max_tokens: int, hard_cap: int, transcript: Path | None = None,
                 timeout: float = 600.0) -> None:
        self.set_upstream(upstream)
        self.max_tokens, self.hard_cap, self.timeout = max_tokens, hard_cap, timeout
        self.transcript = transcript
        self.meters: dict[str, Meter] = {}
        self.tag = "-"
        self._lock = threading.Lock()
        self._server: LoopbackServer | None = None

    # ---------------------------------------------------------------- harness side

    def set_upstream(self, upstream: str) -> None:
        """Forward to ``upstream`` from now on (its path prefix, e.g. /v1, must stay the same)."""
        u = urllib.parse.urlsplit(upstream.rstrip("/"))
        self.up_host, self.up_port = u.hostname or "127.0.0.1", u.port or 80
        self.up_prefix = u.path

    def begin(self, tag: str) -> Meter:
        with self._lock:
            self.tag = tag
            return self.meters.setdefault(tag, Meter())

    @property
    def base_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.up_prefix}"

    def __enter__(self) -> "MeterProxy":
        owner = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._forward(self, None)

            def do_POST(self) -> None:
                n = int(self.headers.get("content-length") or 0)
                owner._forward(self, self.rfile.read(n) if n else b"")

        self._server = LoopbackServer(("127.0.0.1", 0), H)
        serve_in_thread(self._server)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            stop(self._server)
            self._server = None

    # ---------------------------------------------------------------- proxy side

    def _log(self, record: dict[str, Any]) -> None:
        if self.transcript is None:
            return
        with self._lock, open(self.transcript, "a") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")

    def _forward(self, h: BaseHTTPRequestHandler, body: bytes | None) -> None:
        chat = body is not None and h.path.rstrip("/").endswith("/chat/completions")
        with self._lock:
            tag = self.tag
            meter = self.meters.setdefault(tag, Meter())
            if chat:
                if meter.calls >= self.hard_cap:
                    meter.refused += 1
                    refuse = True
                else:
                    meter.calls += 1
                    refuse = False
        if chat and refuse:
            msg = json.dumps({"error": {"message": f"bench: model call cap reached ({self.hard_cap} calls)",
                                        "type": "invalid_request_error"}}).encode()
            self._reply(h, 400, {"content-type": "application/json"}, msg)
            return
        request: dict[str, Any] | None = None
        if chat:
            request = json.loads(body or b"{}")
            asked = [v for v in (request.get("max_tokens"), request.get("max_completion_tokens")) if isinstance(v, int)]
            request.pop("max_completion_tokens", None)
            request["max_tokens"] = min([self.max_tokens, *asked])
            if request.get("stream"):
                request["stream_options"] = {**(request.get("stream_options") or {}), "include_usage": True}
            body = json.dumps(request).encode()
        headers = {k: v for k, v in h.headers.items() if k.lower() not in _HOP}
        if body is not None:
            headers["Content-Length"] = str(len(body))
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(self.up_host, self.up_port, timeout=self.timeout)
        try:
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            out_headers = {k: v for k, v in resp.getheaders() if k.lower() not in _HOP}
            if chat and "text/event-stream" in (resp.getheader("content-type") or ""):
                answer = self._stream(h, resp, out_headers)
            else:
                data = resp.read()
                self._reply(h, resp.status, out_headers, data)
                answer = _json_or_none(data) if chat else None
            status = resp.status
        except (OSError, http.client.HTTPException) as exc:
            with self._lock:
                meter.errors += 1
            self._reply(h, 502, {"content-type": "application/json"},
                        json.dumps({"error": {"message": f"bench proxy: upstream failed: {exc}"}}).encode())
            self._log({"tag": tag, "error": str(exc)})
            return
        finally:
            conn.close()
        if chat:
            self._account(meter, status, answer, time.monotonic() - t0)
            self._log({"tag": tag, "status": status, "seconds": round(time.monotonic() - t0, 2),
                       "request": request, "answer": answer})

    def _stream(self, h: BaseHTTPRequestHandler, resp: http.client.HTTPResponse,
                headers: dict[str, str]) -> dict[str, Any]:
        """Forward an SSE answer chunk by chunk; return it folded into one
        non-streamed-like answer (content, tool calls, usage, finish reason)."""
        h.send_response(resp.status)
        for k, v in headers.items():
            h.send_header(k, v)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        content: list[str] = []
        tool_calls: dict[int, dict[str, str]] = {}
        usage: dict[str, Any] | None = None
        finish = None
        client_gone = False
        for raw in iter(resp.readline, b""):
            if not client_gone:
                try:
                    h.wfile.write(b"%x\r\n%s\r\n" % (len(raw), raw))
                    h.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    client_gone = True  # keep reading: the usage still counts
            line = raw.strip()
            if not line.startswith(b"data:") or line == b"data: [DONE]":
                continue
            chunk = _json_or_none(line[5:])
            if not chunk:
                continue
            usage = chunk.get("usage") or usage
            for choice in chunk.get("choices") or []:
                finish = choice.get("finish_reason") or finish
                delta = choice.get("delta") or {}
                if delta.get("content"):
                    content.append(delta["content"])
                for tc in delta.get("tool_calls") or []:
                    slot = tool_calls.setdefault(tc.get("index", 0), {"name": "", "arguments": ""})
                    fn = tc.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["arguments"] += fn.get("arguments") or ""
        if not client_gone:
            try:
                h.wfile.write(b"0\r\n\r\n")
                h.wfile.flush()
            except (BrokenPipeError, ConnectionResetError):
                pass
        h.close_connection = client_gone
        return {"choices": [{"finish_reason": finish, "message": {
            "content": "".join(content), "tool_calls": list(tool_calls.values())}}], "usage": usage or {}}

    def _account(self, meter: Meter, status: int, answer: dict[str, Any] | None, seconds: float) -> None:
        with self._lock:
            meter.model_seconds += seconds
            if status != 200 or not answer:
                meter.errors += 1
                return
            usage = answer.get("usage") or {}
            meter.prompt_tokens += int(usage.get("prompt_tokens") or 0)
            meter.completion_tokens += int(usage.get("completion_tokens") or 0)
            for choice in answer.get("choices") or []:
                reason = str(choice.get("finish_reason"))
                meter.finish_reasons[reason] = meter.finish_reasons.get(reason, 0) + 1
                meter.native_tool_calls += len((choice.get("message") or {}).get("tool_calls") or [])

    @staticmethod
    def _reply(h: BaseHTTPRequestHandler, status: int, headers: dict[str, str], data: bytes) -> None:
        try:
            h.send_response(status)
            for k, v in headers.items():
                h.send_header(k, v)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True  # the client gave up waiting; the call is still counted


def _json_or_none(data: bytes) -> Any:
    try:
        return json.loads(data)
    except ValueError:
        return None
