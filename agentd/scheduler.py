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
  Runs made by one catch-up batch (policy ``all``) do not overlap each other.

A tick whose transaction fails (disk full) is retried every few seconds until
it is recorded (late: the catch-up policy then decides); while the daemon
stops, due ticks are left for the catch-up policy at the next start. Nothing
that goes wrong in one tick takes the daemon down.

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
from .errors import AgentdError, StoreError
from .store import goals as goals_q
from .store import runs as runs_q
from .store import ticks as ticks_q
from .timeutil import iso

if TYPE_CHECKING:
    from .app import App

_log = log.get("agentd.scheduler")

GRACE_MS = 60_000
RETRY_MS = 5_000  # after the store refused to record a tick


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
        self.retry_at_ms: int | None = None

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
                if self.retry_at_ms is not None:
                    self.next_wake_ms = self.retry_at_ms
                delay = self.max_sleep_s if self.next_wake_ms is None else (self.next_wake_ms - now) / 1000
                delay = min(max(delay, 0.0), self.max_sleep_s)
                if self.app.stopping:
                    delay = self.max_sleep_s  # due ticks are left to the catch-up policy at the next start
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
        """Decide every tick due by now. Returns early while the daemon stops
        (those ticks are left to the catch-up policy at the next start) or
        when the store refuses a write (retried at the next wake)."""
        self.retry_at_ms = None
        now = self.app.now()
        while self._heap and self._heap[0][0] <= now:
            if self.app.stopping:
                return
            due, sid = self._heap[0]
            entry = self.entries.get(sid)
            if entry is None or entry.next_due != due:
                heapq.heappop(self._heap)
                continue  # stale heap item
            try:
                await self._decide(entry, now)
            except StoreError as exc:
                # Nothing of the failed tick was written (one transaction):
                # keep the entry where it is and try again shortly.
                _log.error("could not record a schedule tick; retrying", schedule_id=sid, error=exc.message)
                self.retry_at_ms = now + RETRY_MS
                return
            except Exception as exc:  # a bug: log it, never take the daemon down with it
                _log.error("schedule tick failed", schedule_id=sid, exc_info=exc)
                entry.cursor = max(entry.cursor, due)
            heapq.heappop(self._heap)
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
        batch: set[str] = set()  # runs made by this batch do not overlap each other (catch-up "all")
        for d in decisions:
            run_id = await self._apply(entry, goal_row, d, batch)
            if run_id is not None:
                batch.add(run_id)
            entry.cursor = max(entry.cursor, d.due_ms)

    async def _apply(self, entry: Entry, goal_row: Any, d: policy.TickDecision, batch: set[str]) -> str | None:
        app = self.app
        if app.store.read(ticks_q.exists, entry.schedule_id, d.due_ms):
            return None  # decided before (a restart mid-firing, a clock that went back)
        decision, reason, run_trigger = d.decision, d.reason, None
        if decision in ("fired", "caught_up"):
            run_trigger = "schedule" if decision == "fired" else "catchup"
            if goal_row["status"] != "active":
                decision, reason, run_trigger = "skipped", f"goal {goal_row['status']}", None
            # (A store that cannot be written is not a reason to skip: the
            # write below fails and the tick is retried until it can be recorded.)
        if run_trigger is not None:
            active = [policy.ActiveRun(id=i, state=s) for i, s in app.store.read(runs_q.active_runs_of, entry.goal_id)
                      if i not in batch]
            action, why = policy.decide_overlap(goal_row["overlap"], active)
            if action == "skip":
                decision, reason, run_trigger = "skipped", why, None
            elif action == "queue":
                decision, reason = "queued", why
            elif action == "cancel_previous":
                for r in active:
                    try:
                        await app.runs.cancel(r.id, f"cancelled by the next tick of its schedule ({iso(d.due_ms)})")
                    except AgentdError:
                        pass  # ended meanwhile
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
            return None
        if app.metrics is not None:
            app.metrics.tick(decision)
        _log.info("tick", goal_id=entry.goal_id, schedule_id=entry.schedule_id, due=iso(d.due_ms),
                  decision=decision, reason=reason, run_id=run_id)
        if run_id is not None:
            if decision == "fired":
                self.lateness_ms.append(app.now() - d.due_ms)
                del self.lateness_ms[:-10000]
            self.fired += 1
            try:
                await app.runs.submit(run_id)
            except AgentdError as exc:  # recorded and pending: the run manager claims it later
                _log.warning("could not start the tick's run yet", run_id=run_id, error=exc.message)
        return run_id
