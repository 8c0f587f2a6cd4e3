"""A small HTTP/1.1 client for one origin: trio streams, our own HTTP/1.1
framing, a LIFO pool of keep-alive connections. Internal to ``providers/openai.py``.

Why not httpx/httpcore: client CPU per request under trio, one keep-alive
connection, ~6 KB answers: ~950 us through the openai SDK and ~400 us through
httpcore's pool (measured earlier), ~600 us httpx, ~95 us here, ~60 us for a
raw trio socket loop that parses nothing (``python -m bench.http_client``);
and httpcore's pool scans every connection per request, while here a request
pops an idle connection or opens one, O(1).

Why not h11 (which this client used until profiles of the daemon under load,
200 concurrent runs, put h11's header validation, event extraction and state
machine at ~25 % of the daemon's CPU): the framing a client of one API needs
is small, and done here directly it costs ~10 us per answer (head, framing and
a 6 KB body, on the 2-core VM below). The request head is joined from bytes
prebuilt per (method, target, extra headers): request line, ``host``, the
client's headers, then ``content-length`` when there is a body. The answer's
head (at most 64 KiB) is checked by one regular expression (``HTTP/1.0`` or
``HTTP/1.1``, a 3-digit status, header lines ``token: value`` without control
characters: no whitespace before the colon, no obs-fold continuation lines;
lines may end in CRLF or a bare LF) and split into ``(lowercased name,
stripped value)`` pairs, in order, as h11 returned them; 1xx answers are
skipped (101 is an error). Body framing: HEAD, 204 and 304 have none; else
``Transfer-Encoding: chunked`` (hex size, CRLF checked, extensions and
trailers checked and ignored), else ``Content-Length`` (digits; different
values are an error), else the body runs until the server closes. A
connection is reused only when its answer was read to its end, both sides
spoke HTTP/1.1 without ``Connection: close``, the length was not "until
close", and nothing arrived beyond the answer. Measured side by side against
the h11 version (``bench.http_client --old``, 2-core VM, medians of 9 with
min-max): a 6.3 KB answer with a Content-Length 95 us (69-118) of client CPU
instead of 165 us (137-209), 1.8x (1.4-2.3); chunked in 64 pieces 159 us
instead of 546 us, 3.4x (2.7-3.7). Most of what is left above the raw loop is
trio's (cancel scopes for the per-operation timeouts, socket wrappers), not
the framing's.

Scope: what an OpenAI-compatible API needs. One origin (http/https), bodies of
known length, gzip/deflate decoded (we ask for identity); no redirects,
cookies or HTTP/2. When the environment sets a proxy for the URL,
``make_client`` hands the origin to ``httpx.AsyncClient`` (same interface).
TLS trusts ``SSL_CERT_FILE``/``SSL_CERT_DIR`` when set, else certifi's bundle,
like httpx.

Timeouts are per operation, like httpx's: connect (with the TLS handshake),
each write, each read. Cancelling the caller closes the connection (the server
sees the client go away); a connection returns to the pool only after its
answer was read to the end. A kept connection idle past ``keepalive_expiry``
or readable (closed by the server) is dropped before use, as httpcore does.

Errors are httpx's types, one vocabulary for both clients: ConnectError,
ReadError, WriteError, RemoteProtocolError (``httpx.TransportError``; a
malformed answer, or one cut short), Connect/Read/WriteTimeout
(``httpx.TimeoutException``), DecodingError; ``status_error`` builds the
``httpx.HTTPStatusError`` for a non-2xx answer. Invalid request parts (method,
target, header names or values) raise ValueError before anything is sent.
"""

from __future__ import annotations

import os
import re
import ssl
import time
import zlib
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import trio

Headers = Sequence[tuple[bytes, bytes]]

_READ_SIZE = 65536
_CONCAT_LIMIT = 256 * 1024  # bodies up to this size go out in one write with their head
_MAX_HEAD = 64 * 1024  # an answer's status line and headers; also all of a chunked body's trailers
_MAX_LINE = 8 * 1024  # a chunk-size line, a trailer line
_PREFIX_CACHE = 64  # request heads kept per client, by (method, target, extra headers)


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
    return HTTPClient(base_url, headers, timeout=timeout, max_keepalive=max_keepalive,
                      keepalive_expiry=keepalive_expiry)


# ---------------------------------------------------------------- framing

