"""Shared helpers for the provider tests: everything runs under trio.run with a deadline."""

from __future__ import annotations

import random

import pytest
import trio

from agentd.messages import Message, ToolSpec
from agentd.retry import RetryPolicy

TOOLS = [ToolSpec("get_time", "Current time", {"type": "object", "properties": {"tz": {"type": "string"}}})]
HISTORY = [Message(role="system", content="be brief"), Message(role="user", content="what time is it?")]


class SleepRecorder:
    """An injected sleep: records the requested delays, waits for nothing."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        await trio.lowlevel.checkpoint()


@pytest.fixture
def run():
    def _run(fn, *args, deadline: float = 15.0, **kwargs):
        async def main():
            with trio.fail_after(deadline):
                return await fn(*args, **kwargs)

        return trio.run(main)

    return _run


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


def fast_policy(attempts: int = 4) -> RetryPolicy:
    return RetryPolicy(max_attempts=attempts, base_delay=0.5, max_delay=8.0)


def seeded() -> random.Random:
    return random.Random(1234)


async def read_request(stream: trio.abc.ReceiveStream, buf: bytes = b"") -> tuple[bytes | None, bytes]:
    """For raw loopback servers: the next HTTP request on ``stream``, after the
    bytes ``buf`` already received. Returns (its head and Content-Length body,
    the bytes after it); the request is None when the client closed first."""
    while b"\r\n\r\n" not in buf:
        data = await stream.receive_some(65536)
        if not data:
            return None, buf
        buf += data
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        data = await stream.receive_some(65536)
        if not data:
            return None, rest
        rest += data
    return head + b"\r\n\r\n" + rest[:length], rest[length:]


# ---------------------------------------------------------------- a scripted raw HTTP server


class RawServer:
    """A loopback HTTP server on trio that answers each request with the next
    canned bytes (from one list shared by all connections). An answer of None
    closes the connection without answering (as a server does when it closes
    a kept connection just as the next request arrives); ``close_after``
    closes each connection after its first answer (an idle timeout).
    ``connections`` counts accepted connections, ``requests`` keeps each
    request, ``closed`` is set whenever a connection ended, ``client_gone``
    when the client closed one first."""

    def __init__(self, answers: list[bytes | None], close_after: bool = False) -> None:  # HOLD: see below
        self.answers = list(answers)
        self.close_after = close_after
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed = trio.Event()
        self.client_gone = trio.Event()

    async def serve(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        try:
            await self._answer(stream)
        finally:
            self.closed.set()

    async def _answer(self, stream: trio.SocketStream) -> None:
        buf = b""
        async with stream:
            while True:
                try:
                    req, buf = await read_request(stream, buf)
                except trio.BrokenResourceError:
                    req = None
                if req is None:
                    self.client_gone.set()
                    return
                self.requests.append(req)
                answer = self.answers.pop(0) if self.answers else None
                if answer is None:
                    return
                if answer == HOLD:  # no answer: wait until the client gives up
                    await _until_closed(stream)
                    self.client_gone.set()
                    return
                try:
                    await stream.send_all(answer)
                except trio.BrokenResourceError:  # the client stopped reading (a refused answer)
                    self.client_gone.set()
                    return
                if self.close_after:
                    return


HOLD = b"<hold>"  # a RawServer answer: none, the connection stays open until the client closes it


async def _until_closed(stream: trio.abc.ReceiveStream) -> None:
    try:
        while await stream.receive_some(65536):
            pass
    except trio.BrokenResourceError:
        pass


async def with_server(server: RawServer, fn):
    """Runs ``fn(base_url)`` (``http://127.0.0.1:PORT/v1``) while ``server`` listens."""
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(trio.serve_tcp, server.serve, 0)
        port = listeners[0].socket.getsockname()[1]
        try:
            return await fn(f"http://127.0.0.1:{port}/v1")
        finally:
            nursery.cancel_scope.cancel()


def completion_bytes(content: str, finish_reason: str = "stop") -> bytes:
    import msgspec

    return msgspec.json.encode({"choices": [{"message": {"content": content}, "finish_reason": finish_reason}],
                                "model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 2}})


def http_answer(body: bytes, *, chunked: bool = False, gzipped: bool = False, status: bytes = b"200 OK",
                headers: tuple[bytes, ...] = ()) -> bytes:
    import gzip

    head = [b"HTTP/1.1 " + status, b"content-type: application/json", *headers]
    if gzipped:
        body = gzip.compress(body)
        head.append(b"content-encoding: gzip")
    if chunked:
        head.append(b"transfer-encoding: chunked")
        half = len(body) // 2
        payload = b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in (body[:half], body[half:])) + b"0\r\n\r\n"
    else:
        head.append(b"content-length: %d" % len(body))
        payload = body
    return b"\r\n".join(head) + b"\r\n\r\n" + payload
