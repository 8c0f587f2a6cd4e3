"""``agentctl goal …``: create, list, show, edit, delete, pause, resume, run, next."""

from __future__ import annotations

import argparse
import os
from typing import Any

from ..context import Context, UsageError, drop_none
from ..parser import GoalOption, goal_options
from ..render import Column, markdown_table, one_line, run_status, shorten, table


def local_timezone() -> str:
    """This machine's IANA timezone name: ``$TZ``, /etc/localtime's link,
    /etc/timezone, else ``UTC``. Cron schedules default to it, as cron does."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz and "/" in tz and not tz.startswith("/") or tz == "UTC":
        return tz
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "/zoneinfo/"
        if marker in target:
            name = target.split(marker, 1)[1]
            if name.startswith(("posix/", "right/")):
                name = name.split("/", 1)[1]
            if name:
                return name
    except OSError:
        pass
    try:
        with open("/etc/timezone") as f:
            name = f.read().strip()
            if name:
                return name
    except OSError:
        pass
    return "UTC"


def _schedules(args: argparse.Namespace) -> list[dict] | None:
    if not args.schedule:
        return None
    tz = args.timezone or local_timezone()
    return [{"cron": c, "timezone": tz} for c in args.schedule]


# ---------------------------------------------------------------- create


def approval_policy(args: argparse.Namespace, current: dict) -> dict | None:
    """The goal's tool policy after --ask/--deny (and --allow on edit); None if none was given."""
    given = [(t, "ask") for t in args.ask or []] + [(t, "deny") for t in args.deny or []]
    given += [(t, "allow") for t in getattr(args, "allow", None) or []]
    if not given:
        return None
    seen: dict[str, str] = {}
    for tool, policy in given:
        if seen.get(tool, policy) != policy:
            raise UsageError(f"{tool}: --{seen[tool]} and --{policy} together; give one")
        seen[tool] = policy
    policy = {**current, **seen}
    return {t: p for t, p in policy.items() if p != "allow"}


def _value(o: GoalOption, args: argparse.Namespace) -> Any:
    """The field's value from option ``o``; None when it was not given (or its
    value means "the default", e.g. ``--tools default``)."""
    value = getattr(args, o.dest)
    return o.parse(value) if value is not None and o.parse else value


def create_params(args: argparse.Namespace) -> dict:
    """goal.create params (GoalCreate) from the options: the run parameters in
    ``params``, options left out (None) left to the daemon's defaults."""
    out: dict[str, Any] = drop_none(objective=args.objective, schedules=_schedules(args))
    params: dict[str, Any] = drop_none(approvals=approval_policy(args, {}))
    for o in goal_options("create"):
        value = _value(o, args) if o.field else None
        if value is not None:
            (params if o.in_params else out)[o.field] = value
    if params:
        out["params"] = params
    return out


def cmd_create(ctx: Context) -> int | None:
    args = ctx.args
    if args.timezone and not args.schedule:
        raise UsageError("--timezone applies to --schedule; give a schedule too")
    params = create_params(args)
    if args.objective is None:
        if not (_stdin_tty() and ctx.stdout.isatty()):
            raise UsageError("the objective is required (it is asked for only on a terminal)")
        from ..repl.prompts import Abandoned, goal_form

        try:
            asked = goal_form(ctx, args.timezone or local_timezone())
        except Abandoned:
            ctx.info("No goal created.")
            return 130
        # The answers win; run parameters from both are merged.
        run_params = {**params.pop("params", {}), **asked.pop("params", {})}
        params.update(asked)
        if run_params:
            params["params"] = run_params
    goal = ctx.call("goal.create", params)
    _warn(ctx, goal)  # on stderr, with --json too: a script should see it
    if ctx.json:
        return ctx.emit_json(goal)
    ctx.print(goal["id"])
    what = goal.get("name") or goal.get("objective", "")
    ctx.info(f"Created goal {goal['id']} ({shorten(what, 60)}), {goal.get('status')}.")
    for s in goal.get("schedules") or []:
        nxt = f", next {ctx.out.when(s.get('next_fire'), s.get('timezone'))}" if s.get("next_fire") else ""
        ctx.info(f"  schedule {s['cron']} ({s['timezone']}){nxt}")
    return None