# RFC 9110/9112 grammar, as far as a client needs it. A field value: visible
# ASCII, obs-text, spaces and tabs (no CR, LF or other control characters).
_TOKEN = rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_VALUE = rb"[\t\x20-\x7e\x80-\xff]*"
_FIELD_LINES = rb"(?:" + _TOKEN + rb":" + _VALUE + rb"\r?\n)*"
# A whole answer head: status line, header lines, the empty line.
_HEAD = re.compile(rb"HTTP/1\.([01]) ([0-9]{3})(?: " + _VALUE + rb")?\r?\n(" + _FIELD_LINES + rb")\r?\n")
_HEAD_END = re.compile(rb"\n\r?\n")
_FIELD_LINE = re.compile(_TOKEN + rb":" + _VALUE + rb"\r?\n")
_CHUNK_LINE = re.compile(rb"([0-9A-Fa-f]{1,16})[ \t]*(?:;" + _VALUE + rb")?\r\n")
_TOKEN_RE = re.compile(_TOKEN)
_VALUE_RE = re.compile(_VALUE)
_TARGET_RE = re.compile(rb"[\x21-\x7e]+")

# Exchange states: the body's framing and where its reader stands.
_DONE, _BODY, _CHUNK_SIZE, _CHUNK_END, _TRAILERS, _UNTIL_CLOSE = range(6)


class _Malformed(Exception):
    """A framing error in the answer (raised as httpx's RemoteProtocolError)."""


def _head_error(head: bytes) -> str:
    """Why ``_HEAD`` did not match ``head`` (the slow path: which line is wrong)."""
    lines = head.split(b"\n")
    status = lines[0].rstrip(b"\r")
    if not re.fullmatch(rb"HTTP/1\.[01] [0-9]{3}(?: " + _VALUE + rb")?", status):
        return f"malformed status line {status[:80]!r}"
    for line in lines[1:]:
        line = line.rstrip(b"\r")
        if not line:
            break
        if _FIELD_LINE.fullmatch(line + b"\n"):
            continue
        if line[:1] in (b" ", b"\t"):
            return f"obsolete line folding (a continuation line) in the answer's head: {line[:80]!r}"
        name, colon, _ = line.partition(b":")
        if not colon:
            return f"header line without a colon: {line[:80]!r}"
        if name[-1:] in (b" ", b"\t"):
            return f"whitespace before the colon in header line {line[:80]!r}"
        return f"invalid header line {line[:80]!r}"
    return f"malformed answer head {head[:80]!r}"  # pragma: no cover - one of the above


def _comma_tokens(value: bytes) -> list[bytes]:
    return [t.strip(b" \t").lower() for t in value.split(b",")]


def _header_bytes(name: bytes, value: bytes) -> bytes:
    if _TOKEN_RE.fullmatch(name) is None:
        raise ValueError(f"invalid header name {name!r}")
    if _VALUE_RE.fullmatch(value) is None:
        raise ValueError(f"invalid value for header {name.decode('latin-1')}: {value!r}")
    return name + b": " + value + b"\r\n"


class _Conn:
    __slots__ = ("stream", "sock", "buf", "idle_since")

    def __init__(self, stream: trio.abc.Stream, sock: Any) -> None:
        self.stream = stream
        self.sock = sock
        self.buf = b""  # received, not yet consumed; empty whenever the connection is idle
        self.idle_since = 0.0

    def close(self) -> None:
        """Synchronous (works in a cancelled scope); TLS close_notify is skipped."""
        self.sock.close()


