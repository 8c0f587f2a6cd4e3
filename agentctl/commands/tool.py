"""``agentctl tool list``: the tools agents can use."""

from __future__ import annotations

from ..context import Context
from ..render import Column, markdown_table, table


def _flags(t: dict) -> str:
    flags = []
    if not t.get("default", True):
        flags.append("opt-in")
    if t.get("side_effect"):
        flags.append("side effect")
    if t.get("read_only"):
        flags.append("read-only")
    if t.get("external"):
        flags.append("external")
    if t.get("state", "available") != "available":
        flags.append(t["state"])
    return ", ".join(flags) or "-"


def cmd_list(ctx: Context) -> None:
    res = ctx.call("tool.list")
    if ctx.fmt == "json":
        return ctx.emit_json(res)
    tools = res.get("tools", [])
    rows = [[t["name"], f"{t.get('timeout_s', 0):g}s", _flags(t), t.get("description", "")] for t in tools]
    if ctx.fmt == "md":
        ctx.print(markdown_table(["Tool", "Timeout", "Flags", "Description"], rows))
        return
    ctx.print(table(ctx.out, [Column("TOOL"), Column("TIMEOUT", right=True), Column("FLAGS"),
                              Column("DESCRIPTION", flex=True)], rows))
