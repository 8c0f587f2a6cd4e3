"""http_client: client CPU per request of the provider's HTTP client
(``agentd.providers._http``) against a local keep-alive server, side by side
with httpx and a raw trio socket floor, under trio.

The server is a small threaded raw-socket server in its own process (so its
CPU is not counted), answering every request with the same ~6 KB JSON body:
``/length`` with a Content-Length, ``/chunked`` chunked in 64 pieces (in one
write). Each client sends the same ~2 KB POST body (a chat request, with the
provider's headers) on one keep-alive connection, one request at a time.
Per repeat the clients run interleaved (the order rotates), each a batch of
``--requests`` after a warm-up; CPU is this process's (``time.process_time``)
over the batch / requests, wall likewise. Ratios are taken per repeat.

``--old FILE`` adds another version of ``agentd/providers/_http.py`` (e.g.
``git show <rev>:agentd/providers/_http.py > /tmp/old_http.py``), loaded as a
module of ``agentd.providers``; its client class is ``HTTPClient`` or
``H11Client``.

``python -m bench.http_client [--requests 2000] [--repeats 9] [--old /tmp/old_http.py]``
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import socket
import sys
import threading
import time
from typing import Any, Callable

from ._common import FakeProc, Stat, base_parser, emit_json, header, line, sample_request

_BODY_CHUNKS = 64
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"


def answer_body() -> bytes:
    """A ~6 KB chat completion, like a model's answer with a tool call and some text."""
    content = ("The benchmark answer goes on for a while so that the body is about six kilobytes. " * 80)[:5900]
    return json.dumps({
        "id": "chatcmpl-bench", "object": "chat.completion", "created": 1700000000, "model": "gpt-4o",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
            "role": "assistant", "content": content,
            "tool_calls": [{"id": "call_1", "type": "function",
                            "function": {"name": "recall", "arguments": '{"query": "bench"}'}}]}}],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 150, "total_tokens": 1350},
    }, separators=(",", ":")).encode()


def answers() -> dict[bytes, bytes]:
    body = answer_body()
    head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ndate: Sat, 21 Nov 2026 21:38:00 GMT\r\n"
            b"server: bench\r\nx-request-id: req_0123456789abcdef\r\n")
    step = -(-len(body) // _BODY_CHUNKS)
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[i:i + step] for i in range(0, len(body), step)))
    return {b"/length": head + b"content-length: %d\r\n\r\n" % len(body) + body,
            b"/chunked": head + b"transfer-encoding: chunked\r\n\r\n" + chunked + b"0\r\n\r\n"}


# ---------------------------------------------------------------- the server (its own process)


def _serve_connection(conn: socket.socket, canned: dict[bytes, bytes]) -> None:
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    with conn:
        while True:
            while (i := buf.find(b"\r\n\r\n")) < 0:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            head, buf = buf[:i], buf[i + 4:]
            length = 0
            for ln in head.split(b"\r\n")[1:]:
                name, _, value = ln.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
            buf = buf[length:]
            target = head.split(b" ", 2)[1]  # /v1/length -> /length
            conn.sendall(canned.get(b"/" + target.rsplit(b"/", 1)[-1], _NOT_FOUND))


def serve() -> None:
    """``python -m bench.http_client --serve``: prints ``PORT <n>``, serves until stdin closes."""
    canned = answers()
    listener = socket.create_server(("127.0.0.1", 0))
    print(f"PORT {listener.getsockname()[1]}", flush=True)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=_serve_connection, args=(conn, canned), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    sys.stdin.read()


class ServerProc(FakeProc):
    """This module's ``--serve`` in a child process (same PORT line and stdin
    protocol as the fake LLM's), so its CPU is not the client's."""

    def __init__(self) -> None:
        super().__init__()
        self.args = [sys.executable, "-m", "bench.http_client", "--serve"]


# ---------------------------------------------------------------- the clients

HEADERS = {"Authorization": "Bearer sk-bench", "Content-Type": "application/json", "Accept-Encoding": "identity",
           "User-Agent": "agentd/bench"}
ACCEPT = ((b"accept", b"application/json"),)


def load_module(path: str) -> Any:
    name = "agentd.providers._http_compared"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def provider_client(module: Any) -> Callable[[str, str, bytes, int], Any]:
    cls = getattr(module, "HTTPClient", None) or getattr(module, "H11Client")

    async def run(base: str, path: str, body: bytes, n: int) -> int:
        client = cls(base, HEADERS, timeout=30, max_keepalive=8)
        target = client.target(path)
        size = 0
        try:
            for _ in range(n):
                status, _, data = await client.request(b"POST", target, body, ACCEPT)
                size += len(data)
        finally:
            await client.aclose()
        return size

    return run


