"""Alerts when a scheduled goal goes quiet, and a notice when it recovers.

An *incident* opens for an active goal with an active schedule when either

- ``quiet``: it had no successful run for N of its periods (N: the goal's
  ``alert_quiet_periods``, else ``[alerts] quiet_periods``, default 2). The
  periods are counted as goal health counts them (``metrics.owed_periods``:
  the schedules' fire times since the last success); while a run of the goal
  is pending or running, the latest period is not counted yet — that run may
  still succeed; or
- ``failing``: its last K finished runs all failed (K: ``alert_failed_runs``,
  else ``[alerts] failed_runs``, default 3).

(0 turns either check off.) A success is what goal health counts as one: a
completed run with at least one tool step.

One incident per goal at a time (a partial unique index), so one alert per
incident however many runs fail or periods pass; it closes when a run of the
goal succeeds, with one recovery notice. Both go to the daemon-wide
destinations (``[alerts] webhook_url``, signed with ``webhook_secret``, and
``email_to``) and, per goal (``alert_via``), to the goal's own webhook (signed
with its secret) and email recipients. Webhook events: ``goal.alert`` and
``goal.recovered``.

Durability: an incident is committed together with the intents of its
deliveries, before anything is sent; each delivery is then marked with its
outcome (delivered, failed, refused, unknown), as in the run ledger. At
start, intents that a stopped daemon left are marked ``unknown`` and never
sent again, and an incident open before a restart stays open without being
announced again.

When it looks: at start (every scheduled goal), after each run of a goal
ends, and after the scheduler records ticks of a goal (a period passed). The
hooks only mark the goal; ``serve`` does the work, so neither the scheduler
nor a run waits for a delivery. A check that finds nothing remembers when
the goal could first be quiet (the fire time of its N-th period after the
last success); ticks before then cost a dict lookup, not a check, so a daemon
with thousands of schedules due at once does not run thousands of checks
every minute. A run's end, a goal or schedule change and a reloaded
configuration forget it. A check that fails is logged and the daemon goes on.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import trio

from .. import log
from ..protocol.errors import AgentdError
from ..metrics import owed_periods
from ..protocol import methods as m
from ..shared import cron
from ..store import notify as notify_q
from ..store.ids import new_id
from ..timeutil import iso
from ..tools.base import EffectRecord

if TYPE_CHECKING:
    from ..core import Core

_log = log.get("agentd.alerts")
_params_dec = msgspec.json.Decoder(m.GoalParams)

Notice = Literal["alert", "recovery"]


class IncidentEffects:
    """``SideEffects`` (tools.base) bound to one incident's notice: the rows
    of ``incident_deliveries``, with the ledger's at-most-once rule."""

    def __init__(self, app: "Core", incident_id: str, notice: Notice) -> None:
        self.app, self.incident_id, self.notice = app, incident_id, notice

    async def begin(self, *, kind: str, target: str, key: str, summary: str, source: str = "alert") -> EffectRecord:
        row = await self.app.store.write(notify_q.begin_delivery, self.app.now(), self.incident_id, self.notice,
                                         kind=kind, key=key, target=target, summary=summary, durable=True)
        return EffectRecord(id=row["id"], idempotency_key=row["idempotency_key"], status=row["status"],
                            attempts=row["attempts"], detail=row["detail"])

    async def finish(self, effect_id: str, *, status: str, detail: str, attempts: int) -> None:
        await self.app.store.write(notify_q.finish_delivery, self.app.now(), effect_id, status=status,
                                   detail=self.app.redactor.redact(detail), attempts=attempts)
        self.app.metrics.inc("agentd_alerts_total", notice=self.notice,
                             outcome="delivered" if status == "delivered" else "failed")


class Destination(msgspec.Struct, frozen=True):
    kind: Literal["webhook", "email"]
    source: Literal["daemon", "goal"]
    target: str  # URL, or comma-separated addresses
    secret: str | None = None

    def key(self, incident_id: str, notice: Notice) -> str:
        return f"incident-{incident_id}:{notice}-{self.kind}" + ("-goal" if self.source == "goal" else "")

    def display(self) -> str:
        from ..tools.net import url_for_display

        return url_for_display(self.target) if self.kind == "webhook" else self.target