def _warn(ctx: Context, goal: dict) -> None:
    """The daemon's warnings about notifications that cannot work as configured."""
    for w in goal.get("warnings") or []:
        ctx.warn(w)


# ---------------------------------------------------------------- list


def _schedule_cell(goal: dict) -> str:
    scheds = goal.get("schedules") or []
    if not scheds:
        return "-"
    first = scheds[0]["cron"]
    return first if len(scheds) == 1 else f"{first} +{len(scheds) - 1}"


def _next_fire(goal: dict) -> str | None:
    nxt = _next_schedule(goal)
    return nxt["next_fire"] if nxt else None


def _next_schedule(goal: dict) -> dict | None:
    """The active schedule that fires first."""
    scheds = [s for s in goal.get("schedules") or [] if s.get("next_fire") and s.get("active", True)]
    return min(scheds, key=lambda s: s["next_fire"]) if scheds else None


def _last_run(goal: dict) -> tuple[str | None, str | None]:
    run = goal.get("last_run")
    if not run:
        return None, None
    return run_status(run), run.get("ended_at") or run.get("started_at") or run.get("created_at")


def _health_cell(g: dict) -> str:
    """``stale``, ``90% ok`` (success rate of the recent finished runs) or ``-``."""
    h = g.get("health") or {}
    rate = h.get("success_rate")
    text = f"{round(rate * 100)}% ok" if rate is not None else "-"
    return f"stale, {text}" if h.get("stale") and rate is not None else ("stale" if h.get("stale") else text)


def cmd_list(ctx: Context) -> None:
    args = ctx.args
    res = ctx.call("goal.list", drop_none(status=args.status, limit=args.limit))
    if ctx.fmt == "json":
        return ctx.emit_json(res)
    goals = res.get("goals", [])
    if ctx.fmt == "md":
        rows = []
        spend = _shows_spend(goals)
        for g in goals:
            status, when = _last_run(g)
            rows.append([g["id"], g["status"], _schedule_cell(g), _next_fire(g) or "-",
                         f"{status} {when}" if status else "-", _health_cell(g),
                         *(_spend_cells(g) if spend else ()), g.get("name") or g.get("objective")])
        ctx.print(markdown_table(["ID", "Status", "Schedule", "Next", "Last run", "Health",
                                  *(("Today", "Month") if spend else ()), "Goal"], rows))
    elif not goals:
        example = ctx.command('goal create "…" --schedule "0 9 * * *"')
        ctx.info(f"No goals yet. Create one with `{example}`.")
        return
    else:
        out = ctx.out
        rows = []
        spend = _shows_spend(goals)
        for g in goals:
            status, when = _last_run(g)
            label = g.get("name") or ""
            label = f"{label}: {g.get('objective')}" if label else g.get("objective")
            rows.append([g["id"], g["status"], _schedule_cell(g), out.time(_next_fire(g)),
                         f"{status} {out.time(when)}" if status else "-", _health_cell(g),
                         *(_spend_cells(g) if spend else ()), label])
        cols = [Column("ID"), Column("STATUS", paint=out.status), Column("SCHEDULE"),
                Column("NEXT"), Column("LAST RUN", paint=out.status),
                Column("HEALTH", paint=lambda v: out.paint(v, "33") if v.startswith("stale") else v),
                *((Column("TODAY", right=True), Column("MONTH", right=True)) if spend else ()),
                Column("GOAL", flex=True)]
        ctx.print(table(out, cols, rows))
    total = res.get("total", len(goals))
    if total > len(goals):
        ctx.info(f"({len(goals)} of {total} goals; use --limit to see more)")


# ---------------------------------------------------------------- show


