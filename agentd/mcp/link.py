"""One supervised connection to one MCP server.

``serve`` runs until cancelled: connect (spawn the command, or open the URL),
initialize, list the tools, then hold the session — re-listing on the
server's ``tools/list_changed`` notification and pinging it every
``ping_interval_s`` — until the connection is lost. A server that fails to
start, hangs at start (``start_timeout_s``), crashes or stops answering is
``unavailable`` with the reason and started again after a backoff (1 s,
doubling up to ``restart_max_delay_s``; back to 1 s after a connection that
lasted). Its last tool listing is kept meanwhile, so its tools stay known
(and shown as unavailable).

A stdio server's stderr goes to agentd's log, line by line, with the server's
name. Its environment is agentd's safe default (PATH, HOME, ...) plus the
configured ``env``, whose values are never logged.

``call`` waits (bounded) for a server that is starting, sends the call and
returns the SDK's result. A call the connection lost is repeated once after
the restart only when the tool is safe to repeat (read-only or idempotent);
otherwise its outcome is unknown and the ToolError says so.
"""

from __future__ import annotations

import contextlib
import math
import os
from collections.abc import Callable
from typing import Any

import trio

from .. import __version__, log
from ..protocol.errors import ToolError
from ..shared.mcp import McpServer

_log = log.get("agentd.mcp")
_CONNECTION_CLOSED = -32000


class ConnectionLost(Exception):
    """The session ended under a call (the server exited, the stream broke)."""


