"""``agentctl approvals`` (every call waiting for a decision), ``run approve``, ``run deny``.

Approving shows the call first (tool, exact arguments, why it was asked) and,
on a terminal, asks; the approval sent carries the digest of what was shown,
so the daemon applies it to exactly that call. Denying needs no confirmation:
it only stops something from happening.
"""

from __future__ import annotations

import json
from typing import Any

from ..context import Context, Failure, UsageError, drop_none
from ..render import Column, markdown_table, shorten, table


def _by() -> str:
    import getpass

    try:
        return f"{getpass.getuser()} (agentctl)"
    except (KeyError, OSError):
        return "agentctl"


def pretty_arguments(text: str) -> str:
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def describe(ctx: Context, a: dict) -> str:
    goal = a.get("goal_name") or a.get("goal_id")
    lines = [f"Run {a['run_id']} of goal {goal} asks to call {ctx.out.bold(a['tool'])} (call {a['id']}, "
             f"step {a['step_no']}) with:"]
    lines += ["  " + line for line in pretty_arguments(a["arguments"]).splitlines()]
    if a.get("reason"):
        lines.append(f"Why asked: {a['reason']}")
    lines.append(f"Expires:   {ctx.out.time(a['expires_at'])} (then it is denied)")
    return "\n".join(lines)


def cmd_list(ctx: Context) -> None:
    a = ctx.args
    res = ctx.call("approval.list", drop_none(goal_id=getattr(a, "goal", None)))
    if ctx.fmt == "json":
        return ctx.emit_json(res)
    items = res.get("approvals", [])
    if not items:
        ctx.info("No calls are waiting for approval.")
        return
    rows = [[x["id"], x["run_id"], x.get("goal_name") or x["goal_id"], x["tool"], shorten(x["arguments"], 60),
             x["expires_at"]] for x in items]
    head = ["CALL", "RUN", "GOAL", "TOOL", "ARGUMENTS", "EXPIRES"]
    if ctx.fmt == "md":
        ctx.print(markdown_table(head, rows))
        return
    out = ctx.out
    for r in rows:
        r[5] = out.time(r[5])
    cols = [Column("CALL"), Column("RUN"), Column("GOAL"), Column("TOOL"), Column("ARGUMENTS", flex=True),
            Column("EXPIRES")]
    ctx.print(table(out, cols, rows))
    ctx.info(f"Decide with: {ctx.command('run approve RUN --call CALL')} or "
             f"{ctx.command('run deny RUN --call CALL --reason ...')}")


def _waiting(ctx: Context, run: str, call: str | None) -> list[dict]:
    items = ctx.call("approval.list", {"run_id": run}).get("approvals", [])
    if not items:
        got = ctx.call("run.get", {"id": run})
        raise Failure(f"run {got['id']} is not waiting for approval (it is {got.get('status')})")
    if call is not None:
        items = [x for x in items if x["id"].startswith(call)]
        if not items:
            raise Failure(f"run {run} has no waiting call {call!r}; see {ctx.command('approvals')}")
    return items


def cmd_approve(ctx: Context) -> int | None:
    a = ctx.args
    items = _waiting(ctx, a.id, a.call)
    if len(items) > 1:
        for x in items:
            ctx.stderr.write(describe(ctx, x) + "\n\n")
        raise UsageError(f"run {items[0]['run_id']} waits for {len(items)} calls: approve one at a time with "
                         f"--call ({', '.join(x['id'] for x in items)})")
    (x,) = items
    if not a.yes:
        ctx.stderr.write(describe(ctx, x) + "\n")
        if not ctx.confirm("Approve this call?"):
            ctx.info("Not approved (the call still waits).")
            return 1
    res = ctx.call("run.approve", {"id": x["run_id"], "call": x["id"], "digest": x["digest"], "by": _by()})
    if ctx.json:
        return ctx.emit_json(res)
    tail = "; the run resumes" if res.get("resumed") else "; the run still waits for other calls"
    ctx.info(f"Approved {x['tool']} (call {x['id']}){tail}.")
    return None


def cmd_deny(ctx: Context) -> None:
    a = ctx.args
    items = _waiting(ctx, a.id, a.call)
    res = ctx.call("run.deny", drop_none(id=items[0]["run_id"], call=a.call and items[0]["id"], reason=a.reason,
                                         by=_by()))
    if ctx.json:
        return ctx.emit_json(res)
    names = ", ".join(f"{d['tool']} (call {d['id']})" for d in res.get("decided", []))
    tail = "; the run resumes and the agent is told" if res.get("resumed") else ""
    ctx.info(f"Denied {names}{tail}.")


def decide_hint(ctx: Context, run: dict) -> str:
    """What to type for a parked run (a run from run.list / run.get with
    ``awaiting_approval``): ``call C waits: agentctl run approve R or agentctl
    run deny R`` (with --call when several calls wait)."""
    rid, calls = run["id"], run.get("awaiting_approval") or []
    call = " --call CALL" if len(calls) > 1 else ""
    return (f"{'call' if len(calls) == 1 else 'calls'} {', '.join(calls)} "
            f"{'waits' if len(calls) == 1 else 'wait'}: {ctx.command(f'run approve {rid}{call}')} or "
            f"{ctx.command(f'run deny {rid}{call}')}")


def waiting_lines(ctx: Context, approvals: list[Any]) -> str | None:
    """``run show``'s lines for its calls still waiting, or None."""
    waiting = [x for x in approvals if x.get("status") == "pending"]
    if not waiting:
        return None
    rid = waiting[0]["run_id"]
    return "\n".join([describe(ctx, x) for x in waiting]
                     + [f"Decide: {ctx.command(f'run approve {rid}')} or {ctx.command(f'run deny {rid} --reason ...')}"])