def _params_lines(p: dict) -> list[tuple[str, Any]]:
    tools = p.get("allowed_tools")
    limits = [f"{p.get('step_budget', 20)} steps"]
    if p.get("token_budget"):
        limits.append(f"{p['token_budget']} tokens")
    if p.get("time_limit_s"):
        from ..render import duration_ms

        limits.append(duration_ms(p["time_limit_s"] * 1000))
    if p.get("max_concurrent"):
        limits.append(f"{p['max_concurrent']} at once")
    from ..render import usd

    for key, per in (("max_cost", "run"), ("max_cost_per_day", "day"), ("max_cost_per_month", "month")):
        if p.get(key) is not None:
            limits.append(f"{usd(p[key])} per {per}")
    return [
        ("Budget", ", ".join(limits)),
        ("Tools", "default set" if tools is None else (", ".join(tools) or "none")),
        ("Domains", ", ".join(p.get("allowed_domains") or []) or "any public host"),
        ("Constraints", "\n".join(f"- {c}" for c in p.get("constraints") or []) or None),
        ("Email", ", ".join(p.get("email_to") or []) or None),
        ("Expects", ", ".join(p.get("expect") or []) or None),
        ("Must send", ", ".join(p.get("expect_sent") or []) or None),
        ("Approvals", _approvals_line(p)),
        ("Guard", "ask a person before a send the exfiltration guard would block" if p.get("guard") == "ask" else None),
        ("Notify", p.get("notify") or "daemon default ([notify] default)"),
        ("Alerts", _alerts_line(p)),
    ]


def _against(spent: float, budget: float | None) -> str:
    from ..render import usd

    return f"{usd(spent)} of {usd(budget)}" if budget is not None else usd(spent)


def spend_text(spend: dict | None) -> str | None:
    """``$0.1200 of $0.50 today; $1.40 this month; at most $0.10 per run`` (UTC days);
    None (no line) for a goal that spent nothing priced and has no budget."""
    if not spend or not _shows_spend([{"spend": spend}]):
        return None
    from ..render import usd

    parts = [f"{_against(spend.get('today_usd', 0.0), spend.get('per_day_budget_usd'))} today (UTC)",
             f"{_against(spend.get('month_usd', 0.0), spend.get('per_month_budget_usd'))} this month"]
    if spend.get("per_run_budget_usd") is not None:
        parts.append(f"at most {usd(spend['per_run_budget_usd'])} per run")
    return "; ".join(parts)


def _spend_cells(goal: dict) -> tuple[str, str]:
    """goal list's TODAY and MONTH cells: spend, against the budget when there is one."""
    s = goal.get("spend") or {}
    return (_against(s.get("today_usd", 0.0), s.get("per_day_budget_usd")),
            _against(s.get("month_usd", 0.0), s.get("per_month_budget_usd")))


def _shows_spend(goals: list[dict]) -> bool:
    """Whether goal list has spend columns: when any goal spent money or has a budget."""
    return any(s.get("today_usd") or s.get("month_usd") or s.get("per_day_budget_usd") is not None
               or s.get("per_month_budget_usd") is not None or s.get("per_run_budget_usd") is not None
               for s in (g.get("spend") or {} for g in goals))


def _approvals_line(p: dict) -> str | None:
    from ..render import span

    policy = p.get("approvals") or {}
    if not policy:
        return None
    parts = [f"{verb} before {', '.join(sorted(t for t, v in policy.items() if v == verb))}"
             for verb in ("ask", "deny") if verb in policy.values()]
    text = "; ".join(parts).replace("deny before", "deny")
    return text + f" (undecided calls denied after {span(p.get('approval_timeout_s', 86400))})"


def _alerts_line(p: dict) -> str:
    def rule(value: Any, what: str, default: str) -> str:
        if value == 0:
            return f"never {what}"
        return f"{what} {value if value is not None else default}"

    parts = [rule(p.get("alert_quiet_periods"), "quiet periods", "[alerts] quiet_periods"),
             rule(p.get("alert_failed_runs"), "failed runs", "[alerts] failed_runs")]
    via = ", ".join(["[alerts]", *(f"the goal's {v}" for v in p.get("alert_via") or [])])
    return f"{'; '.join(parts)}; to {via}"


def _incident_line(out: Any, inc: dict | None) -> str | None:
    if not inc:
        return None
    sent = ", ".join(f"{n['notice']} {n['kind']} {n['status']}" for n in inc.get("notices") or []) or "no destinations"
    if inc.get("closed_at"):
        return (f"recovered {out.time(inc['closed_at'])} (run {inc.get('recovered_by')}); it was {inc['kind']} "
                f"since {out.time(inc['opened_at'])}: {inc['reason']} [{sent}]")
    return out.paint(f"{inc['kind'].upper()} since {out.time(inc['opened_at'])}: {inc['reason']}", "33") + f" [{sent}]"


