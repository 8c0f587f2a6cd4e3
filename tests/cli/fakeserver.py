"""A tiny JSON-RPC server on a Unix socket, in a thread, for client tests.

It speaks the real framing and checks every request's params against the real
``agentd.protocol.methods`` Params structs (so a command that sends a wrong
field fails here as it would against agentd), and encodes results with msgspec
from the real Result structs. Handlers are plain functions
``(params_struct) -> result struct | dict``; raise ``Fail`` for an error.

Run as a script (``python fakeserver.py SOCKET``) it serves canned goals until
killed: the speed test times agentctl against it.
"""

from __future__ import annotations

import os
import socket
import sys
import threading
from collections.abc import Callable
from typing import Any

import msgspec

from agentd.protocol import methods as m
from agentd.protocol.envelope import ErrorObject, ErrorResponse, Request, Response

NOW = "2026-11-21T16:00:00.000Z"


class Fail(Exception):
    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code, self.message, self.data = code, message, data


def goal(id: str = "g_0123456789", **kw: Any) -> m.Goal:
    fields: dict[str, Any] = dict(id=id, objective="Collect the week's AI news and summarise it",
                                  status="active", params=m.GoalParams(), created_at=NOW, updated_at=NOW)
    fields.update(kw)
    return m.Goal(**fields)


def run(id: str = "r_0123456789", **kw: Any) -> m.Run:
    fields: dict[str, Any] = dict(id=id, goal_id="g_0123456789", status="completed", trigger="manual",
                                  created_at=NOW, step_budget=20)
    fields.update(kw)
    return m.Run(**fields)


def default_handlers() -> dict[str, Callable[[Any], Any]]:
    goals = [goal(), goal("g_abcdef", name="stars", status="paused",
                          schedules=[m.Schedule(id="s_1", cron="0 9 * * *", timezone="Europe/Berlin",
                                                active=True, created_at=NOW, next_fire=NOW)])]
    return {
        "goal.list": lambda p: m.GoalListResult(goals=goals[: p.limit], total=len(goals)),
        "goal.get": lambda p: _find(goals, p.id),
        "daemon.status": lambda p: m.DaemonStatus(
            version="0.1.0", pid=os.getpid(), started_at=NOW, uptime_s=5.0,
            paths=m.Paths(socket="s", db="d", config="c", data_dir="dd", artifacts_dir="a", state_dir="st"),
            goals={"active": 1}, runs={}),
    }


def _find(goals: list[m.Goal], prefix: str) -> m.Goal:
    hits = [g for g in goals if g.id.startswith(prefix)]
    if not hits:
        raise Fail(-32001, f"no goal with id {prefix!r}", {"kind": "not_found", "id": prefix})
    if len(hits) > 1:
        raise Fail(-32002, f"id prefix {prefix!r} matches {len(hits)} goals",
                   {"kind": "ambiguous_id", "candidates": [g.id for g in hits]})
    return hits[0]


class FakeServer:
    """Serve ``handlers`` at ``path`` until :meth:`close`. ``requests`` records
    every (method, params-as-dict) received; ``notify_before`` maps a method to
    notifications sent just before its response."""

    def __init__(self, path: str, handlers: dict[str, Callable[[Any], Any]] | None = None) -> None:
        self.path = path
        self.handlers = default_handlers() if handlers is None else handlers
        self.requests: list[tuple[str, Any]] = []
        self.notify_before: dict[str, list[dict]] = {}
        self.raw_replies: dict[str, bytes] = {}
        self._enc = msgspec.json.Encoder()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.bind(path)
        self._sock.listen(16)
        self._threads: list[threading.Thread] = []
        self._closed = False
        t = threading.Thread(target=self._accept, daemon=True)
        t.start()

    def close(self) -> None:
        self._closed = True
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._sock.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass

    def __enter__(self) -> FakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as f:
            for line in f:
                reply = self._handle(line)
                if reply is not None:
                    try:
                        conn.sendall(reply)
                    except OSError:
                        return

    def _handle(self, line: bytes) -> bytes | None:
        try:
            req = msgspec.json.decode(line, type=Request)
        except msgspec.DecodeError as exc:
            return self._enc.encode(ErrorResponse(id=None, error=ErrorObject(-32700, str(exc)))) + b"\n"
        self.requests.append((req.method, msgspec.json.decode(req.params)))
        if req.id is msgspec.UNSET:
            return None
        if req.method in self.raw_replies:
            return self.raw_replies[req.method]
        out = b""
        for note in self.notify_before.get(req.method, []):
            out += self._enc.encode(note) + b"\n"
        spec = m.METHODS.get(req.method)
        handler = self.handlers.get(req.method)
        if spec is None or handler is None:
            err = ErrorObject(-32601, f"method not found: {req.method}")
            return out + self._enc.encode(ErrorResponse(id=req.id, error=err)) + b"\n"
        try:
            params = msgspec.json.decode(req.params, type=spec.params)
        except msgspec.ValidationError as exc:
            err = ErrorObject(-32602, f"invalid params: {exc}", {"field": str(exc)})
            return out + self._enc.encode(ErrorResponse(id=req.id, error=err)) + b"\n"
        try:
            result = handler(params)
        except Fail as exc:
            err = ErrorObject(exc.code, exc.message, exc.data)
            return out + self._enc.encode(ErrorResponse(id=req.id, error=err)) + b"\n"
        return out + self._enc.encode(Response(id=req.id, result=result)) + b"\n"


if __name__ == "__main__":
    server = FakeServer(sys.argv[1])
    print("ready", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