class Exchange:
    """One answer being read: ``status``, ``headers``; body by ``read``/``read_all``; then ``aclose``."""

    __slots__ = ("_client", "_conn", "status", "headers", "_state", "_left", "_chunked", "_keep", "_decoder")

    def __init__(self, client: HTTPClient, conn: _Conn, status: int, headers: list[tuple[bytes, bytes]],
                 state: int, left: int, keep: bool) -> None:
        self._client = client
        self._conn: _Conn | None = conn
        self.status = status
        self.headers: Headers = headers
        self._state = state
        self._left = left  # body or chunk bytes still to come; in the trailers, trailer bytes seen
        self._chunked = state == _CHUNK_SIZE
        self._keep = keep
        self._decoder: Any = None
        for name, value in headers:
            if name == b"content-encoding":
                coding = value.lower()
                if coding in (b"gzip", b"x-gzip"):
                    self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
                elif coding == b"deflate":
                    self._decoder = zlib.decompressobj()

    def _advance(self, conn: _Conn, out: list[bytes] | None) -> None:
        """Consumes what ``conn.buf`` holds of the body, without I/O; the body's
        bytes go to ``out`` (None: discarded). Leaves an incomplete line in the buffer."""
        buf = conn.buf
        pos, end = 0, len(buf)
        state = self._state
        while pos < end:
            if state == _CHUNK_SIZE:
                i = buf.find(b"\n", pos)
                if i < 0:
                    if end - pos > _MAX_LINE:
                        raise _Malformed("chunk size line too long")
                    break
                m = _CHUNK_LINE.fullmatch(buf, pos, i + 1)
                if m is None:
                    raise _Malformed(f"bad chunk size line {buf[pos:i + 1][:80]!r}")
                pos = i + 1
                size = int(m.group(1), 16)
                if not size:
                    self._left = 0
                    state = _TRAILERS
                elif pos + size + 2 <= end:  # the whole chunk and its CRLF are here
                    stop = pos + size
                    if buf[stop:stop + 2] != b"\r\n":
                        raise _Malformed("chunk data not followed by CRLF")
                    if out is not None:
                        out.append(buf[pos:stop])
                    pos = stop + 2
                else:
                    self._left = size
                    state = _BODY
            elif state == _BODY:
                n = self._left
                take = end - pos if end - pos < n else n
                if out is not None:
                    out.append(buf[pos:pos + take])
                pos += take
                n -= take
                self._left = n
                if n == 0:
                    state = _CHUNK_END if self._chunked else _DONE
            elif state == _CHUNK_END:
                if end - pos < 2:
                    if buf[pos:end] != b"\r":
                        raise _Malformed("chunk data not followed by CRLF")
                    break
                if buf[pos:pos + 2] != b"\r\n":
                    raise _Malformed("chunk data not followed by CRLF")
                pos += 2
                state = _CHUNK_SIZE
            elif state == _TRAILERS:
                i = buf.find(b"\n", pos)
                if i < 0:
                    if end - pos > _MAX_LINE:
                        raise _Malformed("trailer line too long")
                    break
                if i == pos or (i == pos + 1 and buf[pos] == 13):  # the empty line: the end
                    pos = i + 1
                    state = _DONE
                    continue
                if _FIELD_LINE.fullmatch(buf, pos, i + 1) is None:
                    raise _Malformed(f"bad trailer line {buf[pos:i + 1][:80]!r}")
                self._left += i + 1 - pos
                if self._left > _MAX_HEAD:
                    raise _Malformed("trailers larger than 64 KiB")
                pos = i + 1
            elif state == _UNTIL_CLOSE:
                if out is not None:
                    out.append(buf[pos:] if pos else buf)
                pos = end
            else:  # _DONE: what is left is not part of this answer
                break
        self._state = state
        if pos:
            conn.buf = buf[pos:] if pos < end else b""

    async def read(self) -> bytes | None:
        """The next piece of the body (what has arrived), or None at its end."""
        conn = self._conn
        if conn is None or self._state == _DONE:
            return None
        client = self._client
        try:
            while True:
                out: list[bytes] = []
                if conn.buf:
                    self._advance(conn, out)
                done = self._state == _DONE
                if out or done:
                    data = out[0] if len(out) == 1 else b"".join(out)
                    decoder = self._decoder
                    if decoder is not None:
                        data = decoder.decompress(data)
                        if done:
                            data += decoder.flush()
                    if data:
                        return data
                    if done:
                        return None
                data = await client._recv(conn)
                if not data:
                    if self._state != _UNTIL_CLOSE:
                        raise _Malformed("the server closed the connection before the end of the answer")
                    self._state = _DONE
                    self._keep = False
                    continue
                conn.buf = conn.buf + data if conn.buf else data
        except _Malformed as exc:
            self._drop()
            raise _httpx().RemoteProtocolError(str(exc)) from None
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
        if self._state != _DONE and conn.buf:
            try:
                self._advance(conn, None)  # what is already buffered, no I/O
            except _Malformed:
                pass
        if self._state == _DONE and self._keep and not conn.buf:
            self._client._release(conn)
        else:
            conn.close()


