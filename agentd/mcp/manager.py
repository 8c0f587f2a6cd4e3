"""Every configured MCP server, and their tools as a source of the registry.

``McpManager.serve`` (started by the daemon) runs one supervised
``ServerLink`` per enabled server; ``reconfigure`` (``daemon.reload``) stops
the servers that were removed or changed and starts the new ones.

``McpTools`` is what the tool registry asks: the tools of every server by the
name the model sees (``server__tool``), ``server.*`` and ``server.tool`` in a
goal's tools, JSON-Schema checks of the arguments, and ``tool.list`` rows.
Each tool runs behind its circuit breaker and timeout like a built-in one.

A tool's effects come from the server's annotations: read-only
(``readOnlyHint``), idempotent (``idempotentHint``, or read-only), external
(``openWorldHint``, true unless the server says false). One that is neither
read-only nor idempotent has a side effect: a call of it that a crash left
without outcome is recorded unknown and never repeated. A name of a
configured server whose tool is not (yet) listed is treated the same way.
"""

from __future__ import annotations

from typing import Any

import trio

from .. import log
from ..protocol.errors import ToolError
from ..protocol import methods as m
from . import convert
from .link import ServerLink
from ..shared.mcp import SEPARATOR, McpConfig, McpServer

_log = log.get("agentd.mcp")
STOP_MARGIN_S = 10.0  # a failed start also stops the process (the SDK waits for it to exit)


class McpManager:
    def __init__(self, cfg: McpConfig) -> None:
        self.cfg = cfg
        self.links: dict[str, ServerLink] = {}
        self._scopes: dict[str, trio.CancelScope] = {}
        self._nursery: trio.Nursery | None = None
        self.version = 0  # bumped whenever a server's state or tools change

    def _changed(self) -> None:
        self.version += 1

    def make_source(self, board: Any, tools_config: Any) -> "McpTools":
        """The registry's source of this manager's tools, each behind its
        breaker (``board``) and timeout (``tools_config()``'s, else the server's).
        Kept as ``self.source`` for the registries a reload builds."""
        from ..breaker import GuardedTool

        def guard(tool: Any) -> Any:
            if board is None:
                return tool
            return GuardedTool(tool, board.get(f"tool:{tool.name}"),
                               lambda: float(tools_config().timeouts.get(tool.name, tool.timeout_s)))

        self.source = McpTools(self, guard)
        return self.source

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for s in self.cfg.servers:
                self._start(s)
            task_status.started()
            await trio.sleep_forever()

    def _start(self, s: McpServer) -> None:
        if not s.enabled or self._nursery is None:
            return
        link = ServerLink(s, restart_max_delay_s=self.cfg.restart_max_delay_s,
                          ping_interval_s=self.cfg.ping_interval_s, on_change=self._changed)
        scope = trio.CancelScope()
        self.links[s.name], self._scopes[s.name] = link, scope

        async def run() -> None:
            with scope:
                await link.serve()

        self._nursery.start_soon(run)
        self._changed()

    def reconfigure(self, cfg: McpConfig) -> list[str]:
        """Apply a new configuration; returns what changed (for the reload's report)."""
        old = {s.name: s for s in self.cfg.servers}
        new = {s.name: s for s in cfg.servers}
        self.cfg = cfg
        changes: list[str] = []
        for name, s in old.items():
            if new.get(name) != s:
                scope = self._scopes.pop(name, None)
                if scope is not None:
                    scope.cancel()
                self.links.pop(name, None)
                changes.append(f"mcp server {name} " + ("stopped" if name not in new else "restarted"))
        for name, s in new.items():
            if old.get(name) != s:
                self._start(s)
                if name not in old:
                    changes.append(f"mcp server {name} started")
        self._changed()
        return changes

    # ---------------------------------------------------------------- runs
    def servers_named(self, allowed: list[str] | None) -> set[str]:
        out: set[str] = set()
        for entry in allowed or ():
            parts = convert.spelled(entry)
            if parts is not None and any(s.name == parts[0] for s in self.cfg.servers):
                out.add(parts[0])
        return out

    async def wait_for(self, servers: set[str]) -> str | None:
        """Wait (each server's start_timeout_s at most) until the servers are
        ready; the reason when one is not."""
        for name in sorted(servers):
            link = self.links.get(name)
            if link is None:
                continue
            with trio.move_on_after(link.cfg.start_timeout_s + STOP_MARGIN_S):
                await link.attempted.wait()
            if link.state != "ready" and not await link.wait_ready(link.cfg.start_timeout_s):
                return f"MCP server {name!r} is unavailable: {link.reason or link.state}"
            with trio.move_on_after(link.cfg.start_timeout_s):  # a tools/list_changed being answered
                await link.listed.wait()
        return None

    # ---------------------------------------------------------------- status
    def states(self) -> list[m.McpServerState]:
        out = []
        for s in self.cfg.servers:
            link = self.links.get(s.name)
            out.append(m.McpServerState(
                name=s.name, transport=s.transport, target=s.target(), enabled=s.enabled,
                state=link.state if link else "disabled", reason=link.reason if link else None,
                tools=[convert.model_name(s.name, t.name) for t in (link.tools if link else [])],
                server_info=link.server_info if link else "", starts=link.starts if link else 0))
        return out

    async def check(self, name: str) -> m.McpServerState:
        link = self.links.get(name)
        if link is not None:
            await link.settled(self.cfg.restart_max_delay_s + link.cfg.start_timeout_s + STOP_MARGIN_S)
        for st in self.states():
            if st.name == name:
                return st
        from ..protocol.errors import NotFound

        known = ", ".join(s.name for s in self.cfg.servers) or "none is configured"
        raise NotFound(f"no MCP server named {name!r} ({known}); add one with `agentctl mcp add`", name=name)