def render_goal(ctx: Context, goal: dict) -> str:
    from ..render import key_values, span

    out = ctx.out
    title = f"Goal {out.bold(goal['id'])}"
    if goal.get("name"):
        title += f"  {goal['name']}"
    scheds = []
    for s in goal.get("schedules") or []:
        line = f"{s['cron']}  ({s['timezone']})"
        if not s.get("active", True):
            line += "  inactive"
        if s.get("next_fire"):
            line += f"  next {out.when(s['next_fire'], s.get('timezone'))}"
        scheds.append(line)
    status, when = _last_run(goal)
    last = goal.get("last_run")
    health = goal.get("health")
    health_text = None
    if health and health.get("runs_considered"):
        rate = health.get("success_rate")
        health_text = f"{round(rate * 100)}% of {health['runs_considered']} runs succeeded" if rate is not None else \
            f"{health['runs_considered']} runs"
        if health.get("last_success_at"):
            health_text += f"; last success {out.time(health['last_success_at'])}"
        if health.get("stale"):
            health_text += "; " + out.paint("STALE", "33")
        if health.get("blocked_calls"):
            health_text += "; " + out.paint(f"{health['blocked_calls']} call(s) blocked by the exfiltration guard",
                                            "31")
    pairs: list[tuple[str, Any]] = [
        ("Status", out.status(goal.get("status", "?"))),
        ("Objective", goal.get("objective")),
        ("Schedules", "\n".join(scheds) or "none (runs only when started)"),
        ("Webhook", goal.get("webhook_url")),
        ("Secret", goal.get("webhook_secret")),
        *_params_lines(goal.get("params") or {}),
        ("Catch-up", f"{goal.get('catchup', 'latest')} (window {span(goal.get('catchup_window_s', 86400))})"
                     f"; overlap {goal.get('overlap', 'skip')}"),
        ("Spend", spend_text(goal.get("spend"))),
        ("Last run", f"{last['id']}  {out.status(status)}  {out.time(when)}" if last else "never"),
        ("Waiting", out.paint(f"{goal['awaiting_approval']} call(s) wait for approval: "
                              f"{ctx.command('approvals --goal ' + goal['id'])}", "33")
         if goal.get("awaiting_approval") else None),
        ("Health", health_text),
        ("Incident", _incident_line(out, goal.get("incident"))),
        ("Created", out.time(goal.get("created_at"))),
        ("Updated", out.time(goal.get("updated_at"))),
    ]
    text = title + "\n" + key_values(out, pairs, indent="  ")
    ticks = goal.get("recent_ticks") or []
    if ticks:
        rows = [[out.time(t.get("due_at")), t.get("decision"), t.get("run_id") or "-", t.get("reason") or ""]
                for t in ticks]
        cols = [Column("DUE"), Column("DECISION", paint=out.status), Column("RUN"), Column("REASON", flex=True)]
        text += "\n\nRecent ticks:\n" + table(out, cols, rows)
    return text


def cmd_show(ctx: Context) -> None:
    params = {"id": ctx.args.id}
    if ctx.args.secrets:
        params["secrets"] = True
    goal = ctx.call("goal.get", params)
    if ctx.json:
        return ctx.emit_json(goal)
    ctx.print(render_goal(ctx, goal))


# ---------------------------------------------------------------- edit


def update_params(ctx: Context) -> dict:
    """goal.update params (GoalUpdate) from the options; only what was given
    (an option's --no-… flag sends [] or None). Raises UsageError for an
    option given together with its --no-… flag, or for no option at all."""
    args = ctx.args
    options = goal_options("edit")
    for o in options:
        if o.clear and getattr(args, o.dest) is not None and getattr(args, o.clear_dest):
            raise UsageError(f"{o.flag}/{o.clear[0]}: give one or the other")
    up: dict[str, Any] = {"id": args.id}
    if args.ask or args.deny or args.allow:
        goal = ctx.call("goal.get", {"id": args.id})
        up["id"] = goal["id"]
        up["approvals"] = approval_policy(args, (goal.get("params") or {}).get("approvals") or {}) or {}
    for o in options:
        if o.field is None:
            continue
        if getattr(args, o.dest) is not None:
            up[o.field] = _value(o, args)
        elif o.clear and getattr(args, o.clear_dest):
            up[o.field] = [] if o.repeat else None
    if args.no_schedule:
        if args.timezone:
            raise UsageError("--timezone with --no-schedule makes no sense")
        up["schedules"] = []
    elif args.schedule:
        up["schedules"] = _schedules(args)
    elif args.timezone:
        # A new timezone for the existing schedules.
        goal = ctx.call("goal.get", {"id": args.id})
        up["id"] = goal["id"]
        up["schedules"] = [{"cron": s["cron"], "timezone": args.timezone} for s in goal.get("schedules") or []]
        if not up["schedules"]:
            raise UsageError("the goal has no schedules to move to --timezone")
    if len(up) == 1:
        raise UsageError("nothing to change: give at least one option (see goal edit --help)")
    return up


