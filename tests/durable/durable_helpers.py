"""Helpers for the durability fault tests (imported by name: tests have no packages).

The kills are synchronised with what the daemon itself does, seen from the
outside: a request reaching one of our loopback servers (a page, a webhook
receiver, the SMTP server, the fake LLM) that we hold open, or an event seen
through ``run.watch``. Nothing here reaches into the daemon's process.

- ``PlanLLM``: the fake LLM, answering from the conversation itself: the goal's
  objective carries ``PLAN=<json list of [tool, args]>``; a request holding n
  tool messages gets the n-th call (id ``call_<n+1>``), then ``text("done")``.
  Stateless, so a run resumed after a kill gets the same answers.
  ``gate(n)`` holds the (n+1)-th model call of any run until released.
- ``Web``: pages (``GET /page/<name>``) and webhook receivers (``POST
  /hook/<name>``) on 127.0.0.1, counting hits, recording ``webhook-id``s,
  with gates that hold a request until released.
- ``Smtp``: an aiosmtpd Controller on loopback recording Message-IDs, with a gate.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import sqlite3
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agentd.testing.fakellm import Call, FakeLLM, TextTurn, ToolTurn
from watch_support import read_until

WAIT = 20.0  # every blocking wait in these tests is bounded


class Gate:
    """Holds matching requests until ``release()``; ``arrived`` is set by the first."""

    def __init__(self, times: int = 1) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()
        self.times = times  # how many requests it holds before letting the rest through

    def hold(self) -> None:
        if self.times <= 0:
            return
        self.times -= 1
        self.arrived.set()
        self.released.wait(120)

    def wait_arrived(self, timeout: float = WAIT) -> None:
        assert self.arrived.wait(timeout), "the daemon never made the request we wait for"

    def release(self) -> None:
        self.released.set()


# ---------------------------------------------------------------- the LLM

PLAN_RE = re.compile(r"PLAN=(\[.*?\])ENDPLAN", re.S)
RUN_RE = re.compile(r"\(Run (\w+), triggered by")


class PlanLLM(FakeLLM):
    def __init__(self, *, latency: tuple[float, float] = (0.0, 0.0)) -> None:
        super().__init__()
        self.jitter = latency
        self.gates: dict[int, Gate] = {}
        self.chat_requests: list[dict[str, Any]] = []
        self.calls = Counter()  # (run_id, n) -> model calls answered

    def gate(self, n: int) -> Gate:
        g = self.gates[n] = Gate()
        return g

    def release_all(self) -> None:
        for g in self.gates.values():
            g.release()

    def _next_turn(self, body: dict[str, Any]) -> Any:
        messages = body.get("messages") or []
        system = next((m.get("content") or "" for m in messages if m.get("role") == "system"), "")
        user = next((m.get("content") or "" for m in messages if m.get("role") == "user"), "")
        found = PLAN_RE.search(system)
        if not found:  # the daemon's own validation probes, or a goal without a plan
            return TextTurn("done")
        plan = json.loads(found.group(1))
        n = sum(1 for m in messages if m.get("role") == "tool")
        run = RUN_RE.search(user)
        with self._lock:
            self.chat_requests.append(body)
            self.calls[(run.group(1) if run else "?", n)] += 1
        if self.jitter[1]:
            time.sleep(random.uniform(*self.jitter))
        gate = self.gates.get(n)
        if gate is not None:
            gate.hold()
        if n < len(plan):
            name, args = plan[n]
            args_text = json.dumps(args).replace("{run}", run.group(1) if run else "?")  # per-run URLs, names
            return ToolTurn((Call(name, args_text, f"call_{n + 1}"),))
        if not plan:  # nothing to do: end with finish (prose before any work is not a final answer)
            return ToolTurn((Call("finish", '{"summary": "nothing to do"}', "call_finish"),))
        return TextTurn(f"done after {n} tool calls")


def plan_objective(plan: list[tuple[str, dict]], text: str = "durability test") -> str:
    return f"{text}. PLAN={json.dumps(plan)}ENDPLAN"


# ---------------------------------------------------------------- web: pages and webhook receivers


@dataclass
class Web:
    server: ThreadingHTTPServer
    hits: Counter = field(default_factory=Counter)  # path -> requests received
    webhook_ids: list[str] = field(default_factory=list)  # in arrival order (complete requests)
    bodies: list[dict] = field(default_factory=list)
    gates: dict[str, Gate] = field(default_factory=dict)  # path prefix -> gate
    delay: tuple[float, float] = (0.0, 0.0)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def page(self, name: str) -> str:
        return f"{self.base}/page/{name}"

    def hook(self, name: str = "main") -> str:
        return f"{self.base}/hook/{name}"

    def gate(self, prefix: str, times: int = 1) -> Gate:
        g = self.gates[prefix] = Gate(times)
        return g

    def release_all(self) -> None:
        for g in self.gates.values():
            g.release()

    def _gate_for(self, path: str) -> Gate | None:
        for prefix, g in self.gates.items():
            if path.startswith(prefix):
                return g
        return None

    def close(self) -> None:
        self.release_all()
        self.server.shutdown()
        self.server.server_close()


def start_web() -> Web:
    web: Web

    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def _reply(self, status: int, body: bytes, ctype: str) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except OSError:
                pass  # the daemon was killed meanwhile

        def do_GET(self):
            with web.lock:
                web.hits[self.path] += 1
            if web.delay[1]:
                time.sleep(random.uniform(*web.delay))
            g = web._gate_for(self.path)
            if g is not None:
                g.hold()
            name = self.path.rsplit("/", 1)[-1]
            self._reply(200, f"<html><head><title>{name}</title></head><body><p>Content of page {name}."
                             f"</p></body></html>".encode(), "text/html; charset=utf-8")

        def do_POST(self):
            n = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(n) if n else b""
            with web.lock:
                web.hits[self.path] += 1
                web.webhook_ids.append(self.headers.get("webhook-id", ""))
                try:
                    web.bodies.append(json.loads(body))
                except ValueError:
                    web.bodies.append({})
            if web.delay[1]:
                time.sleep(random.uniform(*web.delay))
            g = web._gate_for(self.path)
            if g is not None:
                g.hold()
            self._reply(200, b'{"ok":true}', "application/json")

    server = ThreadingHTTPServer(("127.0.0.1", 0), H)
    server.daemon_threads = True
    web = Web(server)
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    return web


# ---------------------------------------------------------------- SMTP


class Smtp:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.message_ids: list[str] = []
        self.gate: Gate | None = None
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                text = envelope.content.decode(errors="replace")
                found = re.search(r"^Message-ID:\s*(\S+)", text, re.M | re.I)
                outer.message_ids.append(found.group(1) if found else "")
                if outer.gate is not None and outer.gate.times > 0:
                    await asyncio.get_running_loop().run_in_executor(None, outer.gate.hold)
                return "250 OK"

        import socket

        with socket.socket() as probe:  # a free port (aiosmtpd's ready check cannot use port 0)
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self.controller.start()

    def close(self) -> None:
        if self.gate is not None:
            self.gate.release()
        self.controller.stop()


# ---------------------------------------------------------------- config and the database


def config_toml(smtp: Smtp | None = None, *, max_concurrent: int = 4, max_recoveries: int = 3,
                grace_s: float = 10.0, extra: str = "") -> str:
    text = f"""