class McpTool:
    """One tool of one server, by the contract of agentd.tools.base.Tool."""

    Params = None
    default = False

    def __init__(self, link: ServerLink, spec: Any) -> None:
        self.link = link
        self.remote = spec.name
        self.name = convert.model_name(link.name, spec.name)
        self.description = (spec.description or spec.title or spec.name).strip() + f" (MCP server {link.name})"
        self.schema = convert.input_schema(spec.input_schema)
        self._validator = convert.validator(self.schema)
        ann = spec.annotations
        self.read_only = bool(ann and ann.read_only_hint)
        self.idempotent = self.read_only or bool(ann and ann.idempotent_hint)
        self.external = not (ann and ann.open_world_hint is False)
        self.side_effect = not self.idempotent
        self.timeout_s = link.cfg.timeout_s

    def decode(self, raw: str) -> dict[str, Any]:
        return convert.check_arguments(self.name, raw, self._validator)

    async def run(self, params: dict[str, Any], ctx: Any) -> str:
        result = await self.link.call(self.remote, params, timeout=self.timeout_s, safe_to_repeat=self.idempotent)
        return convert.result_text(self.name, result)


class UnlistedTool:
    """A ``server__name`` of a configured server that its listing does not
    have (the server is down, or dropped the tool). Assumed to have side
    effects: a call of it left pending by a crash is never repeated."""

    Params = None
    default = False
    read_only = idempotent = False
    external = side_effect = True
    schema: dict[str, Any] = {"type": "object", "properties": {}}

    def __init__(self, name: str, link: ServerLink) -> None:
        self.name, self.link = name, link
        self.description = f"a tool of MCP server {link.name} that it does not list now"
        self.timeout_s = link.cfg.timeout_s

    def decode(self, raw: str) -> dict[str, Any]:
        return convert.check_arguments(self.name, raw, None)

    async def run(self, params: Any, ctx: Any) -> str:
        why = f"is unavailable ({self.link.reason or self.link.state})" if self.link.state != "ready" \
            else "does not list this tool now"
        raise ToolError(f"{self.name}: the MCP server {self.link.name!r} {why}", tool=self.name)


