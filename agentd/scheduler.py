"""The scheduler: fires schedule ticks, records every decision.

No polling loop: it sleeps until the earliest due tick, or until ``wake()``
(a goal or schedule changed), and at most ``max_sleep_s`` (60 s) so that
suspend, resume and clock jumps are noticed within a minute.

Each schedule keeps a cursor: the due time of its last recorded tick (or its
creation time). On every wake, the ticks due in (cursor, now] are decided:

- one tick, noticed within the grace period (60 s): fired normally;
- anything else (the daemon was down, the machine slept, the wall clock
  jumped forward): the goal's catch-up policy decides (none / latest / all
  within a window), see agentd.scheduling.policy;
- a tick that would run is subject to the overlap policy (skip / queue one /
  cancel the previous) and to the goal being paused (skipped, "goal paused").

A tick's record and its run are written in ONE transaction, and the record is
unique per (schedule, due time): a restart in the middle of firing, or a clock
that jumps back, can never fire the same tick twice.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import trio

from . import log
from .protocol import methods as m
from .scheduling import cron, policy
from .store import goals as goals_q
from .store import runs as runs_q
from .store import ticks as ticks_q
from .timeutil import iso

if TYPE_CHECKING:
    from .app import App

_log = log.get("agentd.scheduler")

GRACE_MS = 60_000


@dataclass
class Entry:
    schedule_id: str
    goal_id: str
    cron: str
    tz: str
    cursor: int  # due time of the last decided tick (or the schedule's creation time)
    next_due: int | None


class Scheduler:
    def __init__(self, app: "App", *, max_sleep_s: float = 60.0) -> None:
        self.app = app
        self.max_sleep_s = max_sleep_s
        self.entries: dict[str, Entry] = {}
        self._heap: list[tuple[int, str]] = []
        self._wake = trio.Event()
        self._alive = False
        self.next_wake_ms: int | None = None
        self.fired = 0
        self.lateness_ms: list[float] = []  # of on-time fires, for the benchmark and metrics

    def alive(self) -> bool:
        return self._alive

    def wake(self) -> None:
        self._wake.set()

    def next_ticks(self, count: int) -> list[m.NextTick]:
        best = heapq.nsmallest(count, ((e.next_due, e.schedule_id, e.goal_id) for e in self.entries.values()
                                       if e.next_due is not None))
        return [m.NextTick(goal_id=g, schedule_id=s, at=iso(t)) for t, s, g in best]

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        self._alive = True
        try:
            self._load()
            task_status.started()
            while True:
                if self._wake.is_set():
                    self._wake = trio.Event()
                    self._load()
                await self._fire_due()
                now = self.app.now()
                self.next_wake_ms = self._heap[0][0] if self._heap else None
                delay = self.max_sleep_s if self.next_wake_ms is None else (self.next_wake_ms - now) / 1000
                delay = min(max(delay, 0.0), self.max_sleep_s)
                with trio.move_on_after(delay):
                    await self._wake.wait()
        finally:
            self._alive = False

    # -- state
    def _load(self) -> None:
        rows = self.app.store.read(goals_q.active_schedules)
        now = self.app.now()
        entries: dict[str, Entry] = {}
        for r in rows:
            old = self.entries.get(r["schedule_id"])
            cursor = max(x for x in (r["last_due"], r["created_at"], old.cursor if old else None) if x is not None)
            entry = Entry(r["schedule_id"], r["goal_id"], r["cron_expr"], r["timezone"], cursor, None)
            entry.next_due = self._next_after(entry, cursor)
            entries[entry.schedule_id] = entry
        self.entries = entries
        self._heap = [(e.next_due, e.schedule_id) for e in entries.values() if e.next_due is not None]
        heapq.heapify(self._heap)
        _log.debug("schedules loaded", count=len(entries), now=iso(now))

    def _next_after(self, entry: Entry, after: int) -> int | None:
        try:
            times = cron.next_fires(entry.cron, entry.tz, after, 1)
        except Exception as exc:  # validated on the way in; an old row may not be
            _log.warning("schedule cannot be evaluated", schedule_id=entry.schedule_id, error=str(exc))
            return None
        return times[0] if times else None

    # -- firing
    async def _fire_due(self) -> None:
        now = self.app.now()
        while self._heap and self._heap[0][0] <= now:
            due, sid = heapq.heappop(self._heap)
            entry = self.entries.get(sid)
            if entry is None or entry.next_due != due:
                continue  # stale heap item
            await self._decide(entry, now)
            entry.next_due = self._next_after(entry, max(entry.cursor, now))
            if entry.next_due is not None:
                heapq.heappush(self._heap, (entry.next_due, sid))

    async def _decide(self, entry: Entry, now: int) -> None:
        goal_row = self.app.store.read(goals_q.goal_row, entry.goal_id)
        if goal_row is None:
            return
        upcoming = cron.fires_between(entry.cron, entry.tz, entry.cursor, now, 2)
        if len(upcoming) == 1 and policy.on_time(upcoming[0], now, GRACE_MS):
            decisions = [policy.TickDecision(upcoming[0], "fired", "on time")]
        else:
            decisions = policy.plan_catchup(entry.cron, entry.tz, entry.cursor, now, goal_row["catchup"],
                                            goal_row["catchup_window_s"])
        for d in decisions:
            await self._apply(entry, goal_row, d, now)
        if decisions:
            entry.cursor = max(entry.cursor, decisions[-1].due_ms)

    async def _apply(self, entry: Entry, goal_row: Any, d: policy.TickDecision, now: int) -> None:
        app = self.app
        decision, reason, run_trigger = d.decision, d.reason, None
        if decision in ("fired", "caught_up"):
            run_trigger = "schedule" if decision == "fired" else "catchup"
            if goal_row["status"] != "active":
                decision, reason, run_trigger = "skipped", f"goal {goal_row['status']}", None
            elif app.stopping:
                decision, reason, run_trigger = "skipped", "daemon shutting down", None
            elif not app.store.writable:
                decision, reason, run_trigger = "skipped", "the database cannot be written", None
        if run_trigger is not None:
            active = [policy.ActiveRun(id=i, state=s) for i, s in app.store.read(runs_q.active_runs_of, entry.goal_id)]
            action, why = policy.decide_overlap(goal_row["overlap"], active)
            if action == "skip":
                decision, reason, run_trigger = "skipped", why, None
            elif action == "queue":
                decision, reason = "queued", why
            elif action == "cancel_previous":
                for r in active:
                    await app.runs.cancel(r.id, f"cancelled by the next tick of its schedule ({iso(d.due_ms)})")
                reason = why
        step_budget = app.store.read(goals_q.get_goal, entry.goal_id).params.step_budget

        def tx(conn, now):
            if ticks_q.exists(conn, entry.schedule_id, d.due_ms):
                return None, False
            run_id = None
            if run_trigger is not None:
                run_id = runs_q.insert_run(conn, now, entry.goal_id, step_budget=step_budget, trigger=run_trigger,
                                           scheduled_at=d.due_ms, schedule_id=entry.schedule_id)
            ticks_q.record(conn, now, schedule_id=entry.schedule_id, goal_id=entry.goal_id, due_at=d.due_ms,
                           decision=decision, reason=reason, run_id=run_id)
            return run_id, True

        run_id, recorded = await app.store.write(tx, app.now())
        if not recorded:
            return
        if app.metrics is not None:
            app.metrics.tick(decision)
        _log.info("tick", goal_id=entry.goal_id, schedule_id=entry.schedule_id, due=iso(d.due_ms),
                  decision=decision, reason=reason, run_id=run_id)
        if run_id is not None:
            if decision == "fired":
                self.lateness_ms.append(app.now() - d.due_ms)
                del self.lateness_ms[:-10000]
            self.fired += 1
            await app.runs.submit(run_id)
