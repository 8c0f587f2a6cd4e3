"""The JSON-RPC handlers: thin calls from params structs into the parts.

Each handler validates what the store cannot (cron, timezone, URLs, tool
names), then does one write transaction. A refused request writes nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import msgspec

from .. import budgets, log, provider_life
from ..agent.expected import SEND_TOOLS
from ..protocol.errors import InvalidState, NotFound, ShuttingDown, ValidationFailed
from ..protocol import methods as m
from ..store import goals as goals_q
from ..store import memories as memories_q
from ..store import notify as notify_q
from ..store import runs as runs_q
from ..store import ticks as ticks_q
from ..store.ids import resolve
from ..approvals import policy as approval_policy
from ..store import approvals as approvals_q

if TYPE_CHECKING:
    from ..app import App

_log = log.get("agentd.rpc")

MAX_OBJECTIVE = 20_000
MAX_STEP_BUDGET = 1000
_EMAIL = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")
_HOST = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\.?$")


# ---------------------------------------------------------------- validation


def delivery_warnings(webhook_url: str | None, email_to: list[str], config) -> list[str]:
    """What of a goal's notifications cannot work with ``config``: a webhook
    whose literal host (an IP address or a localhost name; names are not
    resolved here) is private and not in ``tools.private_hosts_allowed``, or
    email recipients while SMTP is not configured. Each says how to fix it."""
    from ..protocol.errors import ToolError
    from ..tools.email import check_configured
    from ..tools.net import private_refusal

    out: list[str] = []
    if webhook_url:
        parts = urlsplit(webhook_url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        why = private_refusal(parts.hostname or "", port, config.tools)
        if why:
            out.append(f"the webhook will be refused: {why}")
    if email_to:
        try:
            check_configured(config.smtp)
        except ToolError as exc:
            out.append(f"no email will be sent: {exc.message}")
    return out


def _check_url(url: str, field: str) -> None:
    bad = ValidationFailed(f"{field}: {url!r} is not an http(s) URL with a host", field=field, value=url)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        raise bad
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port  # .port raises ValueError when out of range
    except ValueError:  # e.g. "http://[::1" (unbalanced brackets), "http://h:99999/"
        raise bad from None
    if parts.scheme not in ("http", "https") or not host:
        raise bad
    if port == 0:
        raise bad
    if parts.username or parts.password:
        raise ValidationFailed(f"{field}: credentials in the URL are not allowed", field=field)


MAX_SCHEDULES = 20
MAX_NAME = 200


def _check_schedules(schedules: list[m.ScheduleSpec]) -> None:
    from ..shared.cron import validate

    if len(schedules) > MAX_SCHEDULES:
        raise ValidationFailed(f"a goal can have at most {MAX_SCHEDULES} schedules, not {len(schedules)}",
                               field="schedules")
    seen: set[tuple[str, str]] = set()
    for i, s in enumerate(schedules):
        if (s.cron, s.timezone) in seen:  # it would fire twice at every due time
            raise ValidationFailed(f"schedule {s.cron!r} ({s.timezone}) is given twice",
                                   field=f"schedules[{i}]", value=s.cron)
        seen.add((s.cron, s.timezone))
        try:
            validate(s.cron, s.timezone)
        except ValidationFailed as exc:
            sub = exc.data.get("field", "cron")
            raise ValidationFailed(f"schedule {s.cron!r} ({s.timezone}): {exc.message}",
                                   field=f"schedules[{i}].{sub}", value=exc.data.get("value")) from None


def _check_params(app: "App", p: m.GoalParams, prefix: str = "params.") -> None:
    if not 1 <= p.step_budget <= MAX_STEP_BUDGET:
        raise ValidationFailed(f"step budget must be between 1 and {MAX_STEP_BUDGET}, not {p.step_budget}",
                               field=prefix + "step_budget", value=p.step_budget)
    if p.allowed_tools is not None:
        known = set(app.tools.names())
        for name in p.allowed_tools:
            if name not in known and not app.tools.accepts(name):  # accepts: server.* of an MCP server
                raise ValidationFailed(f"unknown tool {name!r}; known tools: {', '.join(sorted(known))}",
                                       field=prefix + "allowed_tools", value=name)
    for d in p.allowed_domains:
        if not _HOST.match(d.lower().lstrip("*.")):
            raise ValidationFailed(f"{d!r} is not a domain name", field=prefix + "allowed_domains", value=d)
    for addr in p.email_to:
        if not _EMAIL.match(addr):
            raise ValidationFailed(f"{addr!r} is not an email address", field=prefix + "email_to", value=addr)
    if p.token_budget is not None and p.token_budget < 1:
        raise ValidationFailed("token budget must be positive", field=prefix + "token_budget")
    if p.time_limit_s is not None and p.time_limit_s <= 0:
        raise ValidationFailed("time limit must be positive", field=prefix + "time_limit_s")
    for name in ("max_cost", "max_cost_per_day", "max_cost_per_month"):
        value = getattr(p, name)
        if value is not None and not 0 <= value < 1e9:
            raise ValidationFailed(f"{name.replace('_', ' ')} must be an amount of US dollars, 0 or more, not {value}",
                                   field=prefix + name, value=value)
    if p.max_concurrent is not None and p.max_concurrent < 1:
        raise ValidationFailed("max_concurrent must be at least 1", field=prefix + "max_concurrent")
    for rel in p.expect:
        parts = rel.replace("\\", "/").split("/")
        if not rel.strip() or rel.startswith(("/", "~")) or ".." in parts or any(ord(c) < 32 for c in rel):
            raise ValidationFailed(f"expected output {rel!r} must be a file path relative to the goal's artifacts "
                                   "directory (no leading / or ~, no ..)", field=prefix + "expect", value=rel)
    _check_expect_sent(app, p, prefix)
    approval_policy.check(app.tools, p, prefix)
    for name in ("alert_quiet_periods", "alert_failed_runs"):
        value = getattr(p, name)
        if value is not None and not 0 <= value <= MAX_ALERT_COUNT:
            raise ValidationFailed(f"{name} must be between 0 (no alert) and {MAX_ALERT_COUNT}, not {value}",
                                   field=prefix + name, value=value)


MAX_ALERT_COUNT = 1000


def _check_alert_via(p: m.GoalParams, webhook_url: str | None, prefix: str = "params.") -> None:
    """A goal's alerts can go to its own webhook and email only if it has them."""
    if "webhook" in p.alert_via and not webhook_url:
        raise ValidationFailed("alerts via webhook need the goal's webhook URL (--webhook URL)",
                               field=prefix + "alert_via", value="webhook")
    if "email" in p.alert_via and not p.email_to:
        raise ValidationFailed("alerts via email need the goal's email recipients (--email ADDRESS)",
                               field=prefix + "alert_via", value="email")


