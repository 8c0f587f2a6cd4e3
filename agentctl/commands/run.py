"""``agentctl run …``: list, show, logs [-f], watch, cancel, delete."""

from __future__ import annotations

import json
from typing import Any

from ..context import Context, drop_none
from ..render import (
    TERMINAL_RUN_STATES, Column, duration_ms, elapsed, key_values, markdown_table, one_line, run_status,
    table, truncate, usd,
)


# Only against a daemon without run.watch: how often ``logs -f`` polls.
FOLLOW_INTERVAL_S = 0.5


# ---------------------------------------------------------------- list


def cmd_list(ctx: Context) -> None:
    a = ctx.args
    res = ctx.call("run.list", drop_none(goal_id=a.goal, status=a.status, limit=a.limit))
    if ctx.fmt == "json":
        return ctx.emit_json(res)
    runs = res.get("runs", [])
    if ctx.fmt == "md":
        rows = [[r["id"], r["goal_id"], run_status(r), r.get("trigger"), _steps(r), r.get("started_at") or "-",
                 elapsed(r.get("started_at"), r.get("ended_at")), _note(ctx, r)] for r in runs]
        ctx.print(markdown_table(["ID", "Goal", "Status", "Trigger", "Steps", "Started", "Took", "Note"], rows))
    elif not runs:
        ctx.info("No runs.")
        return
    else:
        out = ctx.out
        rows = [[r["id"], r["goal_id"], run_status(r), r.get("trigger"), _steps(r),
                 out.time(r.get("started_at") or r.get("created_at")),
                 elapsed(r.get("started_at"), r.get("ended_at")), _note(ctx, r)] for r in runs]
        cols = [Column("ID"), Column("GOAL"), Column("STATUS", paint=out.status), Column("TRIGGER"),
                Column("STEPS", right=True), Column("STARTED"), Column("TOOK", right=True),
                Column("NOTE", flex=True)]
        ctx.print(table(out, cols, rows))
    total = res.get("total", len(runs))
    if total > len(runs):
        ctx.info(f"({len(runs)} of {total} runs; use --limit to see more)")


def _steps(run: dict) -> str:
    return f"{run.get('steps_executed', 0)}/{run.get('step_budget', '?')}"


def _note(ctx: Context, run: dict) -> str:
    if run.get("awaiting_approval"):
        from .approvals import decide_hint

        return decide_hint(ctx, run)
    if run.get("error"):
        return run["error"]
    return one_line(run.get("summary") or "")


# ---------------------------------------------------------------- show


def cmd_show(ctx: Context) -> None:
    run = ctx.call("run.get", {"id": ctx.args.id})
    fmt = "json" if ctx.json else ctx.args.format
    if fmt == "json":
        return ctx.emit_json(run)
    if fmt == "md":
        return ctx.print(run_markdown(run))
    # The steps: one more request, only for runs whose calls table or blocked calls need them.
    steps = ctx.call("run.steps", {"id": run["id"]}).get("steps", []) \
        if run.get("blocked_calls") or run.get("model_calls") else []
    ctx.print(render_run(ctx, run, steps))