class ClientBase:
    """What ``HTTPClient`` and ``_httpx_client.HttpxClient`` share: subclasses set
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


class HTTPClient(ClientBase):
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
        static = [(b"host", host.encode("ascii"))] + [
            (k.lower().encode("ascii"), v.encode("latin-1")) for k, v in headers.items()]
        self._static, self._close = self._encode_headers(static)
        # (method, target, extra headers) -> (request head without content-length and
        # the final CRLF, whether we asked for Connection: close)
        self._prefixes: dict[tuple[bytes, bytes, Any], tuple[bytes, bool]] = {}
        self._idle: deque[_Conn] = deque()
        self._closed = False

    @staticmethod
    def _encode_headers(headers: Headers) -> tuple[bytes, bool]:
        out = []
        close = False
        for name, value in headers:
            if name in (b"content-length", b"transfer-encoding"):
                raise ValueError(f"the client sets {name.decode()} itself")
            out.append(_header_bytes(name, value))
            if name == b"connection" and b"close" in _comma_tokens(value):
                close = True
        return b"".join(out), close

    def _prefix(self, method: bytes, target: bytes, headers: Headers) -> tuple[bytes, bool]:
        if _TOKEN_RE.fullmatch(method) is None:
            raise ValueError(f"invalid method {method!r}")
        if _TARGET_RE.fullmatch(target) is None:
            raise ValueError(f"invalid request target {target!r}")
        extra, close = self._encode_headers([(k.lower(), v) for k, v in headers])
        for name, _ in headers:
            if name.lower() == b"host":
                raise ValueError("the client sets host itself")
        return b"%s %s HTTP/1.1\r\n%s%s" % (method, target, self._static, extra), close or self._close

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
        key: Any = (method, target, headers)
        try:
            cached = self._prefixes.get(key)
        except TypeError:  # unhashable headers (a list): not cached
            cached = key = None
        if cached is None:
            cached = self._prefix(method, target, headers)
            if key is not None:
                if len(self._prefixes) >= _PREFIX_CACHE:
                    self._prefixes.clear()
                self._prefixes[key] = cached
        prefix, close = cached
        head = prefix + b"\r\n" if body is None else prefix + b"content-length: %d\r\n\r\n" % len(body)
        conn = self._acquire() or await self._connect()
        try:
            return await self._exchange(conn, head, body, method == b"HEAD", close)
        except BaseException:
            conn.close()
            raise

    async def _exchange(self, conn: _Conn, head: bytes, body: bytes | None, head_only: bool,
                        close: bool) -> Exchange:
        if body and len(body) <= _CONCAT_LIMIT:
            await self._send_all(conn, head + body)
        else:
            await self._send_all(conn, head)
            if body:
                await self._send_all(conn, body)
        got = False
        try:
            while True:
                version, status, headers = await self._read_head(conn, got)
                got = True
                if status >= 200:
                    break
                if status < 100:
                    raise _Malformed(f"bad status code {status:03d}")
                if status == 101:
                    raise _Malformed("unexpected 101 Switching Protocols")
            state, left, keep = self._framing(version, status, headers, head_only)
        except _Malformed as exc:
            raise _httpx().RemoteProtocolError(str(exc)) from None
        return Exchange(self, conn, status, headers, state, left, keep and not close)

    async def _read_head(self, conn: _Conn, got: bool) -> tuple[int, int, list[tuple[bytes, bytes]]]:
        """Reads and parses one answer head; the bytes after it stay in ``conn.buf``."""
        buf: bytes | bytearray = conn.buf
        scan = 0
        while (m := _HEAD_END.search(buf, scan)) is None:
            if len(buf) > _MAX_HEAD:
                raise _Malformed("the answer's head is larger than 64 KiB")
            scan = max(0, len(buf) - 2)
            data = await self._recv(conn)
            if not data:
                if buf or got:
                    raise _Malformed("the server closed the connection in the middle of the answer's head")
                raise _Malformed("the server closed the connection without answering")
            if not buf:
                buf = data
            else:
                if type(buf) is bytes:
                    buf = bytearray(buf)
                buf += data
        end = m.end()
        if end > _MAX_HEAD:
            raise _Malformed("the answer's head is larger than 64 KiB")
        if type(buf) is not bytes:
            buf = bytes(buf)
        hm = _HEAD.match(buf, 0, end)
        if hm is None or hm.end() != end:
            raise _Malformed(_head_error(buf[:end]))
        conn.buf = buf[end:]
        headers = [(name.lower(), value.strip(b" \t"))
                   for name, _, value in (line.partition(b":") for line in hm.group(3).splitlines())]
        return int(hm.group(1)), int(hm.group(2)), headers

    @staticmethod
    def _framing(version: int, status: int, headers: list[tuple[bytes, bytes]],
                 head_only: bool) -> tuple[int, int, bool]:
        """(the reader's first state, the content length, whether the connection may be reused)."""
        keep = version == 1
        length = -1
        chunked = False
        for name, value in headers:
            if name == b"content-length":
                values = {v.strip(b" \t") for v in value.split(b",")}
                if len(values) != 1:
                    raise _Malformed(f"conflicting Content-Length values {value!r}")
                v = values.pop()
                if not v.isdigit():
                    raise _Malformed(f"bad Content-Length {value!r}")
                n = int(v)
                if length >= 0 and n != length:
                    raise _Malformed("conflicting Content-Length headers")
                length = n
            elif name == b"transfer-encoding":
                if chunked or _comma_tokens(value) != [b"chunked"]:
                    raise _Malformed(f"unsupported Transfer-Encoding {value!r}")
                chunked = True
            elif name == b"connection":
                if b"close" in _comma_tokens(value):
                    keep = False
        if head_only or status in (204, 304):
            return _DONE, 0, keep
        if chunked:
            # with a Content-Length too, chunked wins; such an answer may be smuggling: no reuse
            return _CHUNK_SIZE, 0, keep and length < 0
        if length >= 0:
            return (_BODY, length, keep) if length else (_DONE, 0, keep)
        return _UNTIL_CLOSE, 0, False