def _check_expect_sent(app: "App", p: m.GoalParams, prefix: str) -> None:
    """Each expected delivery is a known kind whose tool the goal may use:
    a run could never make it otherwise, and would always fail."""
    kinds = ", ".join(SEND_TOOLS)
    for kind in p.expect_sent:
        if kind not in SEND_TOOLS:
            raise ValidationFailed(f"unknown expected delivery {kind!r}; it must be one of: {kinds}",
                                   field=prefix + "expect_sent", value=kind)
    if not p.expect_sent:
        return
    usable = {t.name for t in app.tools.select(p.allowed_tools)}
    for kind in dict.fromkeys(p.expect_sent):
        tool = SEND_TOOLS[kind]
        if tool not in usable:
            raise ValidationFailed(f"this goal expects a {kind} to be sent, but its tools do not include {tool}: "
                                   f"add {tool} to the allowed tools (--tools ...,{tool}) or drop the expected "
                                   f"{kind}", field=prefix + "expect_sent", value=kind)


def _check_name(name: str | None) -> None:
    if name is not None and (not name.strip() or len(name) > MAX_NAME or any(ord(c) < 32 for c in name)):
        raise ValidationFailed(f"a goal's name must be 1 to {MAX_NAME} printable characters on one line",
                               field="name", value=name[:50])


def _check_objective(text: str) -> None:
    if not text.strip():
        raise ValidationFailed("the objective is empty: say what the agent should do", field="objective")
    if len(text) > MAX_OBJECTIVE:
        raise ValidationFailed(f"the objective is longer than {MAX_OBJECTIVE} characters", field="objective")


def _check_window(seconds: int) -> None:
    if not 0 <= seconds <= 90 * 86400:
        raise ValidationFailed("catch-up window must be between 0 and 90 days (in seconds)", field="catchup_window_s")


# ---------------------------------------------------------------- handlers