async def httpx_run(base: str, path: str, body: bytes, n: int) -> int:
    import httpx

    headers = {**HEADERS, "Accept": "application/json"}
    size = 0
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for _ in range(n):
            r = await client.post(path, content=body, headers=headers)
            size += len(r.content)
    return size


async def floor_run(base: str, path: str, body: bytes, n: int) -> int:
    """The floor: a prebuilt request, the answer read until its known end; no parsing, no checks."""
    import trio

    host, port = base.split("//", 1)[1].split("/", 1)[0].split(":")
    request = (b"POST /v1%s HTTP/1.1\r\nhost: %s:%s\r\n%s\r\ncontent-length: %d\r\n\r\n%s" % (
        path.encode(), host.encode(), port.encode(),
        b"\r\n".join(b"%s: %s" % (k.lower().encode(), v.encode()) for k, v in HEADERS.items()), len(body), body))
    chunked = path == "/chunked"
    size = 0
    stream = await trio.open_tcp_stream(host, int(port))
    async with stream:
        for _ in range(n):
            await stream.send_all(request)
            buf = b""
            want = -1
            while True:
                buf += await stream.receive_some(65536)
                if chunked:
                    if buf.endswith(b"\r\n0\r\n\r\n"):
                        break
                    continue
                if want < 0 and (i := buf.find(b"\r\n\r\n")) >= 0:
                    j = buf.find(b"content-length: ")
                    want = i + 4 + int(buf[j + 16:buf.find(b"\r\n", j)])
                if 0 <= want <= len(buf):
                    break
            size += len(buf)
    return size


def measure(fn: Callable[[str, str, bytes, int], Any], base: str, path: str, body: bytes, n: int,
            warmup: int) -> tuple[float, float]:
    """(CPU us per request, wall us per request) of ``n`` requests after ``warmup``."""
    import trio

    async def main() -> tuple[float, float]:
        await fn(base, path, body, warmup)
        c0, t0 = time.process_time(), time.perf_counter()
        await fn(base, path, body, n)
        return (time.process_time() - c0) / n * 1e6, (time.perf_counter() - t0) / n * 1e6

    return trio.run(main)


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__, profile=False)  # nothing here runs in a daemon to profile
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--requests", type=int, default=2000, help="per client per repeat")
    p.add_argument("--repeats", type=int, default=9)
    p.add_argument("--modes", default="length,chunked")
    p.add_argument("--old", metavar="FILE", help="another version of agentd/providers/_http.py to compare")
    p.add_argument("--no-httpx", action="store_true")
    a = p.parse_args(argv)
    if a.serve:
        serve()
        return {}
    if a.smoke:
        a.requests, a.repeats = 50, 2
    from agentd.providers import _http

    clients: dict[str, Callable[[str, str, bytes, int], Any]] = {"agentd": provider_client(_http)}
    if a.old:
        clients["old"] = provider_client(load_module(a.old))
    if not a.no_httpx:
        clients["httpx"] = httpx_run
    clients["floor"] = floor_run
    body = json.dumps(sample_request(10, 5)).encode()
    header(f"http_client: client CPU per request, one keep-alive connection, {len(answer_body()) / 1e3:.1f} KB "
           f"answers, {len(body) / 1e3:.1f} KB requests, {a.requests} requests x {a.repeats} repeats")
    if a.old:
        line("old", a.old)
    res: dict = {}
    with ServerProc() as server:
        base = f"http://127.0.0.1:{server.port}/v1"
        for mode in a.modes.split(","):
            path = "/" + mode
            cpu: dict[str, list[float]] = {k: [] for k in clients}
            wall: dict[str, list[float]] = {k: [] for k in clients}
            names = list(clients)
            for rep in range(a.repeats):
                order = names[rep % len(names):] + names[:rep % len(names)]
                for name in order:
                    c, w = measure(clients[name], base, path, body, a.requests, max(20, a.requests // 10))
                    cpu[name].append(c)
                    wall[name].append(w)
            out: dict = {}
            for name in names:
                out[name] = {"cpu_us": Stat(cpu[name]), "wall_us": Stat(wall[name])}
                line(f"{mode}: {name} CPU per request", out[name]["cpu_us"].fmt(" us", 1))
                line(f"{mode}: {name} wall per request", out[name]["wall_us"].fmt(" us", 1))
            for other in names:
                if other != "agentd":
                    ratio = Stat(o / n for o, n in zip(cpu[other], cpu["agentd"]))
                    out[f"{other}_over_agentd"] = ratio
                    line(f"{mode}: CPU {other} / agentd (per repeat)", ratio.fmt("x"))
            res[mode] = out
    emit_json("http_client", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
