"""Fixtures for the tool tests: loopback HTTP servers in threads and a
ToolContext with in-memory ledger and memories (``run``, to drive a trio
coroutine, is in tool_helpers.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest

from agentd.shared.config import SmtpConfig, ToolsConfig
from agentd.testing.loopback import LoopbackServer, serve_in_thread, stop
from agentd.tools.base import EffectRecord, GoalView, MemoryRecord, ToolContext

# A handler gets (method, path, headers, body) and returns (status, headers, body).
Handler = Callable[[str, str, dict[str, str], bytes], tuple[int, dict[str, str], bytes]]


@dataclass
class Served:
    port: int
    requests: list[tuple[str, str, dict[str, str], bytes]] = field(default_factory=list)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def serve():
    """serve(handler) -> Served, a ThreadingHTTPServer on 127.0.0.1 (closed after the test)."""
    servers = []

    def start(handler: Handler) -> Served:
        served = Served(0)

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _do(self):
                n = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(n) if n else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                served.requests.append((self.command, self.path, headers, body))
                status, out_headers, out = handler(self.command, self.path, headers, body)
                self.send_response(status)
                for k, v in out_headers.items():
                    self.send_header(k, v)
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                try:
                    self.wfile.write(out)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = _do

        server = LoopbackServer(("127.0.0.1", 0), H)
        served.port = server.server_address[1]
        serve_in_thread(server)
        servers.append(server)
        return served

    yield start
    for s in servers:
        stop(s)


class MemEffects:
    """In-memory SideEffects ledger."""

    def __init__(self) -> None:
        self.records: dict[str, EffectRecord] = {}
        self.begun: list[str] = []

    async def begin(self, *, kind, target, key, summary, source="tool") -> EffectRecord:
        self.begun.append(key)
        if key in self.records:
            return self.records[key]
        rec = EffectRecord(id=f"eff{len(self.records) + 1}", idempotency_key=key, status="intent", attempts=0)
        self.records[key] = rec
        return rec

    async def finish(self, effect_id, *, status, detail, attempts) -> None:
        for key, rec in self.records.items():
            if rec.id == effect_id:
                self.records[key] = EffectRecord(rec.id, key, status, attempts, detail)
                return
        raise KeyError(effect_id)


class MemMemories:
    def __init__(self) -> None:
        self.items: list[MemoryRecord] = []

    async def remember(self, *, type, content, metadata=None) -> str:
        rec = MemoryRecord(id=f"m{len(self.items) + 1}", type=type, content=content, created_at="2024-01-01T00:00:00Z")
        self.items.append(rec)
        return rec.id

    async def recall(self, *, query, limit=5):
        words = query.lower().split()
        return [m for m in self.items if any(w in m.content.lower() for w in words)][:limit]


@pytest.fixture
def make_ctx(tmp_path: Path):
    def make(*, tools: ToolsConfig | None = None, smtp: SmtpConfig | None = None, **goal: Any) -> ToolContext:
        art = tmp_path / "artifacts"
        art.mkdir(exist_ok=True)
        return ToolContext(
            goal=GoalView(id="g1", objective="test", **goal),
            run_id="run1",
            tool_call_id="call1",
            artifacts=art,
            tools=tools or ToolsConfig(),
            smtp=smtp or SmtpConfig(),
            effects=MemEffects(),
            memories=MemMemories(),
            step_no=1,
        )
    return make
