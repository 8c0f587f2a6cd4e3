"""A small HTTP/1.1 client for one origin: trio streams + h11, a LIFO pool of
keep-alive connections. Internal to ``providers/openai.py``.

Why not httpx/httpcore: measured under trio against the benchmark fake (one
keep-alive connection, 6 KB body), client CPU per request was ~950 us through
the openai SDK, ~550 us httpx, ~400 us httpcore's pool, ~150 us here (raw
socket floor ~90 us); and httpcore's pool scans every connection per request,
while here a request pops an idle connection or opens one, O(1).

Scope: what an OpenAI-compatible API needs. One origin (http/https), bodies of
known length, answers framed by h11 (Content-Length, chunked, close), gzip/
deflate decoded (we ask for identity); no redirects, cookies or HTTP/2. When
the environment sets a proxy for the URL, ``make_client`` hands the origin to
``httpx.AsyncClient`` (same interface). TLS trusts ``SSL_CERT_FILE``/
``SSL_CERT_DIR`` when set, else certifi's bundle, like httpx.

Timeouts are per operation, like httpx's: connect (with the TLS handshake),
each write, each read. Cancelling the caller closes the connection (the server
sees the client go away); a connection returns to the pool only after its
answer was read to the end. A kept connection idle past ``keepalive_expiry``
or readable (closed by the server) is dropped before use, as httpcore does.

Errors are httpx's types, one vocabulary for both clients: ConnectError,
ReadError, WriteError, RemoteProtocolError (``httpx.TransportError``),
Connect/Read/WriteTimeout (``httpx.TimeoutException``); ``status_error``
builds the ``httpx.HTTPStatusError`` for a non-2xx answer.
"""

from __future__ import annotations

import os
import ssl
import time
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import h11
import trio

Headers = Sequence[tuple[bytes, bytes]]

_READ_SIZE = 65536
_CONCAT_LIMIT = 256 * 1024  # bodies up to this size go out in one write with their head


def _httpx() -> Any:
    import httpx

    return httpx


def status_error(method: str, url: str, status: int, headers: Headers, body: bytes) -> Exception:
    """An ``httpx.HTTPStatusError`` for a non-2xx answer (the translated error's cause)."""
    httpx = _httpx()
    request = httpx.Request(method, url)
    response = httpx.Response(status, headers=list(headers), content=body, request=request)
    return httpx.HTTPStatusError(f"{status} {response.reason_phrase} for {method} {url}", request=request,
                                 response=response)