class McpTools:
    """The registry's source of MCP tools (see ToolRegistry.sources)."""

    def __init__(self, manager: McpManager, guard=None) -> None:
        self.manager = manager
        self._guard = guard or (lambda tool: tool)  # wraps a tool in its breaker and timeout
        self._version = -1
        self._tools: dict[str, Any] = {}
        self._raw: dict[str, Any] = {}

    def _refresh(self) -> None:
        if self._version == self.manager.version:
            return
        raw: dict[str, Any] = {}
        for link in self.manager.links.values():
            for spec in link.tools:
                tool = McpTool(link, spec)
                raw.setdefault(tool.name, tool)
        self._raw = raw
        self._tools = {name: self._guard(t) for name, t in raw.items()}
        self._version = self.manager.version

    def names(self) -> list[str]:
        self._refresh()
        return list(self._tools)

    def lookup(self, name: str) -> Any:
        self._refresh()
        tool = self._tools.get(name)
        if tool is not None:
            return tool
        server, sep, _ = name.partition(SEPARATOR)
        link = self.manager.links.get(server) if sep else None
        return self._guard(UnlistedTool(name, link)) if link is not None else None

    def decode(self, name: str, raw: str) -> dict[str, Any] | None:
        self._refresh()
        tool = self._raw.get(name)
        if tool is None:
            return None
        return tool.decode(raw)

    def schema(self, name: str) -> dict[str, Any] | None:
        self._refresh()
        tool = self._raw.get(name)
        return tool.schema if tool is not None else None

    def accepts(self, entry: str) -> bool:
        """``entry`` names a configured server's tools (for goal validation):
        ``server.*``, or a tool its listing has — any tool name while the
        server has no listing yet (it may be down when the goal is made)."""
        parts = convert.spelled(entry)
        if parts is None or not any(s.name == parts[0] for s in self.manager.cfg.servers):
            return False
        link = self.manager.links.get(parts[0])
        if parts[1] == "*" or link is None or not link.tools:
            return True
        return parts[1] in {t.name for t in link.tools} or \
            parts[1] in {convert.model_name(link.name, t.name).partition(SEPARATOR)[2] for t in link.tools}

    def expand(self, entry: str) -> list[Any] | None:
        """The tools ``entry`` names (``server.*``, ``server.tool``,
        ``server__tool``), None when it names no configured server. ToolError
        when the server's tools are not known or it has no such tool."""
        parts = convert.spelled(entry)
        if parts is None:
            return None
        server, tool = parts
        link = self.manager.links.get(server)
        if link is None:
            if any(s.name == server for s in self.manager.cfg.servers):
                raise ToolError(f"the MCP server {server!r} is disabled in the configuration", tool=entry)
            return None
        self._refresh()
        mine = {n: t for n, t in self._tools.items() if n.startswith(server + SEPARATOR)}
        if not mine and link.state != "ready":
            raise ToolError(f"the MCP server {server!r} is unavailable ({link.reason or link.state}); its tools "
                            "are not known yet", tool=entry)
        if tool == "*":
            return list(mine.values())
        name = tool if tool in mine else convert.model_name(server, tool)
        if name not in mine:
            raise ToolError(f"the MCP server {server!r} has no tool {tool!r}; it has: "
                            f"{', '.join(t.remote for t in self._raw.values() if t.link is link) or 'none'}",
                            tool=entry)
        return [mine[name]]

    def infos(self, timeout_for) -> list[m.ToolInfo]:
        self._refresh()
        out = []
        for name, t in self._raw.items():
            up = t.link.state == "ready"
            out.append(m.ToolInfo(name=name, description=t.description, parameters=dict(t.schema),
                                  timeout_s=timeout_for(name), default=False, side_effect=t.side_effect,
                                  read_only=t.read_only, idempotent=t.idempotent, external=t.external,
                                  source="mcp", server=t.link.name, state="available" if up else "unavailable",
                                  reason=None if up else t.link.reason))
        return out
