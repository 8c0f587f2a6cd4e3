"""JSON-RPC 2.0 envelopes and framing.

Transport: a SOCK_STREAM Unix socket; each message is one line of compact JSON
ending in ``\\n``. A line longer than ``MAX_LINE`` bytes is answered with an
invalid-request error and the connection is closed.
"""

from __future__ import annotations

from typing import Any

import msgspec

MAX_LINE = 1 << 20  # 1 MiB

# Spec error codes.
PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603

Id = int | str | None


class Request(msgspec.Struct, frozen=True, omit_defaults=True):
    """A request as it arrives. ``params`` stays raw until the method is known,
    so "method not found" and "invalid params" stay distinct."""

    jsonrpc: str
    method: str
    params: msgspec.Raw = msgspec.Raw(b"{}")
    id: Id | msgspec.UnsetType = msgspec.UNSET


class ErrorObject(msgspec.Struct, frozen=True, omit_defaults=True):
    code: int
    message: str
    data: Any = None


class Response(msgspec.Struct, frozen=True):
    id: Id
    result: Any
    jsonrpc: str = "2.0"


class ErrorResponse(msgspec.Struct, frozen=True):
    id: Id
    error: ErrorObject
    jsonrpc: str = "2.0"


class Notification(msgspec.Struct, frozen=True):
    method: str
    params: Any
    jsonrpc: str = "2.0"


class OutgoingRequest(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a client sends."""

    method: str
    id: Id | msgspec.UnsetType = msgspec.UNSET
    params: Any = msgspec.UNSET
    jsonrpc: str = "2.0"


class IncomingMessage(msgspec.Struct, frozen=True, omit_defaults=True):
    """What a client receives: a response, an error response or a notification."""

    jsonrpc: str = "2.0"
    id: Id | msgspec.UnsetType = msgspec.UNSET
    result: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET
    error: ErrorObject | msgspec.UnsetType = msgspec.UNSET
    method: str | msgspec.UnsetType = msgspec.UNSET
    params: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET


def utf8_error(line: bytes) -> str | None:
    """Why ``line`` is not UTF-8 text (None when it is).

    JSON-RPC messages are JSON text, which is UTF-8; a line with any other
    bytes is a parse error as a whole, wherever they are. msgspec only checks
    the strings it decodes, so bytes inside a member it skips or inside raw
    ``params`` would otherwise pass. ASCII (the common case) is checked in one
    fast pass."""
    if line.isascii():
        return None
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"invalid UTF-8 at byte {exc.start}"
    return None


def error_response(id: Id, code: int, message: str, data: Any = None) -> ErrorResponse:
    return ErrorResponse(id=id, error=ErrorObject(code=code, message=message, data=data))
