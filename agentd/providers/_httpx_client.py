"""The one HTTP stack of the providers: ``httpx.AsyncClient``, built here for
both providers (the OpenAI-compatible one directly, Ollama through the
``ollama`` package, which takes the same keyword arguments).

- ``trust_env=True``, as httpx users expect: HTTP(S)_PROXY/ALL_PROXY/NO_PROXY,
  SSL_CERT_FILE/SSL_CERT_DIR.
- A decoded-size cap on every answer (``limit_answers``, a response event
  hook): the body is decoded here, in pieces of at most 64 KiB, from gzip or
  deflate with ``zlib``'s ``max_length``, so a compression bomb costs at most
  one piece of memory before it is refused with ``AnswerTooLarge``; httpx then
  sees an identity body and decodes nothing again. Other content codings are
  refused (we ask for ``identity``).
- A SOCKS proxy in the environment without the ``socksio`` package makes
  httpx raise ImportError when the client is built; ``open_client`` turns it
  into ProviderUnavailable naming the fix, so the daemon starts degraded and
  says what to do instead of failing every run.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from ..protocol.errors import ProviderUnavailable

_PIECE = 64 * 1024
DEFAULT_MAX_ANSWER_BYTES = 32 * 1024 * 1024


class AnswerTooLarge(Exception):
    """An answer decoded past the cap (not transient: the same request gets the same answer)."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the answer is larger than {_size(limit)} decoded (the cap on provider answers)")
        self.limit = limit


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def socks_hint() -> str:
    """Which variable selects a SOCKS proxy, and the two ways out."""
    names = [k for k, v in os.environ.items() if k.lower().endswith("_proxy") and v.lower().startswith("socks")]
    which = ", ".join(f"{k}={os.environ[k]}" for k in sorted(names)) or "the environment"
    return (f"{which} selects a SOCKS proxy, but SOCKS support is not installed: "
            f"run `pip install 'httpx[socks]'` (in agentd's environment) or unset {' and '.join(sorted(names)) or 'it'}")


def open_client(provider: str, **kwargs: Any) -> Any:
    """``httpx.AsyncClient(trust_env=True, **kwargs)``; ``factory`` in kwargs
    builds another class with the same arguments (``ollama.AsyncClient``).

    Raises ProviderUnavailable when the environment's SOCKS proxy cannot be
    used (``socksio`` missing), with the fix in the message.
    """
    factory: Callable[..., Any] = kwargs.pop("factory", httpx.AsyncClient)
    try:
        return factory(trust_env=True, **kwargs)
    except ImportError as exc:
        if "socksio" not in str(exc):
            raise
        raise ProviderUnavailable(f"{provider}: {socks_hint()}", provider=provider) from exc


def limit_answers(max_bytes: int) -> Callable[[Any], Any]:
    """A response event hook: the body decoded here and capped at ``max_bytes``."""

    async def hook(response: Any) -> None:
        codings = [c.strip().lower() for c in response.headers.get_list("content-encoding", split_commas=True)]
        codings = [c for c in codings if c and c != "identity"]
        if len(codings) > 1 or (codings and codings[0] not in ("gzip", "x-gzip", "deflate")):
            await response.aclose()
            raise httpx.DecodingError(f"unsupported content encoding {', '.join(codings)!r} (agentd asks for "
                                      "identity and reads gzip or deflate)", request=response.request)
        if codings:
            del response.headers["content-encoding"]
            response.headers.pop("content-length", None)
        response.stream = _Bounded(response.stream, codings[0] if codings else None, max_bytes)

    return hook


class _Bounded(httpx.AsyncByteStream):
    """The answer's stream, decoded and counted."""

    def __init__(self, inner: Any, coding: str | None, max_bytes: int) -> None:
        self._inner = inner
        self._coding = coding
        self._max = max_bytes
        self._seen = 0

    def _decoder(self) -> Any:
        if self._coding == "deflate":
            return _Deflate()
        return zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _count(self, data: bytes) -> bytes:
        self._seen += len(data)
        if self._seen > self._max:
            raise AnswerTooLarge(self._max)
        return data

    async def __aiter__(self) -> AsyncIterator[bytes]:
        if self._coding is None:
            async for data in self._inner:
                yield self._count(data)
            return
        decoder = self._decoder()
        try:
            async for data in self._inner:
                while data:
                    piece = decoder.decompress(data, _PIECE)
                    data = decoder.unconsumed_tail
                    if decoder.eof and decoder.unused_data:  # another gzip member follows
                        data = decoder.unused_data + data
                        decoder = self._decoder()
                    if piece:
                        yield self._count(piece)
            tail = decoder.flush()
        except zlib.error as exc:
            raise httpx.DecodingError(f"cannot decode the answer ({self._coding}): {exc}") from exc
        if tail:
            yield self._count(tail)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Deflate:
    """zlib-wrapped deflate, or raw deflate as some servers send it (as httpx reads it)."""

    def __init__(self) -> None:
        self._d = zlib.decompressobj()
        self._first = True

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if self._first:
            self._first = False
            try:
                return self._d.decompress(data, max_length)
            except zlib.error:
                self._d = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._d.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._d.unconsumed_tail

    @property
    def unused_data(self) -> bytes:
        return b""

    @property
    def eof(self) -> bool:
        return self._d.eof

    def flush(self) -> bytes:
        return self._d.flush()


def error_text(exc: BaseException) -> str:
    """The first non-empty message along the exception's causes (httpx's
    errors under trio often carry theirs on the cause: a TLS verification
    failure is an empty ConnectError caused by the SSL error)."""
    seen: BaseException | None = exc
    for _ in range(8):
        if seen is None:
            break
        if str(seen):
            return str(seen)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


def _refused(exc: BaseException | None, depth: int = 0) -> bool:
    """Whether a connection was refused somewhere in ``exc``'s causes (trio
    reports a failed connect as an OSError caused by a group of the attempts')."""
    if exc is None or depth > 8:
        return False
    if isinstance(exc, ConnectionRefusedError):
        return True
    if isinstance(exc, BaseExceptionGroup) and any(_refused(e, depth + 1) for e in exc.exceptions):
        return True
    return _refused(exc.__cause__ or exc.__context__, depth + 1)


def describe_failure(exc: BaseException, timeout_s: float) -> str:
    """A short reason for a failed attempt, for a person watching retries
    ("timed out after 120 s", "connection refused", ...)."""
    if isinstance(exc, httpx.TimeoutException):
        return f"timed out after {timeout_s:g} s"
    text = error_text(exc)
    if isinstance(exc, (httpx.ConnectError, ConnectionError)):
        return "connection refused" if _refused(exc) or "refused" in text.lower() else f"cannot connect: {text}"
    if isinstance(exc, httpx.TransportError):
        return f"connection failed: {text}"
    return f"unreadable answer: {text}"