def render_run(ctx: Context, run: dict, run_steps: list[dict]) -> str:
    """``run show``'s text; ``run_steps`` (run.steps) name the blocked calls and each model call's steps."""
    blocked = [s for s in run_steps if s.get("guard") == "blocked"]
    out = ctx.out
    usage = run.get("usage") or {}
    steps = _steps(run) + ("  (budget exhausted)" if run.get("budget_exhausted") else "")
    trigger = run.get("trigger", "?")
    if run.get("scheduled_for"):
        trigger += f"  (tick of {out.time(run['scheduled_for'])})"
    pairs: list[tuple[str, Any]] = [
        ("Status", out.status(run_status(run))
         + ("  (parked: it holds no slot until a person decides; see below)" if run.get("awaiting_approval")
            else "")),
        ("Goal", run.get("goal_id")),
        ("Trigger", trigger),
        ("Created", out.time(run.get("created_at"))),
        ("Started", out.time(run.get("started_at")) if run.get("started_at") else None),
        ("Ended", f"{out.time(run.get('ended_at'))}  (took {elapsed(run.get('started_at'), run.get('ended_at'))})"
         if run.get("ended_at") else None),
        ("Steps", steps),
        ("Tokens", tokens_text(usage)),
        ("Cost", usd(usage.get("cost_usd")) if run.get("model_calls") else None),
        ("Recoveries", run.get("recoveries") or None),
        ("Untrusted", f"content from outside entered at step {run['tainted_at_step']}; data may leave only to "
                      "the goal's own destinations" if run.get("tainted_at_step") else None),
        ("Blocked", out.paint(f"{run['blocked_calls']} call(s) blocked by the exfiltration guard", "31")
         if run.get("blocked_calls") else None),
        ("Error", out.paint(run["error"], "31") if run.get("error") else None),
        ("Unchanged", _unchanged(run)),
    ]
    parts = [f"Run {out.bold(run['id'])}", key_values(out, pairs, indent="  ")]
    if run.get("summary"):
        parts.append("\nSummary:\n" + "\n".join("  " + line for line in run["summary"].splitlines()))
    if run.get("model_calls"):
        parts.append("\nModel calls:\n" + calls_table(ctx, run, run_steps))
    if run.get("outputs"):
        rows = [[o.get("kind"), o.get("path_or_payload"), out.time(o.get("created_at"))] for o in run["outputs"]]
        parts.append("\nOutputs:\n" + table(out, [Column("KIND"), Column("WHERE / WHAT", flex=True),
                                                 Column("CREATED")], rows))
    if run.get("side_effects"):
        rows = [[e.get("kind"), e.get("target"), e.get("status"), e.get("attempts"), e.get("source") or "-",
                 e.get("detail") or ""] for e in run["side_effects"]]
        parts.append("\nSide effects:\n" + table(out, [
            Column("KIND"), Column("TARGET"), Column("STATUS", paint=out.status), Column("TRIES", right=True),
            Column("SOURCE"), Column("DETAIL", flex=True)], rows))
    from .approvals import waiting_lines

    waiting = waiting_lines(ctx, run.get("approvals") or [])
    if waiting:
        parts.append("\nWaiting for approval (the run is parked):\n" + waiting)
    if blocked:
        lines = [f"  #{s.get('step_no')} {s.get('tool_name')}: "
                 + truncate(one_line((s.get("error") or "").removeprefix("BLOCKED by the exfiltration guard: ")),
                            max(40, (out.width or 200) - 12)) for s in blocked]
        parts.append("\nBlocked by the exfiltration guard:\n" + "\n".join(out.paint(line, "31") for line in lines))
    rid = run["id"]
    parts.append(f"\nSteps: {ctx.command(f'run logs {rid}')}    "
                 f"Daemon log lines: {ctx.command(f'run logs {rid} --daemon-log')}")
    return "\n".join(parts)


def tokens_text(usage: dict) -> str:
    """``1200 in (800 cached), 300 out (120 reasoning)``."""
    text = f"{usage.get('tokens_in', 0)} in"
    if usage.get("cached_in"):
        text += f" ({usage['cached_in']} cached)"
    text += f", {usage.get('tokens_out', 0)} out"
    if usage.get("reasoning"):
        text += f" ({usage['reasoning']} reasoning)"
    return text


def _turn_steps(steps: list[dict]) -> dict[int, str]:
    """turn -> the steps it started (``#3-#4``), from run.steps."""
    by_turn: dict[int, list[int]] = {}
    for s in steps:
        by_turn.setdefault(s.get("turn", 0), []).append(s.get("step_no", 0))
    return {t: (f"#{n[0]}" if len(n) == 1 else f"#{n[0]}-#{n[-1]}") for t, n in by_turn.items()}


