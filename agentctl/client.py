"""A blocking JSON-RPC 2.0 client for agentd's Unix socket (stdlib ``socket``).

Uses the stdlib's C socket module (``_socket``) directly, see below.
One request at a time on one connection: send a compact JSON line, read lines
until the response with the same id arrives. Notifications that arrive in the
meantime are kept, in order, for :meth:`Client.notifications`.

Two ways to call:

- ``client.call("goal.list", {"limit": 10})`` returns the result as plain
  Python data decoded by the stdlib ``json`` module. This is what commands use:
  importing msgspec costs more than the rest of a command together.
- ``client.call("goal.get", GoalGet(id="ab"), Goal)`` encodes the params
  struct and decodes the result into ``Goal`` with msgspec (prebuilt, cached
  decoders); for the REPL and for tests.

Exceptions (every one a :class:`ClientError`)::

    ClientError
    ├── DaemonNotReachable  no socket, nothing listening, permission denied,
    │                       connect timed out                     (exit 3)
    ├── DaemonTimeout       connected, but no answer in time       (exit 1)
    ├── ConnectionLost      the daemon closed the connection first  (exit 1)
    ├── ProtocolViolation   a line that is not JSON-RPC, or too long (exit 1)
    └── RpcError            the daemon answered with an error       (exit 1)

Resource handling: :class:`Client` is a context manager; the socket is closed
on exit, on :meth:`close`, and after any error that leaves the stream in an
unknown state (timeout, lost connection, protocol violation).
"""

from __future__ import annotations

import errno
import json
import time
from collections.abc import Iterator
from typing import Any

# The C module under ``socket``: socket.py itself imports selectors and
# converts every constant to an enum, a noticeable part of a command's run.
import _socket as socket
from collections import deque


# Same as agentd.protocol.envelope.MAX_LINE (checked by a test); importing
# that module would import msgspec.
MAX_LINE = 1 << 20


class ClientError(Exception):
    """Base of the client's errors. ``str(exc)`` is a sentence for the user."""


class DaemonNotReachable(ClientError):
    """Nothing answers at ``socket_path``; ``reason`` says what we found."""

    def __init__(self, socket_path: str, reason: str) -> None:
        self.socket_path = socket_path
        self.reason = reason
        super().__init__(self.describe())

    def describe(self) -> str:
        hint = "Start it with `agentctl server start` or `systemctl --user start agentd`."
        if self.reason == "missing":
            return f"agentd is not running (no socket at {self.socket_path}). {hint}"
        if self.reason == "refused":
            return f"agentd is not running (nothing listening at {self.socket_path}). {hint}"
        if self.reason == "denied":
            return (f"cannot connect to agentd at {self.socket_path}: permission denied "
                    "(the socket belongs to another user?).")
        if self.reason == "timeout":
            return f"agentd at {self.socket_path} did not accept the connection in time."
        return f"cannot connect to agentd at {self.socket_path}: {self.reason}."


class DaemonTimeout(ClientError):
    pass


class ConnectionLost(ClientError):
    pass


class ProtocolViolation(ClientError):
    pass