class Alerts:
    def __init__(self, app: "Core") -> None:
        self.app = app
        self._marked: set[str] = set()
        self._not_before: dict[str, float] = {}  # goal -> when it could first be quiet (ms; inf: not by ticks)
        self._config = app.config
        self._all = True  # the first pass looks at every scheduled goal
        self._wake = trio.Event()
        self._wake.set()

    # -- hooks (sync, cheap: the work happens in serve)
    def goal_changed(self, goal_id: str | None) -> None:
        """A run of ``goal_id`` ended: look at it soon."""
        if goal_id is not None:
            self._not_before.pop(goal_id, None)
            self._marked.add(goal_id)
            self._wake.set()

    def ticks_recorded(self, goal_ids) -> None:
        """Periods of these goals passed: look at those that could be quiet by now."""
        if self.app.config is not self._config:  # reloaded: the thresholds may have changed
            self.forget()
        now = self.app.now()
        not_before = self._not_before
        due = [g for g in goal_ids if not_before.get(g, 0) <= now]
        if due:
            self._marked.update(due)
            self._wake.set()

    def forget(self) -> None:
        """Goals or schedules changed: every goal is checked again at its next tick."""
        self._not_before.clear()
        self._config = self.app.config

    # -- life
    def recover(self) -> int:
        """At start, before serving: intents left by the previous daemon -> unknown."""
        n = self.app.store.write_sync(notify_q.mark_unknown, self.app.now())
        if n:
            _log.warning("alert deliveries interrupted by a stop are marked unknown (not re-sent)", deliveries=n)
        return n

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await self._wake.wait()
            self._wake = trio.Event()
            if self._all:
                self._all = False
                goals = self.app.store.read(notify_q.scheduled_goal_ids)
                self._marked.clear()
            else:
                goals, self._marked = sorted(self._marked), set()
            for gid in goals:
                await trio.lowlevel.checkpoint()  # thousands of goals at start: keep requests answered
                try:
                    await self.check(gid)
                except AgentdError as exc:  # the store refused: looked at again at its next run or tick
                    _log.error("could not check the goal for alerts", goal_id=gid, error=exc.message)
                except Exception as exc:  # a bug: log it, never take the daemon down with it
                    _log.error("goal alert check failed", goal_id=gid, exc_info=exc)

    # -- the decision
    async def check(self, goal_id: str) -> None:
        """Open an incident (and alert) or close one (and notify recovery) for ``goal_id``."""
        app = self.app
        cfg = app.config.alerts
        goal = app.store.read(notify_q.goal_for_alerts, goal_id)
        if goal is None:
            return  # deleted
        params = _params_dec.decode(goal["params"])
        k = _count(params.alert_failed_runs, cfg.failed_runs)
        view = app.store.read(notify_q.alert_view, goal, k)
        incident = view["incident"]
        if incident is not None:
            ok = view["last_ok"]
            recovered = ok is not None and ok["ended_at"] >= incident["opened_at"]
            _log.debug("goal checked for alerts", goal_id=goal_id, incident=incident["id"], recovered=recovered)
            if recovered:  # its next tick counts from this success
                self._not_before.pop(goal_id, None)
                await self._recover(view, params, incident, ok["id"])
            else:
                self._not_before[goal_id] = math.inf  # only a run's end can close it
            return
        if not view["schedules"]:
            _log.debug("goal checked for alerts", goal_id=goal_id, scheduled=False)
            self._not_before[goal_id] = math.inf
            return  # paused, archived or not scheduled: nothing is owed
        n = _count(params.alert_quiet_periods, cfg.quiet_periods)
        found = self._failing(view, k) or self._quiet(view, n)
        _log.debug("goal checked for alerts", goal_id=goal_id, found=found[0] if found else None)
        if found is not None:
            self._not_before[goal_id] = math.inf
            await self._open(view, params, *found)
        else:
            self._not_before[goal_id] = self._quiet_from(view, n)

    @staticmethod
    def _failing(view: dict, k: int) -> tuple[str, str] | None:
        recent = view["recent"][:k] if k else []
        if k == 0 or len(recent) < k or any(r["ok"] for r in recent):
            return None
        latest = recent[0]
        why = f": {latest['error']}" if latest["error"] else ""
        return "failing", (f"its last {k} runs failed (the latest, run {latest['id']}, "
                           f"{latest['status']}{why})")

    def _quiet(self, view: dict, n: int) -> tuple[str, str] | None:
        if n == 0:
            return None
        ok = view["last_ok"]
        owed = owed_periods(view["schedules"], ok["ended_at"] if ok else None, self.app.now(), n + 1)
        if view["busy"]:
            owed -= 1  # the run of the latest period may still succeed
        if owed < n:
            return None
        crons = ", ".join(f"{expr} ({zone})" for expr, zone, _ in view["schedules"])
        last = f"the last one ended {iso(ok['ended_at'])} (run {ok['id']})" if ok else "it never had one"
        return "quiet", f"no successful run for {n} of its periods ({crons}); {last}"

    @staticmethod
    def _quiet_from(view: dict, n: int) -> float:
        """When the goal could first be quiet: the fire time of its N-th period
        after the last success (one more while a run of it is active: that
        run's end is checked anyway); inf when never by ticks alone."""
        if n == 0:
            return math.inf
        ok = view["last_ok"]
        count = n + (1 if view["busy"] else 0)
        fires: list[int] = []
        for expr, zone, created_at in view["schedules"]:
            since = max(ok["ended_at"] if ok else 0, created_at)
            try:
                fires += cron.next_fires(expr, zone, since, count)
            except Exception:  # validated on the way in; an old row may not be: it owes nothing
                continue
        fires.sort()
        return fires[count - 1] if len(fires) >= count else math.inf

    # -- incidents
    def _destinations(self, goal: Any, params: m.GoalParams) -> list[Destination]:
        cfg = self.app.config.alerts
        out: list[Destination] = []
        if cfg.webhook_url:
            out.append(Destination("webhook", "daemon", cfg.webhook_url, cfg.webhook_secret))
        if "webhook" in params.alert_via and goal["webhook_url"] and goal["webhook_url"] != cfg.webhook_url:
            out.append(Destination("webhook", "goal", goal["webhook_url"], goal["webhook_secret"]))
        emails = list(cfg.email_to) + (list(params.email_to) if "email" in params.alert_via else [])
        seen: dict[str, str] = {}
        for addr in emails:
            seen.setdefault(addr.strip().lower(), addr.strip())
        if seen:
            out.append(Destination("email", "daemon", ", ".join(seen.values())))
        return out

    async def _open(self, view: dict, params: m.GoalParams, kind: str, reason: str) -> None:
        app, goal = self.app, view["goal"]
        dests = self._destinations(goal, params)
        iid, now = new_id(), app.now()
        ok = await app.store.write(notify_q.insert_incident, now, iid, goal["id"], kind, reason,
                                   _rows(dests, iid, "alert"), durable=True)
        if not ok:
            return  # opened meanwhile
        _log.warning("goal alert: incident opened", goal_id=goal["id"], incident_id=iid, kind=kind, reason=reason,
                     destinations=len(dests))
        payload = self._payload("goal.alert", goal, iid, kind, reason, now, view)
        await self._send(goal, iid, "alert", dests, payload)

    async def _recover(self, view: dict, params: m.GoalParams, incident: Any, run_id: str) -> None:
        app, goal = self.app, view["goal"]
        dests = self._destinations(goal, params)
        iid = incident["id"]
        if not await app.store.write(notify_q.close_incident, app.now(), iid, run_id, _rows(dests, iid, "recovery"),
                                     durable=True):
            return
        _log.info("goal recovered: incident closed", goal_id=goal["id"], incident_id=iid, run_id=run_id)
        payload = self._payload("goal.recovered", goal, iid, incident["kind"], incident["reason"],
                                incident["opened_at"], view, recovered_by=run_id)
        await self._send(goal, iid, "recovery", dests, payload)

    def _payload(self, type_: str, goal: Any, iid: str, kind: str, reason: str, opened: int, view: dict, *,
                 recovered_by: str | None = None) -> dict:
        ok = view["last_ok"]
        latest = view["recent"][0] if view["recent"] else None
        gid = goal["id"]
        look = [f"agentctl goal show {gid}", f"agentctl run list --goal {gid}"]
        if latest is not None:
            look.append(f"agentctl run logs {recovered_by or latest['id']}")
        return {"type": type_, "goal_id": gid, "goal_name": goal["name"], "objective": goal["objective"],
                "incident_id": iid, "kind": kind, "reason": reason, "opened_at": iso(opened),
                "recovered_by": recovered_by, "last_success_at": iso(ok["ended_at"]) if ok else None,
                "last_run": ({"id": latest["id"], "status": latest["status"], "error": latest["error"]}
                             if latest is not None else None),
                "look": look}

    async def _send(self, goal: Any, iid: str, notice: Notice, dests: list[Destination], payload: dict) -> None:
        from ..tools import email, webhook
        from ..tools.net import NetPolicy

        app = self.app
        effects = IncidentEffects(app, iid, notice)
        on_retry = app.metrics.delivery_retry
        for d in dests:
            key = d.key(iid, notice)
            try:
                if d.kind == "webhook":
                    result = await webhook.deliver_webhook(
                        d.target, payload, secret=d.secret, key=key, policy=NetPolicy(app.config.tools, ()),
                        effects=effects, source="alert", on_retry=on_retry)
                else:
                    subject, body = _email_text(payload)
                    result = await email.deliver_email(
                        [a.strip() for a in d.target.split(",")], subject, body, key=key, smtp=app.config.smtp,
                        tools=app.config.tools, effects=effects, source="alert", on_retry=on_retry)
            except AgentdError as exc:  # refused before anything was recorded (a bad URL)
                await app.store.write(notify_q.refuse_delivery, app.now(), key, exc.message)
                _log.warning("alert not sent", incident_id=iid, notice=notice, kind=d.kind, error=exc.message)
                continue
            log_fn = _log.info if result.status in ("delivered", "skipped") else _log.warning
            log_fn("alert delivery", incident_id=iid, goal_id=goal["id"], notice=notice, kind=d.kind,
                   target=d.display(), status=result.status, detail=result.detail)


