"""SSRF-safe HTTP for the tools.

Every hop of a request goes through ``check_url``: only http/https, no
userinfo, the goal's domain allowlist, then the host is resolved ONCE and every
resolved address must be global (see ``address_refusal``). The connection is
then made to exactly those checked addresses by ``_PinnedBackend`` (an httpcore
network backend), while the Host header, TLS SNI and certificate verification
still use the name. Redirects are followed by hand, re-checking each hop.

Failures:
    ToolRefused  the URL or an address it resolves to is not allowed, or a
                 redirect leads somewhere not allowed.
    ToolError    DNS failure, connection failure, timeout, too many redirects,
                 a redirect to an invalid URL, a non-text content type, a body
                 in an encoding we cannot decode.

Bodies are capped by their decoded size (``read_capped``): a compressed
body is expanded in bounded steps, so a compression bomb stops at the cap.
"""

from __future__ import annotations

import codecs
import ipaddress
import ssl
import urllib.parse
import zlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from email.message import Message as _HeaderParser
from typing import Any

import httpcore
import httpx
import msgspec
import sniffio
import trio

from ..shared.config import ToolsConfig
from ..protocol.errors import ToolError, ToolRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

TEXT_TYPES = (
    "application/json",
    "application/ld+json",
    "application/xml",
    "application/rss+xml",
    "application/atom+xml",
    "application/xhtml+xml",
    "application/feed+json",
)
REDIRECT_CODES = (301, 302, 303, 307, 308)

_NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
_SIXTOFOUR = ipaddress.ip_network("2002::/16")
_TEREDO = ipaddress.ip_network("2001::/32")
_IPV4_COMPAT = ipaddress.ip_network("::/96")
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NET = ipaddress.ip_network("0.0.0.0/8")
_METADATA = ipaddress.ip_address("169.254.169.254")


class FetchResult(msgspec.Struct, frozen=True):
    url: str
    final_url: str
    status: int
    content_type: str
    text: str
    truncated: bool


@dataclass(frozen=True)
class Target:
    """A URL that passed the checks, with the addresses to connect to."""

    url: httpx.URL
    host: str
    port: int
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class NetPolicy:
    """What a request may reach. ``allowed_domains`` empty means any public host."""

    tools: ToolsConfig
    allowed_domains: tuple[str, ...] = ()
    resolve: Resolver | None = None  # tests inject a fake DNS; default getaddrinfo
    # Called with (from URL, to URL) before a redirect is followed; raises
    # ToolRefused to stop it (the run's exfiltration guard, agentd.guard).
    redirect_check: Callable[[str, str], None] | None = None

    @classmethod
    def of(cls, ctx_or_policy: Any) -> "NetPolicy":
        """Accept a NetPolicy, or a ToolContext (``.tools``, ``.goal`` and ``.redirect_check``)."""
        if isinstance(ctx_or_policy, NetPolicy):
            return ctx_or_policy
        return cls(ctx_or_policy.tools, tuple(ctx_or_policy.goal.allowed_domains or ()),
                   redirect_check=getattr(ctx_or_policy, "redirect_check", None))


# ---------------------------------------------------------------- addresses

