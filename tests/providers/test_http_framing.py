"""The provider's HTTP/1.1 client (``agentd.providers._http``) against raw
loopback servers that write exact bytes: request heads, answer heads, body
framing (chunked, Content-Length, until close), 1xx, keep-alive decisions and
malformed answers. Answers split across reads are sent one byte at a time,
each byte only after the client has received the previous one."""

from __future__ import annotations

from functools import partial

import httpx
import pytest
import trio

from agentd.providers import _http
from provider_helpers import read_request

OK = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


class Peer:
    """The server's side of one connection: reads whole requests, writes bytes."""

    def __init__(self, server: Server, stream: trio.SocketStream) -> None:
        self.server = server
        self.stream = stream
        self.buf = b""

    async def send(self, data: bytes) -> None:
        self.server.sent += len(data)
        await self.stream.send_all(data)

    async def request(self) -> bytes | None:
        """The next request (head and Content-Length body), None when the client closed."""
        req, self.buf = await read_request(self.stream, self.buf)
        return req

    async def eof(self) -> bool:
        """Whether the client closed the connection (waits for its next bytes or EOF);
        also appended to ``server.eofs``, and ``server.eof_seen`` is set."""
        closed = await self.stream.receive_some(65536) == b""
        self.server.eofs.append(closed)
        self.server.eof_seen.set()
        return closed


class Server:
    """Runs ``handler(server, peer, index)`` for each accepted connection."""

    def __init__(self, handler) -> None:
        self.handler = handler
        self.connections = 0
        self.requests: list[bytes] = []
        self.sent = 0  # bytes written, all connections
        self.client: SpyClient | None = None
        self.eofs: list[bool] = []  # what each Peer.eof() found
        self.eof_seen = trio.Event()

    async def serve(self, stream: trio.SocketStream) -> None:
        index = self.connections
        self.connections += 1
        try:
            await self.handler(self, Peer(self, stream), index)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await stream.aclose()

    async def drip(self, peer: Peer, data: bytes) -> None:
        """Sends ``data`` one byte at a time, each after the client received all that was sent before."""
        client = self.client
        assert client is not None
        for i in range(len(data)):
            await client.wait_received(self.sent)
            await peer.send(data[i:i + 1])
        await client.wait_received(self.sent)


class SpyClient(_http.HTTPClient):
    """Records what each read of the socket returned."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.pieces: list[bytes] = []
        self.received = 0
        self._progress = trio.Event()

    async def _recv(self, conn):
        data = await super()._recv(conn)
        self.pieces.append(data)
        self.received += len(data)
        self._progress.set()
        self._progress = trio.Event()
        return data

    async def wait_received(self, n: int) -> None:
        """Until the client's reads have returned ``n`` bytes in all."""
        while self.received < n:
            await self._progress.wait()


def canned(*answers: bytes, close: bool = False):
    """A handler answering each request (on any connection) with the next answer;
    ``close``: close the connection after each answer."""
    queue = list(answers)

    async def handler(server: Server, peer: Peer, index: int) -> None:
        while queue:
            req = await peer.request()
            if req is None:
                return
            server.requests.append(req)
            await peer.send(queue.pop(0))
            if close:
                return

    return handler


def run_with(handler, fn, *, timeout: float = 5, headers: dict | None = None):
    server = Server(handler)

    async def main():
        with trio.fail_after(10):
            async with trio.open_nursery() as nursery:
                listeners = await nursery.start(partial(trio.serve_tcp, host="127.0.0.1"), server.serve, 0)
                port = listeners[0].socket.getsockname()[1]
                client = SpyClient(f"http://127.0.0.1:{port}/v1", headers or {"Authorization": "Bearer k"},
                                   timeout=timeout, max_keepalive=4)
                server.client = client
                try:
                    return await fn(client, server)
                finally:
                    await client.aclose()
                    nursery.cancel_scope.cancel()

    return trio.run(main), server


async def get(client: SpyClient, target: bytes = b"/v1/x"):
    return await client.request(b"GET", target)


async def body_pieces(ex) -> list[bytes]:
    pieces = []
    try:
        while (piece := await ex.read()) is not None:
            pieces.append(piece)
    finally:
        await ex.aclose()
    return pieces


# ---------------------------------------------------------------- requests