class ServerLink:
    def __init__(self, cfg: McpServer, *, restart_max_delay_s: float = 60.0, ping_interval_s: float = 15.0,
                 on_change: Callable[[], None] = lambda: None) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.restart_max_delay_s = restart_max_delay_s
        self.ping_interval_s = ping_interval_s
        self.on_change = on_change
        self.state = "starting"  # starting | ready | unavailable | stopped
        self.reason: str | None = None
        self.tools: list[Any] = []  # the last listing (mcp_types.Tool), kept while the server is down
        self.starts = 0
        self.failures = 0
        self._changed = trio.Event()  # replaced at every change of state
        self.server_info: str = ""
        self.attempted = trio.Event()  # the first start attempt ended (either way)
        self._ready = trio.Event()
        self.listed = trio.Event()  # not set while a tools/list_changed waits for the new listing
        self.listed.set()
        self._session: Any = None
        self._lost: trio.Event | None = None

    # ---------------------------------------------------------------- supervision
    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        delay = 1.0
        try:
            while True:
                began = trio.current_time()
                try:
                    await self._session_once()
                    reason = self.reason or "the connection ended"
                except Exception as exc:  # noqa: BLE001 - whatever the server did, it is restarted
                    reason = _describe(exc, self.cfg.start_timeout_s)
                self.failures += 1
                self._set("unavailable", reason)
                self.attempted.set()
                if trio.current_time() - began > 60:
                    delay = 1.0
                _log.warning("mcp server unavailable; restarting", server=self.name, reason=reason,
                             retry_in_s=delay)
                await trio.sleep(delay)
                delay = min(delay * 2, self.restart_max_delay_s)
                self._set("starting", reason)  # the last failure's reason stays until it is ready
        finally:
            self._set("stopped", "stopped")

    def _set(self, state: str, reason: str | None) -> None:
        self.state, self.reason = state, reason
        self._changed.set()
        self._changed = trio.Event()
        if state == "ready":
            self._ready.set()
        elif self._ready.is_set():
            self._ready = trio.Event()
        self.on_change()

    async def _session_once(self) -> None:
        from mcp.client.session import ClientSession
        import mcp_types as types

        self.starts += 1
        lost = self._lost = trio.Event()
        self._relist = trio.Event()

        async def on_message(message: Any) -> None:
            if isinstance(message, Exception):
                self.reason = f"the connection broke: {_one_line(message)}"
                lost.set()
            elif isinstance(message, types.ToolListChangedNotification):
                if self.listed.is_set():
                    self.listed = trio.Event()
                self._relist.set()

        # One scope around the whole session (the transport's task groups must
        # close inside it); its deadline bounds the start, then is lifted.
        with trio.CancelScope(deadline=trio.current_time() + self.cfg.start_timeout_s) as start:
            async with contextlib.AsyncExitStack() as stack:
                streams = await stack.enter_async_context(self._transport())
                session = await stack.enter_async_context(ClientSession(
                    *streams, message_handler=on_message,
                    client_info=types.Implementation(name="agentd", version=__version__)))
                init = await session.initialize()
                info = getattr(init, "server_info", None)
                self.server_info = f"{info.name} {info.version}" if info is not None else ""
                self.tools = await _list_tools(session)
                start.deadline = math.inf
                self._session = session
                self._set("ready", None)
                self.attempted.set()
                _log.info("mcp server ready", server=self.name, server_info=self.server_info,
                          tools=len(self.tools))
                try:
                    async with trio.open_nursery() as nursery:
                        nursery.start_soon(self._pinger, session, lost)
                        nursery.start_soon(self._relister, session, lost)
                        await lost.wait()
                        nursery.cancel_scope.cancel()
                finally:
                    self._session = None
        if start.cancelled_caught:
            raise trio.TooSlowError

    def _transport(self):
        cfg = self.cfg
        if cfg.url:
            return _http_transport(cfg.url, dict(cfg.headers))
        from mcp.client.stdio import StdioServerParameters, stdio_client

        params = StdioServerParameters(command=cfg.command, args=list(cfg.args), env=dict(cfg.env) or None,
                                       cwd=cfg.cwd)
        return _with_stderr(lambda errlog: stdio_client(params, errlog=errlog), self.name)

    async def _pinger(self, session: Any, lost: trio.Event) -> None:
        while True:
            await trio.sleep(self.ping_interval_s)
            try:
                with trio.fail_after(min(self.ping_interval_s, 30.0)):
                    await session.send_ping()
            except Exception as exc:  # noqa: BLE001 - any failure of a ping means the server is gone
                self.reason = f"no answer to a ping: {_describe(exc, self.ping_interval_s)}"
                lost.set()
                return

    async def _relister(self, session: Any, lost: trio.Event) -> None:
        while True:
            await self._relist.wait()
            self._relist = trio.Event()
            try:
                self.tools = await _list_tools(session)
            except Exception as exc:  # noqa: BLE001
                self.reason = f"listing its tools failed: {_one_line(exc)}"
                lost.set()
                return
            finally:
                self.listed.set()
            _log.info("mcp server tools changed", server=self.name, tools=len(self.tools))
            self.on_change()

    async def settled(self, timeout: float) -> None:
        """Wait (at most ``timeout``) until the server is ready or a start
        attempt that was not over yet has failed."""
        failures = self.failures + 1  # the attempt under way, or the next one
        with trio.move_on_after(timeout):
            while self.state != "ready" and self.failures < failures:
                await self._changed.wait()

    # ---------------------------------------------------------------- calls
    async def wait_ready(self, timeout: float) -> bool:
        with trio.move_on_after(timeout):
            await self._ready.wait()
        return self.state == "ready"

    async def call(self, tool: str, args: dict[str, Any], *, timeout: float, safe_to_repeat: bool) -> Any:
        """The server's CallToolResult. Raises ToolError: unavailable, refused
        (a JSON-RPC error), or the connection lost (then repeated once if safe)."""
        for attempt in (1, 2):
            # A server starting gets its start time; one being replaced under a repeated
            # call gets the call's whole timeout (the tool's deadline still bounds both).
            if not await self.wait_ready(min(timeout, self.cfg.start_timeout_s) if attempt == 1 else timeout):
                raise ToolError(f"the MCP server {self.name!r} is unavailable ({self.reason or self.state}); "
                                "try again later or go on without it", server=self.name)
            try:
                return await self._call_once(tool, args, timeout)
            except ConnectionLost as exc:
                if attempt == 1 and safe_to_repeat:
                    _log.warning("mcp call lost with its connection; repeating it (read-only or idempotent)",
                                 server=self.name, tool=tool)
                    continue
                if safe_to_repeat:
                    raise ToolError(f"the MCP server {self.name!r} was lost during the call twice ({exc})",
                                    server=self.name) from None
                raise ToolError(f"the MCP server {self.name!r} was lost during the call ({exc}); its OUTCOME IS "
                                "UNKNOWN and it was not repeated, because this tool may have side effects. Check "
                                "before calling it again.", server=self.name) from None
        raise AssertionError("unreachable")

    async def _call_once(self, tool: str, args: dict[str, Any], timeout: float) -> Any:
        from mcp.shared.exceptions import MCPError
        import anyio

        session, lost = self._session, self._lost
        if session is None or lost is None:
            raise ConnectionLost("not connected")
        try:
            return await session.call_tool(tool, args, read_timeout_seconds=timeout)
        except MCPError as exc:
            if exc.code == _CONNECTION_CLOSED or lost.is_set():
                self._mark_lost(lost, exc)
                raise ConnectionLost(_one_line(exc)) from None
            raise ToolError(f"the MCP server {self.name!r} refused the call: {exc.error.message}",
                            server=self.name) from None
        except (anyio.ClosedResourceError, anyio.BrokenResourceError, anyio.EndOfStream, OSError) as exc:
            self._mark_lost(lost, exc)
            raise ConnectionLost(_one_line(exc) or type(exc).__name__) from None

    def _mark_lost(self, lost: trio.Event, exc: BaseException) -> None:
        if not lost.is_set():
            self.reason = f"the connection was lost: {_one_line(exc) or type(exc).__name__}"
            lost.set()
        if self.state == "ready":
            self._set("starting", self.reason)


