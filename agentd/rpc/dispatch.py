"""JSON-RPC 2.0 dispatch: one line in, one line (or nothing) out.

- A line that is not JSON: -32700, id null. That includes a line with bytes
  that are not UTF-8 anywhere, even in a member we would ignore or inside
  ``params`` (JSON text is UTF-8; msgspec checks only the strings it decodes).
- Not a request object (wrong ``jsonrpc``, no ``method``, wrong types), or an
  empty batch: -32600, with the id when it could be read.
- Unknown method: -32601. Params that do not fit the method's struct: -32602
  with ``data.field`` = the offending field's path (``$.params.limit``).
- An ``AgentdError`` from a handler: its code (-32000..-32099), message and data.
- Anything else a handler raises is a bug: -32603, logged with its traceback.
- Notifications (no ``id``) are run and get no reply, even when they fail.
- Batches (an array) are answered with an array of the replies, in order; a
  batch of notifications only gets no reply at all.
- With ``redact`` set (the daemon's redactor), every reply is passed through
  it, except those of the methods that show a goal as the person configured
  it (goal.get with ``secrets``, goal.create, ...): run views, events,
  memories and the daemon's status may quote foreign text that echoed a
  secret.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from .. import log
from ..protocol.errors import AgentdError
from ..protocol import envelope as e
from ..protocol.methods import METHODS, Goal, GoalListResult

_log = log.get("agentd.rpc")

Handler = Callable[[Any, "Connection"], Awaitable[Any]]  # noqa: F821 - Connection is server.Connection
_request_dec = msgspec.json.Decoder(e.Request)
_any_dec = msgspec.json.Decoder()
_enc = msgspec.json.Encoder()
_PATH = re.compile(r" - at `\$(.*)`$")
_GOAL_VIEWS = (Goal, GoalListResult)


def _params_error(exc: msgspec.ValidationError) -> tuple[str, str]:
    text = str(exc)
    match = _PATH.search(text)
    path = "$.params" + (match.group(1) if match else "")
    message = _PATH.sub("", text)
    return f"invalid params: {message} (at {path})", path


class Dispatcher:
    def __init__(self, handlers: dict[str, Handler]) -> None:
        self.set_handlers(handlers)
        self.on_request: Callable[[str, float, bool], None] | None = None  # metrics hook: (method, seconds, ok)
        self.redact: Callable[[bytes], bytes] | None = None

    def set_handlers(self, handlers: dict[str, Handler]) -> None:
        unknown = set(handlers) - set(METHODS)
        if unknown:
            raise ValueError(f"handlers for undeclared methods: {sorted(unknown)}")
        self._routes = {
            name: (msgspec.json.Decoder(METHODS[name].params), handler) for name, handler in handlers.items()
        }
        # Views of a goal as configured (its webhook URL, its secret on request): shown as they are.
        self._as_configured = frozenset(name for name in handlers if METHODS[name].result in _GOAL_VIEWS)

    async def handle(self, line: bytes, conn: Any) -> bytes | None:
        """The reply line (without newline) for one incoming line, or None."""
        bad = e.utf8_error(line)
        if bad is not None:
            return _enc.encode(e.error_response(None, e.PARSE_ERROR, f"parse error: {bad}"))
        try:
            req = _request_dec.decode(line)
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError):
            return await self._slow_path(line, conn)
        reply = await self._one(req, conn)
        return None if reply is None else _enc.encode(reply)

    async def _slow_path(self, line: bytes, conn: Any) -> bytes | None:
        try:
            doc = _any_dec.decode(line)
        except msgspec.DecodeError as exc:
            return _enc.encode(e.error_response(None, e.PARSE_ERROR, f"parse error: {exc}"))
        except RecursionError:  # msgspec raises it for deeply nested arrays/objects
            return _enc.encode(e.error_response(None, e.PARSE_ERROR, "parse error: JSON nested too deeply"))
        if isinstance(doc, list):
            if not doc:
                return _enc.encode(e.error_response(None, e.INVALID_REQUEST, "invalid request: empty batch"))
            replies = []
            for item in doc:
                reply = await self._from_doc(item, conn)
                if reply is not None:
                    replies.append(reply)
            return _enc.encode(replies) if replies else None
        return _enc.encode(await self._from_doc(doc, conn) or e.error_response(None, e.INVALID_REQUEST, "invalid request"))

    async def _from_doc(self, doc: Any, conn: Any) -> Any:
        try:
            req = _request_dec.decode(_enc.encode(doc))
        except (msgspec.ValidationError, msgspec.DecodeError, RecursionError) as exc:
            rid = doc.get("id") if isinstance(doc, dict) else None
            if not isinstance(rid, (int, str)) or isinstance(rid, bool):
                rid = None
            return e.error_response(rid, e.INVALID_REQUEST, f"invalid request: {exc}")
        return await self._one(req, conn)

    async def _one(self, req: e.Request, conn: Any) -> Any:
        rid = None if req.id is msgspec.UNSET else req.id
        is_notification = req.id is msgspec.UNSET
        if req.jsonrpc != "2.0":
            return e.error_response(rid, e.INVALID_REQUEST, 'invalid request: "jsonrpc" must be "2.0"')
        route = self._routes.get(req.method)
        if route is None:
            if is_notification:
                return None
            return e.error_response(rid, e.METHOD_NOT_FOUND, f"method not found: {req.method}",
                                    {"method": req.method})
        decoder, handler = route
        try:
            params = decoder.decode(req.params)
        except msgspec.ValidationError as exc:
            if is_notification:
                return None
            message, path = _params_error(exc)
            return e.error_response(rid, e.INVALID_PARAMS, message, {"field": path})
        except msgspec.DecodeError as exc:
            return None if is_notification else e.error_response(rid, e.INVALID_PARAMS, f"invalid params: {exc}")
        except RecursionError:
            return None if is_notification else e.error_response(
                rid, e.INVALID_PARAMS, "invalid params: nested too deeply", {"field": "$.params"})
        request_id = getattr(conn, "client_request_id", None)
        with log.bind(request_id=f"{getattr(conn, 'cid', 0)}.{rid}" if request_id is None else request_id,
                      method=req.method):
            reply = await self._call(handler, params, conn, req.method, rid, is_notification)
        if reply is None or self.redact is None or req.method in self._as_configured:
            return reply
        return msgspec.Raw(self.redact(_enc.encode(reply)))

    async def _call(self, handler: Handler, params: Any, conn: Any, method: str, rid: Any,
                    is_notification: bool) -> Any:
        import time

        t0 = time.perf_counter()
        ok = False
        try:
            result = await handler(params, conn)
            ok = True
        except AgentdError as exc:
            _log.debug("request failed", code=exc.code, error=exc.message)
            return None if is_notification else e.error_response(rid, exc.code, exc.message, exc.to_data())
        except Exception as exc:  # a bug: say so, keep serving
            _log.error("internal error", exc_info=exc)
            return None if is_notification else e.error_response(
                rid, e.INTERNAL_ERROR, f"internal error: {type(exc).__name__}: {exc}")
        finally:
            if self.on_request is not None:
                self.on_request(method, time.perf_counter() - t0, ok)
        return None if is_notification else e.Response(id=rid, result=result)