def _rows(dests: list[Destination], iid: str, notice: Notice) -> list[tuple[str, str, str, str]]:
    """The intents to commit with an incident's opening or closing."""
    return [(d.kind, d.key(iid, notice), d.display(), f"{notice} to the {d.source}'s {d.kind}") for d in dests]


def _count(goal_value: int | None, default: int) -> int:
    return default if goal_value is None else goal_value


def _email_text(p: dict) -> tuple[str, str]:
    name = p["goal_name"] or p["objective"][:60]
    if p["type"] == "goal.recovered":
        subject = f"[agentd] recovered: goal {name}"
        head = (f"Goal {name} ({p['goal_id']}) succeeded again: run {p['recovered_by']}.\n\n"
                f"It had been {'quiet' if p['kind'] == 'quiet' else 'failing'} since {p['opened_at']}: "
                f"{p['reason']}.")
    else:
        subject = f"[agentd] goal {name} has {'gone quiet' if p['kind'] == 'quiet' else 'been failing'}"
        head = f"Goal {name} ({p['goal_id']}): {p['reason']}."
        if p["last_run"]:
            r = p["last_run"]
            head += f"\n\nIts latest run, {r['id']}, {r['status']}" + (f": {r['error']}" if r["error"] else "") + "."
        head += ("\n\nYou get this once for this incident, and a notice when the goal succeeds again.")
    look = "\n".join(f"  {cmd}" for cmd in p["look"])
    return subject, f"{head}\n\nTo look:\n{look}\n"