def address_refusal(ip: IPAddress) -> str | None:
    """Why ``ip`` may not be reached, or None if it is a global unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return _v4_refusal(ip.ipv4_mapped, "IPv4-mapped ")
        if ip in _TEREDO:
            return "a Teredo tunnel address"
        if ip in _SIXTOFOUR:
            return _v4_refusal(ip.sixtofour, "6to4-embedded ") if ip.sixtofour else "a 6to4 address"
        for net in _NAT64:
            if ip in net:
                return _v4_refusal(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF), "NAT64-embedded ") or (
                    "a local-use NAT64 address" if net.prefixlen == 48 else None
                )
        if ip in _IPV4_COMPAT:
            return "an IPv4-compatible or unspecified IPv6 address"
        if ip.is_site_local:
            return "a site-local address"
        return _common_refusal(ip)
    return _v4_refusal(ip, "")


def _v4_refusal(ip: ipaddress.IPv4Address, prefix: str) -> str | None:
    if ip == _METADATA:
        return f"the {prefix}cloud metadata address"
    if ip in _CGNAT:
        return f"a {prefix}carrier-grade NAT address"
    if ip in _THIS_NET:
        return f"a {prefix}'this network' address"
    reason = _common_refusal(ip)
    return f"{prefix}{reason}" if reason and prefix else reason


def _common_refusal(ip: IPAddress) -> str | None:
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private-network address"),
        ("is_reserved", "a reserved address"),
    )
    for attr, reason in checks:
        if getattr(ip, attr):
            return reason
    return None if ip.is_global else "not a global address"


async def resolve_host(host: str, port: int) -> list[str]:
    """Resolve ``host`` with getaddrinfo; addresses in the resolver's order."""
    try:
        infos = await trio.socket.getaddrinfo(host, port, type=trio.socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise ToolError(f"could not resolve host {host!r}: {exc}") from exc
    out: list[str] = []
    for _family, _type, _proto, _canon, sockaddr in infos:
        if sockaddr[0] not in out:
            out.append(sockaddr[0])
    return out


# ---------------------------------------------------------------- URL checks

def host_allowed(host: str, allowed_domains: Iterable[str]) -> bool:
    """Exact host or a subdomain of an entry; no entries means any host."""
    entries = [d.strip().lower().rstrip(".") for d in allowed_domains if d.strip()]
    if not entries:
        return True
    host = host.lower().rstrip(".")
    return any(host == d or host.endswith("." + d) for d in entries)


def _shown(host: str) -> str:
    """``host`` as written in a URL or a ``host:port``: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def _local_name(host: str) -> bool:
    return host == "localhost" or host.endswith(".localhost")


def _private_allowed(host: str, port: int, tools: ToolsConfig) -> bool:
    if tools.allow_private_networks:
        return True
    host = host.lower().rstrip(".")
    shown = _shown(host)
    allowed = {h.strip().lower() for h in tools.private_hosts_allowed}
    return host in allowed or shown in allowed or f"{shown}:{port}" in allowed


def parse_url(url: str) -> httpx.URL:
    """Parse and check the shape of ``url`` (scheme, userinfo, host)."""
    if any(ch in url for ch in "\x00\r\n\t\\") or url != url.strip():
        raise ToolRefused("the URL contains whitespace, a backslash or control characters")
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise ToolError(f"not a valid URL: {url!r} ({exc})") from exc
    if parsed.scheme not in ("http", "https"):
        raise ToolRefused(f"only http and https URLs are allowed, not {parsed.scheme or 'no scheme'!r}")
    if parsed.userinfo:
        raise ToolRefused("URLs with a user name or password (user@host) are not allowed")
    if not parsed.host:
        raise ToolRefused("the URL has no host")
    return parsed


async def check_url(url: str | httpx.URL, policy: NetPolicy) -> Target:
    """Check one hop: shape, allowlist, name, resolved addresses."""
    parsed = parse_url(str(url))
    host = parsed.host.lower().rstrip(".")
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    if not host_allowed(host, policy.allowed_domains):
        raise ToolRefused(
            f"{host} is not in this goal's allowed domains ({', '.join(policy.allowed_domains)})"
        )
    private_ok = _private_allowed(host, port, policy.tools)
    hostport = f"{_shown(host)}:{port}"
    if not private_ok and _local_name(host):
        raise ToolRefused(f"{host} is a local host name; only public hosts may be reached", private_host=hostport)
    addresses = await (policy.resolve or resolve_host)(host, port)
    if not addresses:
        raise ToolError(f"host {host!r} resolved to no addresses")
    if not private_ok:
        for addr in addresses:
            reason = address_refusal(ipaddress.ip_address(addr.split("%")[0]))
            if reason:
                raise ToolRefused(
                    f"{host} resolves to {reason}; only public internet addresses may be reached",
                    private_host=hostport,
                )
    return Target(parsed, host, port, tuple(addresses))


def allow_private_hint(hostport: str) -> str:
    """How the person allows a non-public ``host:port`` they trust (a LAN or loopback receiver)."""
    return (f"to allow it, add {hostport} to [tools] private_hosts_allowed in config.toml, e.g. "
            f"`agentctl config set tools.private_hosts_allowed {hostport}` (a comma-separated list: keep the "
            "hosts already there), then `agentctl server reload`")


def private_refusal(host: str, port: int, tools: ToolsConfig) -> str | None:
    """Why a URL's literal host (an IP address or a ``localhost`` name) will be
    refused under ``tools``, with how to allow it; None when it is allowed or
    only DNS can tell. No DNS lookup: for checks at configuration time."""
    host = host.lower().rstrip(".").strip("[]")
    if _private_allowed(host, port, tools):
        return None
    hostport = f"{_shown(host)}:{port}"
    if _local_name(host):
        return f"{host} is a local host name, which agentd does not reach unless allowed; {allow_private_hint(hostport)}"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return None
    reason = address_refusal(ip)
    if reason is None:
        return None
    return f"{host} is {reason}, which agentd does not reach unless allowed; {allow_private_hint(hostport)}"


# ---------------------------------------------------------------- pinned connections

class _PinnedBackend(httpcore.AsyncNetworkBackend):
    """Connects (host, port) only to the addresses ``check_url`` approved."""

    def __init__(self) -> None:
        self.pins: dict[tuple[str, int], tuple[str, ...]] = {}

    def _inner(self) -> httpcore.AsyncNetworkBackend:
        if sniffio.current_async_library() == "trio":
            return httpcore.TrioBackend()
        return httpcore.AnyIOBackend()

    async def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        addresses = self.pins.get((host.lower().rstrip("."), port))
        if not addresses:
            raise httpcore.ConnectError(f"{host}:{port} was not checked before connecting")
        last: Exception | None = None
        for addr in addresses:
            try:
                return await self._inner().connect_tcp(addr, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(self, path, timeout=None, socket_options=None):
        raise httpcore.ConnectError("unix sockets are not allowed")

    async def sleep(self, seconds: float) -> None:
        await self._inner().sleep(seconds)


class _PinnedTransport(httpx.AsyncBaseTransport):
    """An httpx transport over an httpcore pool that uses ``_PinnedBackend``."""

    def __init__(self, backend: _PinnedBackend) -> None:
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(), network_backend=backend, retries=0
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        req = httpcore.Request(
            method=request.method,
            url=httpcore.URL(
                scheme=request.url.raw_scheme, host=request.url.raw_host,
                port=request.url.port, target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        try:
            resp = await self._pool.handle_async_request(req)
        except httpcore.TimeoutException as exc:
            raise httpx.TimeoutException(str(exc) or "timed out", request=request) from exc
        except (httpcore.NetworkError, httpcore.ProtocolError, OSError) as exc:
            raise httpx.TransportError(str(exc) or type(exc).__name__, request=request) from exc
        return httpx.Response(
            status_code=resp.status, headers=resp.headers, stream=_Stream(resp.stream),
            extensions=resp.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()


class _Stream(httpx.AsyncByteStream):
    def __init__(self, inner: Any) -> None:
        self._inner = inner

    async def __aiter__(self):
        try:
            async for part in self._inner:
                yield part
        except httpcore.TimeoutException as exc:
            raise httpx.ReadTimeout(str(exc) or "read timed out") from exc
        except (httpcore.NetworkError, httpcore.ProtocolError) as exc:
            raise httpx.ReadError(str(exc) or type(exc).__name__) from exc

    async def aclose(self) -> None:
        if hasattr(self._inner, "aclose"):
            await self._inner.aclose()


@dataclass
class PinnedClient:
    """Requests whose every connection goes to a checked address.

    ``send`` hands the request straight to the pinned transport: no httpx
    redirect handling (we follow redirects by hand, re-checking each hop),
    so a response with a malformed ``Location`` is still a response, never
    an exception raised while httpx builds a redirect we would not follow."""

    policy: NetPolicy
    backend: _PinnedBackend = field(default_factory=_PinnedBackend)
    transport: _PinnedTransport | None = None

    async def __aenter__(self) -> "PinnedClient":
        self.transport = _PinnedTransport(self.backend)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.transport is not None
        await self.transport.aclose()

    async def check(self, url: str | httpx.URL) -> Target:
        target = await check_url(url, self.policy)
        self.backend.pins[(target.host, target.port)] = target.addresses
        return target

    async def send(self, method: str, target: Target, *, headers: dict[str, str] | None = None,
                   content: bytes | None = None) -> httpx.Response:
        """Send one request to a checked ``target``; the response is streamed
        (read it with ``read_capped``, then ``aclose`` it)."""
        assert self.transport is not None
        tools = self.policy.tools
        request = httpx.Request(
            method, target.url, content=content,
            headers={"user-agent": tools.user_agent, "accept-encoding": ACCEPT_ENCODING, **(headers or {})},
            extensions={"timeout": httpx.Timeout(tools.fetch_timeout_s).as_dict()},
        )
        response = await self.transport.handle_async_request(request)
        response.request = request
        return response


# ---------------------------------------------------------------- bodies

ACCEPT_ENCODING = "gzip, deflate"
_CHUNK = 64 * 1024


class _Inflater:
    """Undo one Content-Encoding (gzip or deflate, raw or zlib-wrapped) in
    bounded steps: no single call returns more than ``_CHUNK`` bytes, so a
    compression bomb is cut at the cap instead of being expanded into memory."""

    def __init__(self, coding: str) -> None:
        self._coding = coding
        self._z = zlib.decompressobj(16 + zlib.MAX_WBITS if coding in ("gzip", "x-gzip") else zlib.MAX_WBITS)
        self._first = coding == "deflate"

    def feed(self, data: bytes):
        """Yield the decoded bytes of ``data``, at most ``_CHUNK`` at a time."""
        while data:
            try:
                out = self._z.decompress(data, _CHUNK)
            except zlib.error:
                if not self._first:
                    raise
                self._z = zlib.decompressobj(-zlib.MAX_WBITS)  # "deflate" sent without its zlib header
                out = self._z.decompress(data, _CHUNK)
            self._first = False
            data = self._z.unconsumed_tail
            if out:
                yield out
            if self._z.eof:
                return


async def read_capped(response: httpx.Response, cap: int) -> tuple[bytes, bool]:
    """(body, truncated): at most ``cap`` decoded bytes of ``response``.

    Raw bytes are decoded here, in bounded steps, whatever the server sent:
    the cap holds for the decoded size, and a gzip bomb costs no more memory
    than the cap. Raises ToolError for a Content-Encoding other than
    identity/gzip/deflate, or a body that does not decode."""
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",") if c.strip()]
    codings = [c for c in codings if c != "identity"]
    if any(c not in ("gzip", "x-gzip", "deflate") for c in codings):
        raise ToolError(f"the server sent the body encoded as {', '.join(codings)!r}, which cannot be read "
                        "(only gzip and deflate)")
    inflaters = [_Inflater(c) for c in reversed(codings)]
    chunks: list[bytes] = []
    size = 0

    def decoded(data: bytes, level: int = 0):
        if level == len(inflaters):
            yield data
            return
        for part in inflaters[level].feed(data):
            yield from decoded(part, level + 1)

    try:
        async for raw in response.aiter_raw():
            for part in decoded(raw):
                if size + len(part) > cap:
                    chunks.append(part[: cap - size])
                    return b"".join(chunks), True
                chunks.append(part)
                size += len(part)
    except zlib.error as exc:
        raise ToolError(f"the body does not decode as {', '.join(codings)} ({exc})") from exc
    return b"".join(chunks), False


# ---------------------------------------------------------------- fetch

def is_text_type(content_type: str) -> bool:
    mime = content_type.split(";", 1)[0].strip().lower()
    return mime.startswith("text/") or mime in TEXT_TYPES or mime.endswith(("+xml", "+json"))


def _charset(content_type: str) -> str:
    msg = _HeaderParser()
    msg["content-type"] = content_type or "text/plain"
    name = msg.get_param("charset") or "utf-8"
    try:
        return codecs.lookup(str(name)).name
    except LookupError:
        return "utf-8"


async def fetch(
    url: str,
    ctx: Any,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    content: bytes | None = None,
    max_bytes: int | None = None,
    text_only: bool = True,
) -> FetchResult:
    """Request ``url`` with every hop checked; return the (capped) text body.

    ``ctx`` is a ToolContext or a NetPolicy. Redirects are followed up to
    ``max_redirects``; a 303 (or 301/302 after a POST) becomes a GET. The
    whole call is bounded by ``fetch_timeout_s``. Non-2xx statuses are
    returned, not raised. Raises ToolRefused / ToolError as the module says.
    """
    policy = NetPolicy.of(ctx)
    tools = policy.tools
    cap = tools.max_fetch_bytes if max_bytes is None else max_bytes
    try:
        with trio.fail_after(tools.fetch_timeout_s):
            async with PinnedClient(policy) as pc:
                return await _follow(pc, url, method, headers or {}, content, cap, text_only)
    except trio.TooSlowError:
        raise ToolError(f"fetching {url} took longer than {tools.fetch_timeout_s:g} s") from None
    except httpx.TimeoutException as exc:
        raise ToolError(f"fetching {url} timed out: {exc}") from exc
    except httpx.HTTPError as exc:
        raise ToolError(f"fetching {url} failed: {exc}") from exc


async def _follow(pc: PinnedClient, url: str, method: str, headers: dict[str, str],
                  content: bytes | None, cap: int, text_only: bool) -> FetchResult:
    current: str | httpx.URL = url
    for hop in range(pc.policy.tools.max_redirects + 1):
        target = await pc.check(current)
        response = await pc.send(method, target, headers=headers, content=content)
        try:
            location = response.headers.get("location")
            if response.status_code in REDIRECT_CODES and location:
                current = redirect_target(target.url, location)
                if pc.policy.redirect_check is not None:
                    pc.policy.redirect_check(str(target.url), str(current))
                if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                    method, content = "GET", None
                continue
            return await _read(response, url, str(target.url), cap, text_only)
        finally:
            await response.aclose()
    raise ToolError(f"{url} redirected more than {pc.policy.tools.max_redirects} times; giving up")


def redirect_target(base: httpx.URL, location: str) -> httpx.URL:
    """The absolute URL a ``Location`` header points to; ToolError if it is not a usable URL."""
    try:
        url = base.join(location.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ToolError(f"{base} redirected to an invalid URL ({location[:200]!r}: {exc})") from exc
    return url  # scheme, host and addresses are checked like every hop


async def _read(response: httpx.Response, url: str, final_url: str, cap: int, text_only: bool) -> FetchResult:
    content_type = response.headers.get("content-type", "")
    ok = 200 <= response.status_code < 300
    if text_only and ok and not is_text_type(content_type):
        raise ToolError(
            f"{final_url} has content type {content_type or 'unknown'!r}; only text, HTML, JSON and XML can be read"
        )
    body, truncated = await read_capped(response, cap)
    text = body.decode(_charset(content_type), errors="replace")
    return FetchResult(url, final_url, response.status_code, content_type, text, truncated)


def url_for_display(url: str) -> str:
    """The URL without query and fragment (for log lines that might carry tokens)."""
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