class Handlers:
    def __init__(self, app: "App") -> None:
        self.app = app

    def table(self) -> dict[str, Any]:
        from ..approvals.handlers import ApprovalHandlers

        return {**{name: getattr(self, name.replace(".", "_")) for name in m.METHODS
                   if hasattr(self, name.replace(".", "_"))}, **ApprovalHandlers(self.app.store, self.app.approvals).table()}

    # -- helpers
    def _goal_id(self, ref: str) -> str:
        return self.app.store.read(resolve, "goal", ref)

    def _run_id(self, ref: str) -> str:
        return self.app.store.read(resolve, "run", ref)

    def _full_goal(self, goal_id: str, *, secrets: bool = False, ticks: int = 10) -> m.Goal:
        app = self.app

        def q(conn):
            goal = budgets.goal_spend(conn, [goals_q.get_goal(conn, goal_id, secrets=secrets)], app.config, app.now())[0]
            return (goal, runs_q.last_run(conn, goal_id), ticks_q.recent(conn, goal_id, ticks),
                    len(approvals_q.waiting(conn, goal_id=goal_id)), notify_q.incident_of(conn, goal_id))

        goal, last, recent, awaiting, incident = app.store.read(q)
        schedules = [msgspec.structs.replace(s, description=app.describe_cron(s.cron),
                                             next_fire=app.next_fire_iso(s)) for s in goal.schedules]
        return msgspec.structs.replace(goal, schedules=schedules, last_run=last, recent_ticks=recent,
                                       health=app.metrics.goal_health(goal_id), awaiting_approval=awaiting,
                                       incident=incident)

    # -- goals
    async def goal_create(self, p: m.GoalCreate, conn) -> m.Goal:
        _check_objective(p.objective)
        _check_name(p.name)
        _check_schedules(p.schedules)
        if p.webhook_url is not None:
            _check_url(p.webhook_url, "webhook_url")
        _check_params(self.app, p.params)
        _check_alert_via(p.params, p.webhook_url)
        _check_window(p.catchup_window_s)
        secret = self.app.new_webhook_secret()
        gid = await self.app.store.write(goals_q.insert_goal, self.app.now(), p, secret)
        self.app.redactor.add_goal(gid, secret, p.webhook_url)
        _log.info("goal created", goal_id=gid, schedules=len(p.schedules))
        self.app.schedules_changed()
        return self._with_warnings(self._full_goal(gid))

    async def goal_list(self, p: m.GoalList, conn) -> m.GoalListResult:
        app = self.app

        def q(c):
            goals, total = goals_q.list_goals(c, p.status, max(0, min(p.limit, 1000)), max(0, p.offset))
            return budgets.goal_spend(c, goals, app.config, app.now()), total, runs_q.last_runs(c, [g.id for g in goals])

        goals, total, last = app.store.read(q)
        goals = [msgspec.structs.replace(g, health=app.metrics.goal_health(g.id), last_run=last.get(g.id),
                                         schedules=[msgspec.structs.replace(s, next_fire=app.next_fire_iso(s))
                                                    for s in g.schedules]) for g in goals]
        return m.GoalListResult(goals=goals, total=total)

    async def goal_get(self, p: m.GoalGet, conn) -> m.Goal:
        return self._full_goal(self._goal_id(p.id), secrets=p.secrets, ticks=max(0, min(p.ticks, 500)))

    async def goal_update(self, p: m.GoalUpdate, conn) -> m.Goal:
        gid = self._goal_id(p.id)
        if p.objective is not msgspec.UNSET:
            _check_objective(p.objective)
        if p.name is not msgspec.UNSET:
            _check_name(p.name)
        if p.schedules is not msgspec.UNSET:
            _check_schedules(p.schedules)
        if p.webhook_url not in (msgspec.UNSET, None):
            _check_url(p.webhook_url, "webhook_url")
        if p.catchup_window_s is not msgspec.UNSET:
            _check_window(p.catchup_window_s)
        goal_now = self.app.store.read(goals_q.get_goal, gid)
        current = goal_now.params
        merged = {**msgspec.to_builtins(current)}
        for f in m.GoalParams.__struct_fields__:
            v = getattr(p, f, msgspec.UNSET)
            if v is not msgspec.UNSET:
                merged[f] = v
        try:
            params = msgspec.convert(merged, m.GoalParams)
        except msgspec.ValidationError as exc:
            raise ValidationFailed(f"invalid goal parameters: {exc}") from None
        _check_params(self.app, params, prefix="")
        _check_alert_via(params, goal_now.webhook_url if p.webhook_url is msgspec.UNSET else p.webhook_url, prefix="")
        await self.app.store.write(goals_q.update_goal, self.app.now(), gid, p)
        if p.webhook_url not in (msgspec.UNSET, None):
            self.app.redactor.add_goal(gid, None, p.webhook_url)
        self.app.schedules_changed()
        return self._with_warnings(self._full_goal(gid))

    def _with_warnings(self, goal: m.Goal) -> m.Goal:
        """``goal`` with ``warnings``: its notifications that the current
        configuration will refuse, each with the fix (see delivery_warnings)."""
        warnings = delivery_warnings(goal.webhook_url, goal.params.email_to, self.app.config)
        if goal.params.expect_sent and (goal.params.notify or self.app.config.notify.default) == "on_change":
            warnings.append("notify on_change holds back only agentd's completion webhook and email, not the "
                            "send_webhook/send_email calls this goal's runs must make (--expect-sent)")
        return msgspec.structs.replace(goal, warnings=warnings) if warnings else goal

    async def goal_delete(self, p: m.GoalRef, conn) -> m.Deleted:
        gid = self._goal_id(p.id)
        cancelled = await self.app.runs.cancel_goal_runs(gid, "the goal was deleted")
        await self.app.store.write(goals_q.delete_goal, gid)
        self.app.schedules_changed()
        self.app.remove_goal_artifacts(gid)
        _log.info("goal deleted", goal_id=gid, runs_cancelled=cancelled)
        return m.Deleted(id=gid, runs_cancelled=cancelled)

    async def _set_status(self, ref: str, want: str, allowed_from: tuple[str, ...]) -> m.Goal:
        gid = self._goal_id(ref)

        def tx(conn, now):
            row = goals_q.goal_row(conn, gid)
            if row["status"] == want:
                return
            if row["status"] not in allowed_from:
                raise InvalidState(f"goal {gid} is {row['status']}; cannot set it {want}", status=row["status"])
            goals_q.set_status(conn, now, gid, want)

        await self.app.store.write(tx, self.app.now())
        self.app.schedules_changed()
        return self._full_goal(gid)

    async def goal_pause(self, p: m.GoalRef, conn) -> m.Goal:
        return await self._set_status(p.id, "paused", ("active",))

    async def goal_resume(self, p: m.GoalRef, conn) -> m.Goal:
        return await self._set_status(p.id, "active", ("paused",))

    async def goal_run(self, p: m.GoalRun, conn) -> m.Run:
        app = self.app
        if app.stopping:
            raise ShuttingDown("agentd is shutting down and starts no new runs")
        app.require_store_writable()
        gid = self._goal_id(p.id)
        goal = app.store.read(goals_q.get_goal, gid)
        if goal.status == "archived":
            raise InvalidState(f"goal {gid} is archived; it cannot run", status=goal.status)
        await budgets.refuse_unpriced(app.money, app.config, app.provider, goal)

        def tx(conn, now):
            return runs_q.insert_run(conn, now, gid, step_budget=goal.params.step_budget, trigger="manual")

        rid = await app.store.write(tx, app.now())
        _log.info("run created", goal_id=gid, run_id=rid, trigger="manual")
        await app.runs.submit(rid)
        return app.store.read(runs_q.get_run, rid)

    async def goal_next(self, p: m.GoalNext, conn) -> m.GoalNextResult:
        gid = self._goal_id(p.id)
        goal = self.app.store.read(goals_q.get_goal, gid)
        return m.GoalNextResult(goal_id=gid, times=self.app.next_fires(goal, max(1, min(p.count, 100))))

    # -- runs
    async def run_list(self, p: m.RunList, conn) -> m.RunListResult:
        gid = self._goal_id(p.goal_id) if p.goal_id is not None else None

        def q(c):
            runs, total = runs_q.list_runs(c, gid, p.status, max(0, min(p.limit, 1000)), max(0, p.offset))
            return [budgets.run_with_cost(c, r, detail=False) for r in runs], total

        runs, total = self.app.store.read(q)
        return m.RunListResult(runs=runs, total=total)

    async def run_get(self, p: m.RunRef, conn) -> m.Run:
        def q(c):
            run = budgets.run_with_cost(c, runs_q.get_run(c, rid), detail=True)
            return msgspec.structs.replace(run, approvals=approvals_q.of_run(c, rid))

        rid = self._run_id(p.id)
        return self.app.store.read(q)

    async def run_steps(self, p: m.RunSteps, conn) -> m.RunStepsResult:
        rid = self._run_id(p.id)

        def q(c):
            steps = runs_q.steps_of(c, rid, p.after, max(1, min(p.limit, 10000)))
            return (budgets.steps_with_cost(c, rid, steps), runs_q.run_row(c, rid)["status"],
                    notify_q.unchanged_since(c, rid))

        steps, status, since = self.app.store.read(q)
        return m.RunStepsResult(run_id=rid, steps=steps, run_status=status, unchanged_since=since)

    async def run_outputs(self, p: m.RunRef, conn) -> m.RunOutputsResult:
        rid = self._run_id(p.id)
        return m.RunOutputsResult(run_id=rid, outputs=self.app.store.read(runs_q.outputs_of, rid))

    async def run_cancel(self, p: m.RunCancel, conn) -> m.Run:
        rid = self._run_id(p.id)
        await self.app.runs.cancel(rid, p.reason)
        return self.app.store.read(runs_q.get_run, rid)

    async def run_delete(self, p: m.RunRef, conn) -> m.Deleted:
        rid = self._run_id(p.id)
        status = self.app.store.read(runs_q.run_row, rid)["status"]
        if status in runs_q.ACTIVE:
            raise InvalidState(f"run {rid} is {status}; cancel it first (`agentctl run cancel {rid}`)", status=status)
        await self.app.store.write(runs_q.delete_run, rid)
        return m.Deleted(id=rid)

    async def run_watch(self, p: m.RunWatch, conn) -> m.RunWatchResult:
        run_id = self._run_id(p.run_id) if p.run_id else None
        goal_id = self._goal_id(p.goal_id) if p.goal_id else None
        if not (run_id or goal_id or p.all):
            raise ValidationFailed("give run_id, goal_id or all=true", field="run_id")
        return await self.app.events.watch(conn, run_id=run_id, goal_id=goal_id, everything=p.all,
                                           since=p.since, deltas=p.deltas, detail=p.detail)

    async def run_unwatch(self, p: m.RunUnwatch, conn) -> m.Ok:
        cancel = conn.subscriptions.pop(p.subscription, None)
        if cancel is None:
            raise NotFound(f"no subscription {p.subscription} on this connection", id=p.subscription)
        cancel()
        return m.Ok()

    # -- memories
    async def memory_list(self, p: m.MemoryList, conn) -> m.MemoryListResult:
        gid = self._goal_id(p.goal_id)
        limit = max(1, min(p.limit, 1000))
        if p.query:
            mems = self.app.store.read(memories_q.search, gid, p.query, limit)
            if p.type:
                mems = [x for x in mems if x.type == p.type]
        else:
            mems = self.app.store.read(memories_q.list_, gid, p.type, limit)
        return m.MemoryListResult(memories=mems)

    async def memory_add(self, p: m.MemoryAdd, conn) -> m.Memory:
        gid = self._goal_id(p.goal_id)
        if not p.content.strip():
            raise ValidationFailed("the memory is empty", field="content")
        mid = await self.app.store.write(memories_q.insert, self.app.now(), gid, p.type, p.content, p.metadata)
        return self.app.store.read(memories_q.get, mid)

    async def memory_delete(self, p: m.MemoryRef, conn) -> m.Deleted:
        mid = self.app.store.read(resolve, "memory", p.id)
        await self.app.store.write(memories_q.delete, mid)
        return m.Deleted(id=mid)

    # -- tools, provider
    async def tool_list(self, p: m.Empty, conn) -> m.ToolListResult:
        return m.ToolListResult(tools=self.app.tools.infos(self.app.config.tools))

    async def mcp_list(self, p: m.Empty, conn) -> m.McpListResult:
        return m.McpListResult(servers=self.app.mcp.states())

    async def mcp_check(self, p: m.McpCheck, conn) -> m.McpServerState:
        return await self.app.mcp.check(p.name)

    async def provider_check(self, p: m.ProviderCheck, conn) -> m.ProviderStatus:
        return await provider_life.check_now(self.app)

    # -- daemon
    async def daemon_status(self, p: m.Empty, conn) -> m.DaemonStatus:
        await provider_life.still_reachable(self.app)
        return msgspec.structs.replace(self.app.status(), spend=budgets.daemon_spend(self.app.store, self.app.config, self.app.now()))

    async def daemon_stop(self, p: m.DaemonStop, conn) -> m.Ok:
        self.app.request_stop(deadline_s=p.deadline_s, reason=f"daemon.stop from pid {conn.pid}")
        return m.Ok()

    async def daemon_reload(self, p: m.DaemonReload, conn) -> m.ReloadResult:
        from ..reload import reload

        return await reload(self.app, log_level=p.log_level)

    async def daemon_metrics(self, p: m.DaemonMetrics, conn) -> m.MetricsResult:
        return self.app.metrics.result(p.format)
