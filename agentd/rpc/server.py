"""Serving connections on the Unix socket.

Each connection is its own task: requests on one connection are answered in
order; notifications for its subscriptions are sent by the same writer, so
lines never interleave. Limits, so that idle or broken clients cannot starve
others:

- a line longer than MAX_LINE: an error reply, then the connection is closed;
- a partial line not completed within ``partial_line_timeout_s``: closed;
- no request at all for ``client_idle_timeout_s`` while the connection holds
  no subscription: closed (a watcher may sit quietly as long as it likes);
- more than ``max_connections`` at once: the newest is told so and closed;
- another uid (SO_PEERCRED): refused, and the refusal logged.

Shutdown: ``serve_unix`` stops accepting when its scope is cancelled; open
connections are closed by the daemon's drain.
"""

from __future__ import annotations

import errno
import itertools
import math
import os
from collections.abc import Callable
from typing import Any

import msgspec
import trio

from .. import log
from ..protocol import envelope as e
from .dispatch import Dispatcher
from .listener import peer_cred

_log = log.get("agentd.rpc")
_enc = msgspec.json.Encoder()
_ids = itertools.count(1)
# accept() errors that mean "out of resources for now": worth a retry after a
# pause. Any other error (EBADF, EINVAL, ...) means the listening socket is
# broken, and retrying would spin for ever.
_CAPACITY_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS})


class Connection:
    """One client connection. Handlers get it to register subscriptions."""

    def __init__(self, stream: trio.SocketStream, pid: int,
                 redact: Callable[[bytes], bytes] | None = None) -> None:
        self.stream = stream
        self.redact = redact  # applied to every notification (run events carry foreign text)
        self.pid = pid
        self.cid = next(_ids)
        self._send_lock = trio.Lock()
        self.subscriptions: dict[str, Callable[[], None]] = {}  # id -> cancel
        self.closed = trio.Event()
        self.client_request_id: str | None = None

    async def send_line(self, data: bytes) -> None:
        async with self._send_lock:
            await self.stream.send_all(data + b"\n")

    async def notify(self, method: str, params: Any) -> None:
        data = _enc.encode(e.Notification(method=method, params=params))
        await self.send_line(data if self.redact is None else self.redact(data))

    def drop_subscriptions(self) -> None:
        for cancel in list(self.subscriptions.values()):
            cancel()
        self.subscriptions.clear()


class RpcServer:
    def __init__(self, dispatcher: Dispatcher, *, idle_timeout: float = 300.0, partial_timeout: float = 10.0,
                 max_connections: int = 256, max_line: int = e.MAX_LINE,
                 redact: Callable[[bytes], bytes] | None = None) -> None:
        self.dispatcher = dispatcher
        self.redact = redact
        self.idle_timeout = idle_timeout
        self.partial_timeout = partial_timeout
        self.max_connections = max_connections
        self.max_line = max_line
        self.connections: set[Connection] = set()
        self.refused_peers = 0
        self._accept_scope = trio.CancelScope()

    async def serve(self, listen_sock, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Accept connections until cancelled. ``task_status.started()`` once accepting.

        Raises: the ``OSError`` of an accept that failed for any reason but a
        lack of resources (EMFILE, ENFILE, ENOMEM, ENOBUFS: logged, retried
        after 0.1 s)."""
        listener = trio.SocketListener(trio.socket.from_stdlib_socket(listen_sock))
        async with trio.open_nursery() as nursery:
            with self._accept_scope:
                task_status.started()
                while True:
                    try:
                        stream = await listener.accept()
                    except OSError as exc:
                        if exc.errno not in _CAPACITY_ERRNOS:
                            raise  # a broken listening socket: fail loudly, do not spin on it
                        _log.warning("accept failed: out of resources; retrying shortly", error=str(exc))
                        await trio.sleep(0.1)
                        continue
                    nursery.start_soon(self._serve_one, stream)
            # Not accepting any more; connections already open are served on
            # (a client may watch the drain) until the daemon cancels us.
            await listener.aclose()
            await trio.sleep_forever()

    def stop_accepting(self) -> None:
        self._accept_scope.cancel()

    async def _serve_one(self, stream: trio.SocketStream) -> None:
        try:
            pid, uid, _ = peer_cred(stream.socket)
        except OSError:
            await stream.aclose()
            return
        if uid != os.getuid():
            self.refused_peers += 1
            _log.warning("refused connection from another user", peer_pid=pid, peer_uid=uid)
            await stream.aclose()
            return
        conn = Connection(stream, pid, self.redact)
        if len(self.connections) >= self.max_connections:
            _log.warning("too many connections; refusing one", limit=self.max_connections)
            try:
                with trio.move_on_after(1):
                    await conn.send_line(_enc.encode(e.error_response(
                        None, -32000, f"too many connections (limit {self.max_connections}); try again later")))
            finally:
                await stream.aclose()
            return
        self.connections.add(conn)
        try:
            await self._loop(conn)
        except (trio.BrokenResourceError, trio.ClosedResourceError, ConnectionError):
            pass
        except Exception as exc:  # a bug on one connection must not take the server down
            _log.error("connection failed; closing it", exc_info=exc)
        finally:
            self.connections.discard(conn)
            conn.drop_subscriptions()
            conn.closed.set()
            with trio.CancelScope(shield=True):
                await stream.aclose()

    async def _loop(self, conn: Connection) -> None:
        buf = bytearray()
        # When the partial line in ``buf`` must be complete: counted from its
        # first byte, so a client trickling a byte at a time is dropped too.
        partial_deadline = math.inf
        while True:
            nl = buf.find(b"\n")
            while nl >= 0:
                if nl > self.max_line:  # a whole over-long line arrived in one read
                    await self._too_long(conn)
                    return
                line = bytes(buf[:nl])
                del buf[: nl + 1]
                partial_deadline = math.inf
                if line.strip():
                    reply = await self.dispatcher.handle(line, conn)
                    if reply is not None:
                        await conn.send_line(reply)
                nl = buf.find(b"\n")
            if len(buf) > self.max_line:
                await self._too_long(conn)
                return
            if buf:
                if partial_deadline == math.inf:
                    partial_deadline = trio.current_time() + self.partial_timeout
                deadline = partial_deadline
            elif conn.subscriptions:
                deadline = math.inf
            else:
                deadline = trio.current_time() + self.idle_timeout
            with trio.move_on_at(deadline) as scope:
                data = await conn.stream.receive_some(65536)
            if scope.cancelled_caught:
                # A subscription may have started while we waited: then keep going.
                if not buf and conn.subscriptions:
                    continue
                _log.debug("closing a silent connection", partial=len(buf))
                return
            if not data:
                return
            buf += data

    async def _too_long(self, conn: Connection) -> None:
        await conn.send_line(_enc.encode(e.error_response(
            None, e.INVALID_REQUEST, f"invalid request: line longer than {self.max_line} bytes; closing")))

    async def close_all(self) -> None:
        for conn in list(self.connections):
            conn.drop_subscriptions()
            with trio.CancelScope(shield=True):
                with trio.move_on_after(1):
                    await conn.stream.aclose()