class RpcError(ClientError):
    """An error response: ``code``, ``message`` and ``data`` as the daemon sent them."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        self.code = code
        self.message = message
        self.data = data
        super().__init__(message)

    @property
    def kind(self) -> str | None:
        return self.data.get("kind") if isinstance(self.data, dict) else None

    @property
    def candidates(self) -> list:
        """For ``ambiguous_id`` (-32002): the ids the prefix matches."""
        if isinstance(self.data, dict) and isinstance(self.data.get("candidates"), list):
            return self.data["candidates"]
        return []

    @property
    def field(self) -> str | None:
        """For ``validation_failed`` (-32004) and invalid params: the field at fault."""
        if isinstance(self.data, dict):
            value = self.data.get("field") or self.data.get("path")
            return str(value) if value is not None else None
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            out["data"] = self.data
        return out


class Notice:
    """A notification from the daemon: ``method`` and ``params`` (plain data)."""

    __slots__ = ("method", "params")

    def __init__(self, method: str, params: Any) -> None:
        self.method = method
        self.params = params

    def __repr__(self) -> str:
        return f"Notice({self.method!r}, {self.params!r})"


class _Msgspec:
    """Prebuilt msgspec encoder/decoders, created on the first typed call."""

    def __init__(self) -> None:
        import msgspec

        from agentd.protocol.envelope import IncomingMessage

        self.msgspec = msgspec
        self.encoder = msgspec.json.Encoder()
        self.envelope = msgspec.json.Decoder(IncomingMessage)
        self.any = msgspec.json.Decoder()
        self.results: dict[Any, Any] = {}

    def result_decoder(self, result_type: Any):
        dec = self.results.get(result_type)
        if dec is None:
            dec = self.results[result_type] = self.msgspec.json.Decoder(result_type)
        return dec


_MSGSPEC: _Msgspec | None = None


def _codec() -> _Msgspec:
    global _MSGSPEC
    if _MSGSPEC is None:
        _MSGSPEC = _Msgspec()
    return _MSGSPEC


_DEFAULT = object()


class Client:
    """A connection to agentd.

    ``timeout`` bounds each call (seconds; None waits forever);
    ``connect_timeout`` bounds the connect. The connection is opened lazily by
    the first call, or explicitly by :meth:`connect`.
    """

    def __init__(self, socket_path: str, *, timeout: float | None = 60.0,
                 connect_timeout: float = 5.0) -> None:
        self.socket_path = str(socket_path)
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._next_id = 1
        self._pending: deque[Notice] = deque()
        self._stash: dict[Any, tuple] = {}

    # ------------------------------------------------------------ lifetime

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        sock, self._sock = self._sock, None
        self._buf.clear()
        if sock is not None:
            sock.close()

    def connect(self) -> None:
        """Raises :class:`DaemonNotReachable` when nothing answers at the path."""
        if self._sock is not None:
            return
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.connect_timeout)
        try:
            sock.connect(self.socket_path)
        except TimeoutError:
            sock.close()
            raise DaemonNotReachable(self.socket_path, "timeout") from None
        except OSError as exc:
            sock.close()
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                reason = "missing"
            elif exc.errno == errno.ECONNREFUSED:
                reason = "refused"
            elif exc.errno in (errno.EACCES, errno.EPERM):
                reason = "denied"
            else:
                reason = exc.strerror or str(exc)
            raise DaemonNotReachable(self.socket_path, reason) from exc
        self._sock = sock

    # ------------------------------------------------------------ calls

    def call(self, method: str, params: Any = None, result_type: Any = None, *,
             timeout: float | None | object = _DEFAULT) -> Any:
        """Send one request and return its result.

        ``params`` is a dict, a msgspec Struct or None. With ``result_type``
        the result is decoded into that type by msgspec (a ``ValidationError``
        there is turned into :class:`ProtocolViolation`); without it, the
        result is plain data from ``json``.

        Raises :class:`RpcError` for an error response, and the other
        :class:`ClientError` subclasses as described in the module docstring.
        """
        typed = result_type is not None or not isinstance(params, (dict, type(None)))
        req_id = self._next_id
        self._next_id += 1
        if typed:
            codec = _codec()
            msg: dict[str, Any] = {"jsonrpc": "2.0", "id": req_id, "method": method}
            if params is not None:
                msg["params"] = params
            line = codec.encoder.encode(msg)
        else:
            msg = {"jsonrpc": "2.0", "id": req_id, "method": method}
            if params is not None:
                msg["params"] = params
            line = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
        self._send(line + b"\n")
        deadline = self._deadline(self.timeout if timeout is _DEFAULT else timeout)
        error, result = self._wait_for(req_id, deadline, typed)
        if error is not None:
            raise RpcError(*error)
        if result_type is None:
            return result if not typed else _codec().any.decode(result)
        try:
            return _codec().result_decoder(result_type).decode(result)
        except _codec().msgspec.ValidationError as exc:
            raise ProtocolViolation(f"agentd sent an unexpected {method} result: {exc}") from exc

    def notify(self, method: str, params: Any = None) -> None:
        """Send a notification (no id, no answer)."""
        msg: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            msg["params"] = params
        if isinstance(params, (dict, type(None))):
            line = json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            line = _codec().encoder.encode(msg)
        self._send(line + b"\n")

    def notifications(self, timeout: float | None = None) -> Iterator[Notice]:
        """Yield notifications as they arrive: first those already received,
        then new ones from the socket, until the daemon closes the connection
        (the iterator then ends). ``timeout`` bounds the wait for each one
        (:class:`DaemonTimeout`); None waits forever. Responses that arrive
        meanwhile are kept for their calls."""
        while True:
            while self._pending:
                yield self._pending.popleft()
            try:
                line = self._read_line(self._deadline(timeout))
            except ConnectionLost:
                return
            self._dispatch(line, False)

    def take_notifications(self) -> list[Notice]:
        """The notifications received so far (without waiting)."""
        out = list(self._pending)
        self._pending.clear()
        return out

    # ------------------------------------------------------------ internals

    @staticmethod
    def _deadline(timeout: Any) -> float | None:
        if timeout is None:
            return None
        return time.monotonic() + float(timeout)

    def _send(self, data: bytes) -> None:
        self.connect()
        assert self._sock is not None
        try:
            self._sock.settimeout(self.timeout)
            self._sock.sendall(data)
        except TimeoutError:
            self.close()
            raise DaemonTimeout("agentd did not read our request in time.") from None
        except OSError as exc:
            self.close()
            raise ConnectionLost(f"lost the connection to agentd: {exc.strerror or exc}.") from exc

    def _wait_for(self, req_id: int, deadline: float | None, typed: bool) -> tuple:
        while req_id not in self._stash:
            self._dispatch(self._read_line(deadline), typed)
        return self._stash.pop(req_id)

    def _dispatch(self, line: bytes, typed: bool) -> None:
        """Decode one line; keep a response in the stash, a notification in the queue."""
        if typed:
            try:
                m = _codec().envelope.decode(line)
            except _codec().msgspec.DecodeError as exc:
                self.close()
                raise ProtocolViolation(f"agentd sent a line that is not JSON-RPC: {exc}") from exc
            unset = _codec().msgspec.UNSET
            if m.id is unset:
                if m.method is unset:
                    return
                params = None if m.params is unset else _codec().any.decode(m.params)
                self._pending.append(Notice(m.method, params))
                return
            if m.error is not unset:
                self._stash[m.id] = ((m.error.code, m.error.message, m.error.data), None)
            else:
                self._stash[m.id] = (None, b"null" if m.result is unset else m.result)
            return
        try:
            m = json.loads(line)
        except ValueError as exc:
            self.close()
            raise ProtocolViolation(f"agentd sent a line that is not JSON: {exc}") from exc
        if not isinstance(m, dict):
            self.close()
            raise ProtocolViolation("agentd sent a JSON line that is not an object.")
        if "id" not in m:
            if isinstance(m.get("method"), str):
                self._pending.append(Notice(m["method"], m.get("params")))
            return
        err = m.get("error")
        if isinstance(err, dict):
            self._stash[m["id"]] = ((err.get("code", 0), err.get("message", ""), err.get("data")), None)
        else:
            self._stash[m["id"]] = (None, m.get("result"))

    def _read_line(self, deadline: float | None) -> bytes:
        if self._sock is None:
            raise ConnectionLost("not connected to agentd.")
        while True:
            idx = self._buf.find(b"\n")
            if idx >= 0:
                line = bytes(self._buf[:idx])
                del self._buf[: idx + 1]
                if line.strip():
                    return line
                continue
            if len(self._buf) > MAX_LINE:
                self.close()
                raise ProtocolViolation(f"agentd sent a line longer than {MAX_LINE} bytes.")
            if deadline is None:
                self._sock.settimeout(None)
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self.close()
                    raise DaemonTimeout("agentd did not answer in time.")
                self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(65536)
            except TimeoutError:
                self.close()
                raise DaemonTimeout("agentd did not answer in time.") from None
            except OSError as exc:
                self.close()
                raise ConnectionLost(f"lost the connection to agentd: {exc.strerror or exc}.") from exc
            if not data:
                self.close()
                raise ConnectionLost("agentd closed the connection before answering.")
            self._buf += data