def test_request_head_bytes_are_exact_and_prebuilt_headers_come_first():
    async def calls(client, server):
        port = client.port
        await client.request(b"POST", b"/v1/chat?x=1", b'{"a":1}', ((b"accept", b"application/json"),))
        await client.request(b"GET", b"/v1/models")
        await client.request(b"POST", b"/v1/e", b"")
        return port

    port, server = run_with(canned(OK, OK, OK), calls, headers={"Authorization": "Bearer k", "X-Title": "agentd"})
    host = b"host: 127.0.0.1:%d\r\nauthorization: Bearer k\r\nx-title: agentd\r\n" % port
    assert server.requests == [
        b"POST /v1/chat?x=1 HTTP/1.1\r\n" + host + b"accept: application/json\r\ncontent-length: 7\r\n\r\n"
        b'{"a":1}',
        b"GET /v1/models HTTP/1.1\r\n" + host + b"\r\n",
        b"POST /v1/e HTTP/1.1\r\n" + host + b"content-length: 0\r\n\r\n",
    ]
    assert server.connections == 1


@pytest.mark.parametrize(("method", "target", "headers", "match"), [
    (b"GET", b"/x\r\nevil: 1", (), "invalid request target"),
    (b"GET", b"/a b", (), "invalid request target"),
    (b"G ET", b"/x", (), "invalid method"),
    (b"GET", b"/x", ((b"x-a", b"1\r\nevil: 1"),), "invalid value for header x-a"),
    (b"GET", b"/x", ((b"x a", b"1"),), "invalid header name"),
    (b"GET", b"/x", ((b"Content-Length", b"5"),), "sets content-length itself"),
    (b"GET", b"/x", ((b"Host", b"other"),), "sets host itself"),
])
def test_invalid_request_parts_raise_before_anything_is_sent(method, target, headers, match):
    async def call(client, server):
        with pytest.raises(ValueError, match=match):
            await client.request(method, target, None, headers)
        return server.connections

    connections, _ = run_with(canned(), call)
    assert connections == 0


def test_a_request_header_connection_close_is_honoured():
    async def calls(client, server):
        await get(client)
        after = client.idle_connections
        await get(client)
        return after

    idle, server = run_with(canned(OK, OK), calls, headers={"Connection": "close"})
    assert idle == 0 and server.connections == 2


# ---------------------------------------------------------------- answers: heads


def test_headers_are_lowercased_stripped_in_order_with_duplicates_and_bare_lf_is_accepted():
    answers = (b"HTTP/1.1 201 Created\r\nContent-Type:  application/json \r\nX-A:1\r\nx-a:\t2\t\r\n"
               b"Retry-After: 3\r\nContent-Length: 2\r\n\r\n{}",
               b"HTTP/1.1 200\nX-B: b\ncontent-length: 1\n\nz")

    async def calls(client, server):
        return await get(client), await get(client)

    (first, second), server = run_with(canned(*answers), calls)
    assert first == (201, [(b"content-type", b"application/json"), (b"x-a", b"1"), (b"x-a", b"2"),
                           (b"retry-after", b"3"), (b"content-length", b"2")], b"{}")
    assert second == (200, [(b"x-b", b"b"), (b"content-length", b"1")], b"z")
    assert server.connections == 1


def test_a_head_split_byte_by_byte_across_reads():
    answer = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"

    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await server.drip(peer, answer)
        await peer.eof()

    async def call(client, server):
        return await get(client), list(client.pieces)

    (result, pieces), _ = run_with(handler, call)
    assert result == (200, [(b"content-type", b"text/plain"), (b"content-length", b"5")], b"hello")
    assert pieces == [answer[i:i + 1] for i in range(len(answer))]


def test_1xx_answers_before_the_answer_are_skipped():
    answer = (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    async def calls(client, server):
        return await get(client), await get(client)

    (first, second), server = run_with(canned(answer, OK), calls)
    assert first == second == (200, [(b"content-length", b"2")], b"ok")
    assert server.connections == 1


# ---------------------------------------------------------------- answers: bodies


def test_chunked_with_extensions_and_trailers_then_the_connection_is_reused():
    answer = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5;name=value\r\nhello\r\n6 ; a=\"b c\";d\r\n world\r\nA\r\n, chunked!\r\n"
              b"0;last\r\nX-Trailer: 1\r\nOther: two\r\n\r\n")

    async def calls(client, server):
        first = await get(client)
        return first, client.idle_connections, await get(client)

    (first, idle, second), server = run_with(canned(answer, OK), calls)
    assert first == (200, [(b"transfer-encoding", b"chunked")], b"hello world, chunked!")
    assert idle == 1 and second[2] == b"ok" and server.connections == 1