def calls_table(ctx: Context, run: dict, steps: list[dict]) -> str:
    """One row per model call: its turn, the steps it started, tokens and cost."""
    out = ctx.out
    started = _turn_steps(steps)
    rows = []
    for c in run["model_calls"]:
        cost = usd(c.get("cost_usd")) + (" (est.)" if c.get("estimated") else "")
        rows.append([c.get("turn"), started.get(c.get("turn"), "-"), c.get("model"), c.get("tokens_in", 0),
                     c.get("cached_in", 0), c.get("tokens_out", 0), c.get("reasoning", 0), cost])
    return table(out, [Column("TURN", right=True), Column("STEPS"), Column("MODEL"), Column("IN", right=True),
                       Column("CACHED", right=True), Column("OUT", right=True), Column("REASONING", right=True),
                       Column("COST", right=True)], rows)


def _unchanged(run: dict) -> str | None:
    since = run.get("unchanged_since")
    if not since:
        return None
    return f"since run {since}: the result is the same, so completion deliveries were not sent (notify: on_change)"


def run_markdown(run: dict) -> str:
    usage = run.get("usage") or {}
    lines = [f"# Run {run['id']}", "",
             f"- **Status:** {run_status(run)}",
             f"- **Goal:** {run.get('goal_id')}",
             f"- **Trigger:** {run.get('trigger')}",
             f"- **Started:** {run.get('started_at') or '-'}",
             f"- **Ended:** {run.get('ended_at') or '-'}",
             f"- **Steps:** {_steps(run)}",
             f"- **Tokens:** {tokens_text(usage)}"]
    if run.get("model_calls"):
        lines.append(f"- **Cost:** {usd(usage.get('cost_usd'))}")
    if run.get("tainted_at_step"):
        lines.append(f"- **Untrusted content from:** step {run['tainted_at_step']}")
    if run.get("blocked_calls"):
        lines.append(f"- **Blocked by the exfiltration guard:** {run['blocked_calls']} call(s)")
    if run.get("unchanged_since"):
        lines.append(f"- **Unchanged:** {_unchanged(run)}")
    if run.get("error"):
        lines += ["", "## Error", "", run["error"]]
    if run.get("summary"):
        lines += ["", "## Summary", "", run["summary"]]
    if run.get("model_calls"):
        lines += ["", "## Model calls", "", markdown_table(
            ["Turn", "Model", "In", "Cached", "Out", "Reasoning", "Cost (USD)"],
            [[c.get("turn"), c.get("model"), c.get("tokens_in"), c.get("cached_in"), c.get("tokens_out"),
              c.get("reasoning"), "unknown" if c.get("cost_usd") is None else repr(c["cost_usd"])]
             for c in run["model_calls"]])]
    if run.get("outputs"):
        lines += ["", "## Outputs", "", markdown_table(
            ["Kind", "Where / what", "Created"],
            [[o.get("kind"), o.get("path_or_payload"), o.get("created_at")] for o in run["outputs"]])]
    if run.get("side_effects"):
        lines += ["", "## Side effects", "", markdown_table(
            ["Kind", "Target", "Status", "Attempts", "Detail"],
            [[e.get("kind"), e.get("target"), e.get("status"), e.get("attempts"), e.get("detail")]
             for e in run["side_effects"]])]
    return "\n".join(lines)


# ---------------------------------------------------------------- logs


# The exfiltration guard's marks on a step (Step.guard).
GUARD_MARKS = {"tainted": "[untrusted content from here on]", "blocked": "[BLOCKED by the exfiltration guard]"}

# How a step that is not a tool call is labelled (Step.kind), in place of "#n tool".
TEXT_LABELS = {"answer": "final answer:", "summary": "summary:"}


