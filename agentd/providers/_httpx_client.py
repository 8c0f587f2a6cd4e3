"""The provider's HTTP client interface (``_http.HTTPClient``'s) on
``httpx.AsyncClient``, for origins the environment routes through a proxy
(``trust_env``: proxies, certificates). Internal to ``providers/openai.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from ._http import ClientBase, Headers, _httpx


class _HttpxExchange:
    def __init__(self, response: Any) -> None:
        self._response = response
        self.status: int = response.status_code
        self.headers: Headers = response.headers.raw
        self._chunks = response.aiter_bytes()

    async def read(self) -> bytes | None:
        try:
            return await self._chunks.__anext__()
        except StopAsyncIteration:
            return None

    async def read_all(self) -> bytes:
        return await self._response.aread()

    async def aclose(self) -> None:
        await self._response.aclose()


class HttpxClient(ClientBase):
    """The same interface on ``httpx.AsyncClient`` (``trust_env``: proxies, certificates)."""

    def __init__(self, base_url: str, headers: Mapping[str, str], *, timeout: float, max_keepalive: int,
                 keepalive_expiry: float = 5.0) -> None:
        httpx = _httpx()
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self.base_path = parts.path.rstrip("/")
        self.query = parts.query
        self._client = httpx.AsyncClient(
            headers=dict(headers), timeout=timeout, trust_env=True,
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=max_keepalive,
                                keepalive_expiry=keepalive_expiry))

    async def send(self, method: bytes, target: bytes, body: bytes | None = None,
                   headers: Headers = ()) -> _HttpxExchange:
        request = self._client.build_request(method.decode(), self._origin + target.decode(), content=body,
                                             headers=[(k.decode(), v.decode()) for k, v in headers])
        return _HttpxExchange(await self._client.send(request, stream=True))

    async def aclose(self) -> None:
        await self._client.aclose()