def test_a_chunked_body_split_byte_by_byte_is_streamed_as_it_arrives():
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"3;x=1\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n"

    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(head)
        await server.drip(peer, body)
        server.requests.append(await peer.request())
        await peer.send(OK)
        await peer.eof()

    async def calls(client, server):
        ex = await client.send(b"GET", b"/v1/sse")
        pieces = await body_pieces(ex)
        return pieces, client.idle_connections, await get(client)

    (pieces, idle, second), server = run_with(handler, calls)
    assert pieces == [b"a", b"b", b"c", b"d", b"e"]  # each byte of data as soon as it arrived
    assert idle == 1 and second[2] == b"ok" and server.connections == 1


def test_a_content_length_body_split_across_reads_is_streamed_as_it_arrives():
    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab")
        await server.drip(peer, b"cdef")
        server.requests.append(await peer.request())
        await peer.send(OK)
        await peer.eof()

    async def calls(client, server):
        ex = await client.send(b"GET", b"/v1/x")
        return await body_pieces(ex), await get(client)

    (pieces, second), server = run_with(handler, calls)
    assert pieces == [b"ab", b"c", b"d", b"e", b"f"]
    assert second[2] == b"ok" and server.connections == 1


def test_a_body_without_length_runs_until_the_server_closes_and_is_not_reused():
    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst ")
        await server.drip(peer, b"part")

    async def calls(client, server):
        first = await get(client)
        return first, client.idle_connections, await get(client)

    (first, idle, second), server = run_with(handler, calls)
    assert first == (200, [(b"content-type", b"text/plain")], b"first part")
    assert idle == 0 and second[2] == b"first part" and server.connections == 2


@pytest.mark.parametrize("status", [b"204 No Content", b"304 Not Modified"])
def test_204_and_304_have_no_body_even_with_a_content_length(status):
    answer = b"HTTP/1.1 " + status + b"\r\nContent-Length: 10\r\n\r\n"

    async def calls(client, server):
        return await get(client), await get(client)

    (first, second), server = run_with(canned(answer, OK), calls)
    assert first == (int(status[:3]), [(b"content-length", b"10")], b"")
    assert second[2] == b"ok" and server.connections == 1