def step_line(ctx: Context, step: dict, *, full: bool = False) -> str:
    """``#n tool input → observation (duration)``; an error in red. The
    model's closing text is labelled for what it is (``final answer:`` or
    ``summary:``) without a number, since only tool calls count as steps of
    the budget (``Steps 2/8``); any other step without a tool shows its thought."""
    out = ctx.out
    budget = None if full else (out.width or 200)
    head = f"#{step.get('step_no')}"
    dur = f" ({duration_ms(step.get('duration_ms'))})" if step.get("duration_ms") else ""
    if not step.get("tool_name"):
        label = TEXT_LABELS.get(step.get("kind", ""))
        text = one_line(step.get("thought") or step.get("observation") or "")
        prefix = label or f"{head} thought:"
        if budget is not None:
            text = truncate(text, max(20, budget - len(prefix) - 1))
        return f"{out.bold(label)} {text}" if label else f"{head} {out.dim('thought:')} {text}"
    tool = step["tool_name"]
    inp = step.get("tool_input")
    inp_text = inp if isinstance(inp, str) else json.dumps(inp, ensure_ascii=False, separators=(", ", ": "))
    if budget is not None:
        inp_text = truncate(one_line(inp_text), 60)
    if step.get("error"):
        result = "error: " + one_line(step["error"])
        sgr = "31"
    elif step.get("status") == "pending":
        result, sgr = "…", "33"
    else:
        result, sgr = one_line(step.get("observation") or ""), None
    mark = " (recovered from text)" if step.get("recovered") else ""
    if step.get("guard") in GUARD_MARKS:
        mark += " " + GUARD_MARKS[step["guard"]]
    prefix = f"{head} {tool}{mark} {inp_text} → "
    if budget is not None:
        result = truncate(result, max(20, budget - len(prefix) - len(dur)))
    return (f"{head} {out.bold(tool)}{out.dim(mark) if mark else ''} {inp_text} → "
            f"{out.paint(result, sgr)}{out.dim(dur) if dur else ''}")


def cmd_logs(ctx: Context) -> int | None:
    a = ctx.args
    if getattr(a, "daemon_log", False):
        return _daemon_log(ctx)
    res = ctx.call("run.steps", {"id": a.id})
    if not a.follow:
        if ctx.json:
            return ctx.emit_json(res)
        for step in res.get("steps", []):
            ctx.print(step_line(ctx, step, full=a.full))
        if res.get("unchanged_since"):
            ctx.print(f"unchanged {_unchanged(res)}")
        if not res.get("steps"):
            ctx.info(f"Run {res.get('run_id')} has no steps yet ({res.get('run_status')}).")
        return None
    return _follow(ctx, res)


def _daemon_log(ctx: Context) -> int:
    """The daemon's own log lines about this run (every line carries run_id):
    from the journal when agentd runs under systemd, else from the log file
    that ``agentctl server start`` writes in the state dir."""
    import json
    import shutil
    import subprocess

    run_id = ctx.call("run.get", {"id": ctx.args.id})["id"]
    needle = f'"run_id":"{run_id}"'
    lines: list[str] = []
    sources: list[str] = []
    from .server import _log_file

    path = _log_file()
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines += [line.rstrip("\n") for line in f if needle in line]
        sources.append(path)
    except FileNotFoundError:
        pass
    if shutil.which("journalctl"):
        try:
            r = subprocess.run(["journalctl", "--user", "-u", "agentd", "-o", "cat", "--no-pager", "-g", run_id],
                               capture_output=True, text=True, timeout=30)
            found = [line for line in r.stdout.splitlines() if needle in line]
            if found:
                lines += found
                sources.append("journalctl --user -u agentd")
        except (OSError, subprocess.SubprocessError):
            pass
    if not lines:
        where = " and ".join(sources) or "no log file and no journal"
        ctx.info(f"No daemon log lines mention run {run_id} (looked in {where}).")
        return 1
    for line in lines:
        text = line[line.index("{"):] if "{" in line else line  # drop a journald <N> prefix
        if ctx.json:
            ctx.print(text)
            continue
        try:
            rec = json.loads(text)
        except ValueError:
            ctx.print(line)
            continue
        extra = " ".join(f"{k}={v}" for k, v in rec.items()
                         if k not in ("ts", "level", "msg", "logger", "run_id", "goal_id") and v is not None)
        ctx.print(f"{rec.get('ts', '')} {rec.get('level', ''):5} {rec.get('msg', '')}" + (f"  {extra}" if extra else ""))
    return 0