def cmd_edit(ctx: Context) -> None:
    goal = ctx.call("goal.update", update_params(ctx))
    _warn(ctx, goal)
    if ctx.json:
        return ctx.emit_json(goal)
    ctx.info(f"Updated goal {goal['id']}.")
    ctx.print(render_goal(ctx, goal))


# ---------------------------------------------------------------- delete, pause, resume, run


def cmd_delete(ctx: Context) -> int | None:
    goal_id = ctx.args.id
    if not ctx.args.yes:
        goal = ctx.call("goal.get", {"id": goal_id}) if _stdin_tty() else None
        if goal is None:
            raise UsageError("refusing to delete a goal without --yes when stdin is not a terminal")
        goal_id = goal["id"]
        label = goal.get("name") or shorten(goal.get("objective") or "", 60)
        if not ctx.confirm(f"Delete goal {goal_id} ({label}) with all its runs, outputs and memories?"):
            ctx.info("Not deleted.")
            return 1
    res = ctx.call("goal.delete", {"id": goal_id})
    if ctx.json:
        return ctx.emit_json(res)
    extra = f"; {res['runs_cancelled']} running runs cancelled" if res.get("runs_cancelled") else ""
    ctx.info(f"Deleted goal {res['id']}{extra}.")
    return None


def _stdin_tty() -> bool:
    import sys

    return sys.stdin.isatty()


def cmd_pause(ctx: Context) -> None:
    goal = ctx.call("goal.pause", {"id": ctx.args.id})
    if ctx.json:
        return ctx.emit_json(goal)
    ctx.info(f"Paused goal {goal['id']}: its schedules will not fire until `{ctx.command('goal resume')}`.")


def cmd_resume(ctx: Context) -> None:
    goal = ctx.call("goal.resume", {"id": ctx.args.id})
    if ctx.json:
        return ctx.emit_json(goal)
    nxt = _next_schedule(goal)
    ctx.info(f"Resumed goal {goal['id']}" +
             (f"; next run {ctx.out.when(nxt['next_fire'], nxt.get('timezone'))}." if nxt else "."))


def cmd_run(ctx: Context) -> int | None:
    if getattr(ctx.args, "watch", False):
        from ..watch import run_and_watch

        return run_and_watch(ctx, ctx.args.id)
    run = ctx.call("goal.run", {"id": ctx.args.id})
    if ctx.json:
        return ctx.emit_json(run)
    ctx.print(run["id"])
    ctx.info(f"Started run {run['id']} of goal {run.get('goal_id')} ({run.get('status')}). "
             f"Watch it with `{ctx.command('run watch ' + run['id'])}`.")
    return None


# ---------------------------------------------------------------- next


def cmd_next(ctx: Context) -> None:
    res = ctx.call("goal.next", {"id": ctx.args.id, "count": ctx.args.count})
    if ctx.json:
        return ctx.emit_json(res)
    times = res.get("times", [])
    if not times:
        ctx.info(f"Goal {res.get('goal_id')} has no active schedules.")
        return
    out = ctx.out
    from ..render import local_time, relative_time, schedule_time

    # The schedule's own clock, and this user's (not the daemon's: they may differ).
    rows = [[schedule_time(t["at"], t.get("timezone")), local_time(t["at"], seconds=False),
             t.get("cron")] for t in times]
    cols = [Column("IN SCHEDULE'S ZONE"), Column("YOUR LOCAL TIME"), Column("CRON", flex=True)]
    if out.tty:
        rows = [[relative_time(t["at"]), *row] for t, row in zip(times, rows)]
        cols = [Column("WHEN"), *cols]
    ctx.print(table(out, cols, rows))