[daemon]
max_concurrent_runs = {max_concurrent}
shutdown_grace_s = {grace_s}

[tools]
allow_private_networks = true
delivery_attempts = 1

[runs]
max_recoveries = {max_recoveries}
"""
    if smtp is not None:
        text += f"""
[smtp]
host = "127.0.0.1"
port = {smtp.port}
security = "none"
sender = "agentd@example.test"
"""
    return text + extra


def query(db: Path, sql: str, *args: Any) -> list[sqlite3.Row]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    conn.row_factory = sqlite3.Row
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def assert_steps_contiguous(db: Path, run_id: str) -> list[sqlite3.Row]:
    """Each step_no of the run committed exactly once, numbered 1..n with no gap."""
    rows = query(db, "SELECT step_no, count(*) AS n FROM steps WHERE run_id = ? GROUP BY step_no ORDER BY step_no",
                 run_id)
    numbers = [r["step_no"] for r in rows]
    assert all(r["n"] == 1 for r in rows), f"run {run_id}: a step committed twice: {[tuple(r) for r in rows]}"
    assert numbers == list(range(1, len(numbers) + 1)), f"run {run_id}: step numbers {numbers} have a gap"
    return query(db, "SELECT * FROM steps WHERE run_id = ? ORDER BY step_no", run_id)


def run_events(daemon, run_id: str, until: Any, timeout: float = WAIT) -> list[dict]:
    """The run's events (run.watch, replayed from its start) until ``until(event)`` is true for one."""
    with daemon.client(timeout=timeout) as c:
        c.call("run.watch", {"run_id": run_id})
        msgs = read_until(c, lambda m: m.get("method") == "run.event" and until(m["params"]["event"]), timeout)
    return [m["params"]["event"] for m in msgs if m.get("method") == "run.event"]


def watch_for(daemon, run_id: str, want: Any, timeout: float = WAIT) -> dict:
    """Block until ``want(event)`` is true for an event of the run (run.watch). Returns it."""
    return next(e for e in run_events(daemon, run_id, want, timeout) if want(e))


def wait_end(daemon, run_id: str, timeout: float) -> tuple[dict, float]:
    """(run, seconds it took) once the run ended."""
    t0 = time.monotonic()
    run = daemon.wait_run(run_id, timeout=timeout)
    return run, time.monotonic() - t0
