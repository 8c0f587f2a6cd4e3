"""``agentctl memory …``: a goal's long-term memories (list, add, delete)."""

from __future__ import annotations

import sys

from ..context import Context, UsageError, drop_none
from ..render import Column, markdown_table, table


def cmd_list(ctx: Context) -> None:
    a = ctx.args
    res = ctx.call("memory.list", drop_none(goal_id=a.goal, type=a.type, query=a.query, limit=a.limit))
    if ctx.fmt == "json":
        return ctx.emit_json(res)
    mems = res.get("memories", [])
    if ctx.fmt == "md":
        ctx.print(markdown_table(["ID", "Type", "Created", "Content"],
                                 [[m["id"], m.get("type"), m.get("created_at"), m.get("content")] for m in mems]))
        return
    if not mems:
        ctx.info("No memories.")
        return
    out = ctx.out
    rows = [[m["id"], m.get("type"), out.time(m.get("created_at")), m.get("content")] for m in mems]
    ctx.print(table(out, [Column("ID"), Column("TYPE"), Column("CREATED"), Column("CONTENT", flex=True)], rows))


def cmd_add(ctx: Context) -> None:
    a = ctx.args
    content = sys.stdin.read() if a.content == "-" else a.content
    if not content.strip():
        raise UsageError("the memory's content is empty")
    mem = ctx.call("memory.add", {"goal_id": a.goal, "content": content, "type": a.type})
    if ctx.json:
        return ctx.emit_json(mem)
    ctx.print(mem["id"])
    ctx.info(f"Added {mem.get('type', 'note')} {mem['id']} to goal {mem.get('goal_id')}.")


def cmd_delete(ctx: Context) -> None:
    res = ctx.call("memory.delete", {"id": ctx.args.id})
    if ctx.json:
        return ctx.emit_json(res)
    ctx.info(f"Deleted memory {res['id']}.")