def proxy_for(url: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The proxy the environment sets for ``url`` (None: connect directly)."""
    parts = urlsplit(url)
    env = os.environ if environ is None else environ
    proxies = {k.lower()[:-6]: v for k, v in env.items() if k.lower().endswith("_proxy") and v}
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy:
        return None
    no_proxy = proxies.get("no")
    if no_proxy:
        host = parts.hostname or ""
        for entry in (e.strip().lower() for e in no_proxy.split(",")):
            if entry == "*" or (entry and (host == entry.lstrip(".") or host.endswith("." + entry.lstrip(".")))):
                return None
            if entry and ":" in entry and f"{host}:{parts.port}" == entry:
                return None
    return proxy


def default_ssl_context() -> ssl.SSLContext:
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if not cafile and not capath:
        try:
            import certifi

            cafile = certifi.where()
        except ImportError:  # pragma: no cover - certifi comes with httpx
            pass
    ctx = ssl.create_default_context(cafile=cafile or None, capath=capath or None)
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def make_client(base_url: str, headers: Mapping[str, str], *, timeout: float, max_keepalive: int,
                keepalive_expiry: float = 5.0) -> Any:
    """The fast client, or httpx when the environment routes ``base_url`` through a proxy."""
    if proxy_for(base_url):
        from ._httpx_client import HttpxClient

        return HttpxClient(base_url, headers, timeout=timeout, max_keepalive=max_keepalive,
                           keepalive_expiry=keepalive_expiry)
    return H11Client(base_url, headers, timeout=timeout, max_keepalive=max_keepalive,
                     keepalive_expiry=keepalive_expiry)


# ---------------------------------------------------------------- the h11 client


class _Conn:
    __slots__ = ("stream", "sock", "h11", "idle_since")

    def __init__(self, stream: trio.abc.Stream, sock: Any) -> None:
        self.stream = stream
        self.sock = sock
        self.h11 = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def close(self) -> None:
        """Synchronous (works in a cancelled scope); TLS close_notify is skipped."""
        self.sock.close()


class Exchange:
    """One answer being read: ``status``, ``headers``; body by ``read``/``read_all``; then ``aclose``."""

    __slots__ = ("_client", "_conn", "status", "headers", "_done", "_decoder")

    def __init__(self, client: H11Client, conn: _Conn, response: h11.Response) -> None:
        self._client = client
        self._conn: _Conn | None = conn
        self.status = response.status_code
        self.headers: Headers = response.headers
        self._done = False
        self._decoder: Any = None
        for name, value in response.headers:
            if name == b"content-encoding":
                coding = value.strip().lower()
                if coding in (b"gzip", b"x-gzip"):
                    self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif coding == b"deflate":
                    self._decoder = zlib.decompressobj()

    async def read(self) -> bytes | None:
        """The next piece of the body, or None at its end."""
        conn = self._conn
        if conn is None or self._done:
            return None
        h = conn.h11
        client = self._client
        try:
            while True:
                ev = h.next_event()
                if ev is h11.NEED_DATA:
                    h.receive_data(await client._recv(conn))
                    continue
                kind = type(ev)
                if kind is h11.Data:
                    data = bytes(ev.data)
                    return self._decoder.decompress(data) if self._decoder is not None else data
                if kind is h11.EndOfMessage:
                    self._done = True
                    if self._decoder is not None:
                        tail = self._decoder.flush()
                        if tail:
                            return tail
                    return None
                if kind is h11.ConnectionClosed:  # pragma: no cover - h11 raises first
                    raise _httpx().RemoteProtocolError("server closed the connection mid-answer")
        except h11.RemoteProtocolError as exc:
            self._drop()
            raise _httpx().RemoteProtocolError(str(exc)) from exc
        except zlib.error as exc:
            self._drop()
            raise _httpx().DecodingError(f"cannot decode the answer's content: {exc}") from exc
        except BaseException:
            self._drop()
            raise

    async def read_all(self) -> bytes:
        parts = []
        while (part := await self.read()) is not None:
            parts.append(part)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    async def aclose(self) -> None:
        """Back to the pool when the answer was read to its end (or is already
        buffered to its end); otherwise the connection is closed. Never waits."""
        conn, self._conn = self._conn, None
        if conn is None:
            return
        h = conn.h11
        try:
            while not self._done:
                ev = h.next_event()  # what is already buffered, no I/O
                if ev is h11.NEED_DATA or ev is h11.PAUSED:
                    break
                if type(ev) is h11.EndOfMessage:
                    self._done = True
        except h11.ProtocolError:
            pass
        if self._done and h.our_state is h11.DONE and h.their_state is h11.DONE:
            h.start_next_cycle()
            self._client._release(conn)
        else:
            conn.close()


class ClientBase:
    """What ``H11Client`` and ``_httpx_client.HttpxClient`` share: subclasses set
    ``base_path`` and ``query`` (from the base URL) and implement ``send``."""

    base_path: str
    query: str

    async def send(self, method: bytes, target: bytes, body: bytes | None = None,
                   headers: Headers = ()) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def target(self, path: str) -> bytes:
        """The request target for ``path`` under the base URL (prebuilt once by callers)."""
        t = self.base_path + path
        return (f"{t}?{self.query}" if self.query else t).encode("ascii")

    async def request(self, method: bytes, target: bytes, body: bytes | None = None,
                      headers: Headers = ()) -> tuple[int, Headers, bytes]:
        """Status, headers and the whole body."""
        ex = await self.send(method, target, body, headers)
        try:
            data = await ex.read_all()
        finally:
            await ex.aclose()
        return ex.status, ex.headers, data


class H11Client(ClientBase):
    """Requests to one origin (``base_url``'s scheme, host and port)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, timeout: float, max_keepalive: int,
                 keepalive_expiry: float = 5.0, ssl_context: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {base_url!r}")
        self.base_url = base_url.rstrip("/")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.base_path = parts.path.rstrip("/")
        self.query = parts.query
        self.timeout = timeout
        self.max_keepalive = max_keepalive
        self.keepalive_expiry = keepalive_expiry
        self._ssl = ssl_context
        host = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None:
            host = f"{host}:{parts.port}"
        self._headers = [(b"host", host.encode("ascii"))] + [
            (k.lower().encode("ascii"), v.encode("latin-1")) for k, v in headers.items()]
        self._idle: deque[_Conn] = deque()
        self._closed = False

    # -- the pool
    def _acquire(self) -> _Conn | None:
        idle = self._idle
        if not idle:
            return None
        now = time.monotonic()
        while idle:
            conn = idle.pop()
            if now - conn.idle_since > self.keepalive_expiry or conn.sock.is_readable():
                conn.close()  # expired, or the server closed it (or sent something unasked)
                continue
            return conn
        return None

    def _release(self, conn: _Conn) -> None:
        idle = self._idle
        if self._closed or len(idle) >= self.max_keepalive:
            conn.close()
            return
        now = time.monotonic()
        conn.idle_since = now
        idle.append(conn)
        while idle and now - idle[0].idle_since > self.keepalive_expiry:
            idle.popleft().close()

    @property
    def idle_connections(self) -> int:
        return len(self._idle)

    async def aclose(self) -> None:
        """Closes the kept connections (synchronously: safe in a cancelled scope)."""
        self._closed = True
        while self._idle:
            self._idle.pop().close()

    async def _connect(self) -> _Conn:
        sock_stream = None
        try:
            with trio.fail_after(self.timeout):
                sock_stream = await trio.open_tcp_stream(self.host, self.port)
                stream: trio.abc.Stream = sock_stream
                if self.tls:
                    if self._ssl is None:
                        self._ssl = default_ssl_context()
                    stream = trio.SSLStream(sock_stream, self._ssl, server_hostname=self.host,
                                            https_compatible=True)
                    await stream.do_handshake()
        except trio.TooSlowError as exc:
            if sock_stream is not None:
                sock_stream.socket.close()
            raise _httpx().ConnectTimeout(f"connecting to {self.host}:{self.port} timed out") from exc
        except (OSError, trio.BrokenResourceError) as exc:
            if sock_stream is not None:
                sock_stream.socket.close()
            raise _httpx().ConnectError(str(exc.__cause__ or exc) or type(exc).__name__) from exc
        except BaseException:
            if sock_stream is not None:
                sock_stream.socket.close()
            raise
        return _Conn(stream, sock_stream.socket)

    async def _recv(self, conn: _Conn) -> bytes:
        with trio.move_on_after(self.timeout):
            try:
                return await conn.stream.receive_some(_READ_SIZE)
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise _httpx().ReadError(str(exc.__cause__ or exc) or type(exc).__name__) from exc
        raise _httpx().ReadTimeout(f"no answer from {self.host}:{self.port} within {self.timeout:g}s")

    async def _send_all(self, conn: _Conn, data: bytes) -> None:
        with trio.move_on_after(self.timeout):
            try:
                await conn.stream.send_all(data)
                return
            except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
                raise _httpx().WriteError(str(exc.__cause__ or exc) or type(exc).__name__) from exc
        raise _httpx().WriteTimeout(f"sending to {self.host}:{self.port} timed out after {self.timeout:g}s")

    # -- requests
    async def send(self, method: bytes, target: bytes, body: bytes | None = None,
                   headers: Headers = ()) -> Exchange:
        """Sends a request and reads the answer's head; the caller reads the body and ``aclose``s."""
        hdrs = self._headers + list(headers)
        if body is not None:
            hdrs.append((b"content-length", b"%d" % len(body)))
        request = h11.Request(method=method, target=target, headers=hdrs)
        conn = self._acquire() or await self._connect()
        try:
            return await self._exchange(conn, request, body)
        except BaseException:
            conn.close()
            raise

    async def _exchange(self, conn: _Conn, request: h11.Request, body: bytes | None) -> Exchange:
        h = conn.h11
        got = False
        try:
            head = h.send(request)
            if body:
                h.send(h11.Data(data=body))
            h.send(h11.EndOfMessage())
            if body and len(body) <= _CONCAT_LIMIT:
                await self._send_all(conn, head + body)
            else:
                await self._send_all(conn, head)
                if body:
                    await self._send_all(conn, body)
            while True:
                ev = h.next_event()
                if ev is h11.NEED_DATA:
                    data = await self._recv(conn)
                    got = got or bool(data)
                    h.receive_data(data)
                    continue
                kind = type(ev)
                if kind is h11.Response:
                    return Exchange(self, conn, ev)
                if kind is not h11.InformationalResponse:  # pragma: no cover - h11 raises first
                    raise h11.RemoteProtocolError(f"unexpected {kind.__name__} before the answer")
        except h11.RemoteProtocolError as exc:
            msg = str(exc) if got else "the server closed the connection without answering"
            raise _httpx().RemoteProtocolError(msg) from exc