def _follow(ctx: Context, res: dict) -> int:
    """Print steps as they are committed until the run ends. New steps are
    noticed through ``run.watch`` (no polling): an event that completes a step
    not printed yet makes us read the steps after the last one printed. Exit 0
    if the run completed, 1 otherwise, 130 on Ctrl-C (the run goes on)."""
    from ..render import dumps_json
    from ..watch import EventStream

    run_id = res["run_id"]  # the full id: a prefix could match a newer run later
    after = 0

    def show(res: dict) -> None:
        nonlocal after
        ended = res.get("run_status") in TERMINAL_RUN_STATES
        for step in res.get("steps", []):
            if step.get("status") == "pending" and not ended:
                break  # printed once it has its observation
            if ctx.json:
                ctx.print(dumps_json(step))
            else:
                ctx.print(step_line(ctx, step, full=ctx.args.full))
            after = step["step_no"]
        ctx.stdout.flush()

    def completes_a_step(ev: dict) -> bool:
        """run.watch replays the run's events from the first: those of steps
        already printed need no run.steps call."""
        kind = ev.get("type")
        if kind == "tool_returned":
            return ev.get("step_no", 0) > after
        # A model answer without tool calls is a step of its own (the final text);
        # one with tool calls only adds pending steps, printed once they return.
        return kind == "run_finished" or (kind == "model_responded" and not ev.get("tool_calls"))

    show(res)
    if res.get("run_status") not in TERMINAL_RUN_STATES:
        from ..client import RpcError

        stream = EventStream(ctx.socket_path, {"run_id": run_id}, timeout=ctx.timeout)
        try:
            for kind, p in stream:
                if kind == "lost":
                    ctx.info(f"agentctl: lost the connection to agentd ({p}); reconnecting…")
                elif kind == "back":
                    ctx.close()  # agentd restarted: run.steps needs a new connection as well
                elif kind == "event" and completes_a_step(p["event"]):
                    res = ctx.call("run.steps", {"id": run_id, "after": after})
                    show(res)
        except RpcError as exc:
            if exc.code != -32601:
                raise
            res = _poll(ctx, run_id, show, lambda: after)  # a daemon without run.watch
        except KeyboardInterrupt:
            ctx.info(f"\nStopped following; run {run_id} goes on.")
            return 130
        finally:
            stream.close()
        if res.get("run_status") not in TERMINAL_RUN_STATES:
            res = ctx.call("run.steps", {"id": run_id, "after": after})
            show(res)
    status = res.get("run_status")
    if res.get("unchanged_since") and not ctx.json:
        ctx.print(f"unchanged {_unchanged(res)}")
    ctx.info(f"Run {run_id} {status}.")
    return 0 if status == "completed" else 1


def _poll(ctx: Context, run_id: str, show, after) -> dict:
    """``run.steps`` every FOLLOW_INTERVAL_S, each answer shown, until the run ends."""
    import time

    while True:
        time.sleep(FOLLOW_INTERVAL_S)
        res = ctx.call("run.steps", {"id": run_id, "after": after()})
        show(res)
        if res.get("run_status") in TERMINAL_RUN_STATES:
            return res


# ---------------------------------------------------------------- watch


def cmd_watch(ctx: Context) -> int:
    from ..watch import watch_run

    return watch_run(ctx, ctx.args.id)


# ---------------------------------------------------------------- cancel, delete


def cmd_cancel(ctx: Context) -> None:
    run = ctx.call("run.cancel", drop_none(id=ctx.args.id, reason=ctx.args.reason))
    if ctx.json:
        return ctx.emit_json(run)
    ctx.info(f"Run {run['id']} {run.get('status')}.")


def cmd_delete(ctx: Context) -> None:
    res = ctx.call("run.delete", {"id": ctx.args.id})
    if ctx.json:
        return ctx.emit_json(res)
    ctx.info(f"Deleted run {res['id']}.")