@contextlib.asynccontextmanager
async def _http_transport(url: str, headers: dict[str, str]):
    """The streamable HTTP transport on a client of our own (for the headers),
    closed with it."""
    import httpx2
    from mcp.client.streamable_http import streamable_http_client

    async with httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30.0, read=300.0)) as client:
        async with streamable_http_client(url, http_client=client) as streams:
            yield streams


@contextlib.asynccontextmanager
async def _with_stderr(open_transport, server: str):
    """The stdio transport, its stderr on a pipe whose lines a task logs."""
    read_fd, write_fd = os.pipe()
    errlog = os.fdopen(write_fd, "w")
    reading = False
    try:
        async with trio.open_nursery() as nursery:
            async with open_transport(errlog) as streams:
                errlog.close()  # spawned: the child has its own copy; ours must go for the reader to see EOF
                nursery.start_soon(_log_stderr, server, read_fd)
                reading = True
                yield streams
            nursery.cancel_scope.deadline = trio.current_time() + 2.0  # what the exiting server wrote last
    finally:
        errlog.close()
        if not reading:
            os.close(read_fd)


async def _log_stderr(server: str, fd: int) -> None:
    stream = trio.lowlevel.FdStream(fd)
    buf = b""
    try:
        async with stream:
            while True:
                chunk = await stream.receive_some(65536)
                if not chunk:
                    break
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    _emit(server, line)
                if len(buf) > 65536:
                    _emit(server, buf)
                    buf = b""
    finally:
        if buf:
            _emit(server, buf)


def _emit(server: str, line: bytes) -> None:
    text = line.decode("utf-8", "replace").rstrip()
    if text:
        _log.info("mcp server stderr", server=server, line=text[:2000])


async def _list_tools(session: Any) -> list[Any]:
    import mcp_types as types

    tools: list[Any] = []
    cursor = None
    for _ in range(100):  # pages; a server that never stops paging is cut
        page = await session.list_tools(params=types.PaginatedRequestParams(cursor=cursor) if cursor else None)
        tools += page.tools
        cursor = getattr(page, "next_cursor", None)
        if not cursor:
            break
    return tools


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300]


def _describe(exc: BaseException, start_timeout_s: float) -> str:
    if isinstance(exc, trio.TooSlowError):
        return f"it did not answer within {start_timeout_s:g} s"
    if isinstance(exc, BaseExceptionGroup):
        leaves = [e for e in _leaves(exc)]
        return "; ".join(_describe(e, start_timeout_s) for e in leaves[:3])
    if isinstance(exc, FileNotFoundError):
        return f"cannot start it: {exc.strerror}: {exc.filename}"
    text = _one_line(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _leaves(group: BaseExceptionGroup):
    for e in group.exceptions:
        if isinstance(e, BaseExceptionGroup):
            yield from _leaves(e)
        else:
            yield e