def test_a_head_request_has_no_body():
    async def calls(client, server):
        return await client.request(b"HEAD", b"/v1/x"), await get(client)

    (first, second), server = run_with(canned(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", OK), calls)
    assert first == (200, [(b"content-length", b"10")], b"")
    assert second[2] == b"ok" and server.connections == 1


# ---------------------------------------------------------------- keep-alive


def test_keep_alive_one_socket_serves_both_requests():
    seen: list[int] = []

    async def handler(server, peer, index):
        for _ in range(2):
            server.requests.append(await peer.request())
            seen.append(index)
            await peer.send(OK)
        await peer.eof()

    async def calls(client, server):
        first = await get(client)
        return first, client.idle_connections, await get(client), client.idle_connections

    (first, idle, second, idle_after), server = run_with(handler, calls)
    assert first == second == (200, [(b"content-length", b"2")], b"ok")
    assert idle == idle_after == 1 and seen == [0, 0] and server.connections == 1


@pytest.mark.parametrize("answer", [
    b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive, Close\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA",  # bytes beyond the answer
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200",
    b"HTTP/1.1 204 No Content\r\n\r\nJUNK",
], ids=["http-1.0", "connection-close", "extra-bytes", "extra-after-chunked", "extra-after-204"])
def test_answers_that_forbid_reuse_close_the_connection(answer):
    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(answer)
        await peer.eof()

    async def calls(client, server):
        first = await get(client)
        idle = client.idle_connections
        with trio.fail_after(5):
            await server.eof_seen.wait()
        return first, idle

    (first, idle), server = run_with(handler, calls)
    assert first[2] in (b"ok", b"")
    assert idle == 0 and server.eofs == [True]


def test_an_answer_already_buffered_to_its_end_returns_to_the_pool_unread():
    async def calls(client, server):
        ex = await client.send(b"GET", b"/v1/x")  # the whole answer comes in one write
        await ex.aclose()
        return client.idle_connections, await get(client)

    (idle, second), server = run_with(canned(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", OK), calls)
    assert idle == 1 and second[2] == b"ok" and server.connections == 1


def test_an_answer_closed_before_its_end_closes_the_connection():
    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhe")
        await peer.eof()

    async def calls(client, server):
        ex = await client.send(b"GET", b"/v1/x")
        await ex.aclose()
        with trio.fail_after(5):
            await server.eof_seen.wait()
        return client.idle_connections

    idle, server = run_with(handler, calls)
    assert idle == 0 and server.eofs == [True]


# ---------------------------------------------------------------- malformed answers and errors


@pytest.mark.parametrize(("answer", "match"), [
    (b"HTTP/1.1 20 OK\r\n\r\n", "malformed status line"),
    (b"HTTP/2 200 OK\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1 200OK\r\n\r\n", "malformed status line"),
    (b"ICY 200 OK\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1 099 Low\r\n\r\n", "bad status code 099"),
    (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n", "unexpected 101"),
    (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header line without a colon"),
    (b"HTTP/1.1 200 OK\r\nContent-Length : 2\r\n\r\nok", "whitespace before the colon"),
    (b"HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 2\r\n\r\nok", "obsolete line folding"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\n\r\n", "invalid header line"),
    (b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n", "invalid header line"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2a\r\n\r\nok", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: -2\r\n\r\nok", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: \r\n\r\nok", "bad Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", "conflicting Content-Length"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok", "conflicting Content-Length"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "unsupported Transfer-Encoding"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\nok\r\n0\r\n\r\n", "bad chunk size line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokX\r\n0\r\n\r\n", "not followed by CRLF"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nbad trailer\r\n\r\n", "bad trailer line"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;" + b"x" * 9000, "chunk size line too long"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " + b"x" * 9000, "trailer line too long"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n" + b"X: 1234567\r\n" * 6000 + b"\r\n",
     "trailers larger than 64 KiB"),
])
def test_malformed_answers_are_remote_protocol_errors(answer, match):
    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(answer)
        await peer.eof()

    async def call(client, server):
        with pytest.raises(httpx.RemoteProtocolError, match=match):
            await get(client)
        return client.idle_connections

    idle, server = run_with(handler, call)
    assert idle == 0 and server.connections == 1


def test_equal_repeated_content_lengths_are_accepted():
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\ncontent-length: 2, 2\r\n\r\nok"

    async def call(client, server):
        return await get(client)

    (status, _, body), _ = run_with(canned(answer), call)
    assert (status, body) == (200, b"ok")


@pytest.mark.parametrize("split", [False, True])
def test_a_head_longer_than_64_kib_is_refused(split):
    answer = b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * (80 * 1024) + b"\r\nContent-Length: 2\r\n\r\nok"

    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        if split:  # in pieces, and never the end of the head: the limit, not the end, stops the client
            for i in range(0, 72 * 1024, 4096):
                await peer.send(answer[i:i + 4096])
                await trio.sleep(0.001)
        else:
            await peer.send(answer)
        await peer.eof()

    async def call(client, server):
        with pytest.raises(httpx.RemoteProtocolError, match="head is larger than 64 KiB"):
            await get(client)

    run_with(handler, call)


def test_a_head_just_under_the_limit_is_accepted():
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-Long: "
    answer = head + b"a" * (64 * 1024 - len(head) - 4) + b"\r\n\r\nok"

    async def call(client, server):
        return (await get(client))[2]

    body, _ = run_with(canned(answer), call)
    assert body == b"ok"


@pytest.mark.parametrize(("sent", "match"), [
    (b"", "the server closed the connection without answering"),
    (b"HTTP/1.1 200 OK\r\nContent-", "in the middle of the answer's head"),
    (b"HTTP/1.1 100 Continue\r\n\r\n", "in the middle of the answer's head"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello", "closed the connection before the end of the answer"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "before the end of the answer"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "before the end of the answer"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: 1\r\n", "before the end of the answer"),
])
def test_the_server_closing_early_is_a_remote_protocol_error_with_its_reason(sent, match):
    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(sent)  # then closes

    async def call(client, server):
        with pytest.raises(httpx.RemoteProtocolError, match=match) as err:
            await get(client)
        return str(err.value), client.idle_connections

    (message, idle), _ = run_with(handler, call)
    assert idle == 0
    if not sent:
        assert message == "the server closed the connection without answering"


def test_no_answer_within_the_timeout_is_a_read_timeout_and_the_connection_is_closed():
    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.eof()

    async def call(client, server):
        with pytest.raises(httpx.ReadTimeout, match="within 0.2s"):
            await get(client)
        with trio.fail_after(5):
            await server.eof_seen.wait()
        return client.idle_connections

    idle, server = run_with(handler, call, timeout=0.2)
    assert idle == 0 and server.eofs == [True]


def test_a_gzip_body_split_byte_by_byte_decodes_as_it_arrives():
    import gzip

    data = b"streamed text " * 20
    packed = gzip.compress(data)

    async def handler(server, peer, index):
        server.requests.append(await peer.request())
        await peer.send(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: %d\r\n\r\n"
                                   % len(packed))
        await server.drip(peer, packed)
        await peer.eof()

    async def call(client, server):
        ex = await client.send(b"GET", b"/v1/x")
        return await body_pieces(ex)

    pieces, _ = run_with(handler, call)
    assert b"".join(pieces) == data and len(pieces) > 1 and b"" not in pieces
