"""``agentctl mcp``: MCP servers as tool sources, and agentd as an MCP server.

``add`` and ``remove`` edit ``[[mcp.servers]]`` in the config file (checked as
the daemon will read it, written 0600) and ask a running daemon to reload;
``list`` and ``check`` ask the daemon; ``serve`` runs agentctl.mcpserve.
"""

from __future__ import annotations

from .. import tomlfile
from ..context import Context, Failure, UsageError
from ..render import Column, markdown_table, table
from .config import _read, _validate_file, config_path


def _pairs(items: list[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--{what} {item!r}: write it as NAME=VALUE")
        out[key] = value
    return out


def _servers(data: dict, path: str) -> list:
    mcp = data.setdefault("mcp", {})
    if not isinstance(mcp, dict) or not isinstance(mcp.setdefault("servers", []), list):
        raise Failure(f"{path}: mcp.servers is not a list of tables")
    return mcp["servers"]


def _reload(ctx: Context) -> None:
    from ..client import DaemonNotReachable

    try:
        ctx.call("daemon.reload", {})
    except DaemonNotReachable:
        ctx.info("agentd is not running; it starts the server when it starts.")
        return
    ctx.info("agentd reloaded its configuration; `agentctl mcp check NAME` shows the server's state.")


def _options_after_name(a):
    """``a`` with the options written between NAME and ``--`` parsed too."""
    import argparse

    from ..parser import add_mcp_server_options

    rest = list(a.command)
    cut = rest.index("--") if "--" in rest else len(rest)
    if cut:
        if not rest[0].startswith("-"):  # a command without --: all of it is the command
            return a
        p = argparse.ArgumentParser(prog="agentctl mcp add", add_help=False)
        add_mcp_server_options(p)
        try:
            extra = p.parse_args(rest[:cut])
        except SystemExit:
            raise UsageError(f"cannot read the options {' '.join(rest[:cut])!r}; write them before -- COMMAND")
        for key, value in vars(extra).items():
            if value not in (None, []):
                setattr(a, key, (getattr(a, key) or []) + value if isinstance(value, list) else value)
    a.command = rest[cut + 1:] if cut < len(rest) else []
    return a


def cmd_add(ctx: Context) -> None:
    a = _options_after_name(ctx.args)
    if bool(a.command) == bool(a.url):
        raise UsageError("give either a command after -- (a stdio server) or --url (streamable HTTP)")
    server: dict = {"name": a.name}
    if a.url:
        server["url"] = a.url
        if a.header:
            server["headers"] = _pairs(a.header, "header")
    else:
        server["command"], server["args"] = a.command[0], list(a.command[1:])
        if a.env:
            server["env"] = _pairs(a.env, "env")
        if a.cwd:
            server["cwd"] = a.cwd
    if a.tool_timeout:
        server["timeout_s"] = a.tool_timeout
    if a.start_timeout:
        server["start_timeout_s"] = a.start_timeout
    path = config_path(ctx)
    data = _read(path)
    servers = _servers(data, path)
    if any(isinstance(s, dict) and s.get("name") == a.name for s in servers):
        raise Failure(f"an MCP server named {a.name!r} is configured already; "
                      f"`{ctx.command('mcp remove ' + a.name)}` first to replace it")
    servers.append(server)
    _check(data, path)
    tomlfile.write_private(path, tomlfile.dumps(data))
    if ctx.json:
        ctx.emit_json({"file": path, "server": a.name})
    else:
        ctx.info(f"Added MCP server {a.name} to {path}; goals name its tools {a.name}.TOOL or {a.name}.*")
    _reload(ctx)


def cmd_remove(ctx: Context) -> None:
    path = config_path(ctx)
    data = _read(path)
    servers = _servers(data, path)
    kept = [s for s in servers if not (isinstance(s, dict) and s.get("name") == ctx.args.name)]
    if len(kept) == len(servers):
        names = ", ".join(str(s.get("name")) for s in servers if isinstance(s, dict)) or "none"
        raise Failure(f"no MCP server named {ctx.args.name!r} in {path} (configured: {names})")
    data["mcp"]["servers"] = kept
    if not kept:
        data["mcp"].pop("servers")
        if not data["mcp"]:
            data.pop("mcp")
    _check(data, path)
    tomlfile.write_private(path, tomlfile.dumps(data))
    if ctx.json:
        ctx.emit_json({"file": path, "removed": ctx.args.name})
    else:
        ctx.info(f"Removed MCP server {ctx.args.name} from {path}.")
    _reload(ctx)


def _check(data: dict, path: str) -> None:
    """The file as the daemon reads it, with the MCP rules (names, command or url)."""
    from agentd.protocol.errors import ConfigError

    try:
        _validate_file(data, path)
    except ConfigError as exc:
        raise UsageError(exc.message) from None


def _row(s: dict) -> list[str]:
    tools = ", ".join(t.partition("__")[2] for t in s.get("tools") or []) or "-"
    state = s.get("state", "?") + (f": {s['reason']}" if s.get("reason") and s.get("state") != "ready" else "")
    return [s["name"], s.get("transport", ""), state, tools, s.get("target", "")]


def cmd_list(ctx: Context) -> None:
    res = ctx.call("mcp.list")
    if ctx.fmt == "json":
        return ctx.emit_json(res)
    rows = [_row(s) for s in res.get("servers", [])]
    if not rows:
        ctx.info(f"No MCP server is configured; add one with `{ctx.command('mcp add NAME -- COMMAND')}`.")
        return
    if ctx.fmt == "md":
        ctx.print(markdown_table(["Server", "Transport", "State", "Tools", "Command or URL"], rows))
        return
    ctx.print(table(ctx.out, [Column("SERVER"), Column("TRANSPORT"), Column("STATE"), Column("TOOLS", flex=True),
                              Column("COMMAND OR URL", flex=True)], rows))


def cmd_check(ctx: Context) -> int:
    res = ctx.call("mcp.check", {"name": ctx.args.name})
    if ctx.json:
        ctx.emit_json(res)
        return 0 if res.get("state") == "ready" else 1
    if res.get("state") == "ready":
        tools = ", ".join(res.get("tools") or []) or "none"
        ctx.print(f"{res['name']}: ready ({res.get('server_info') or 'no server info'}); tools: {tools}")
        return 0
    ctx.print(f"{res['name']}: {res.get('state')}" + (f": {res['reason']}" if res.get("reason") else ""))
    return 1


def cmd_serve(ctx: Context) -> int:
    from ..mcpserve import serve

    return serve(ctx)
