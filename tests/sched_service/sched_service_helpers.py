"""The real Scheduler and RunManager in-process, on trio's virtual clock.

``World`` builds an App on a real Store in tmp_path with an injected wall clock
derived from ``trio.current_time()`` (plus an offset a test can move to make
the wall clock jump). Store writes run inline instead of in a worker thread:
with ``MockClock(autojump_threshold=0)`` a task waiting for a thread counts as
idle and the clock would jump past due ticks.

The executor stands in for the agent: it sleeps ``run_seconds`` of virtual
time (0: none) and finishes the run ``completed`` through ``app.finish_run``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import trio
import trio.testing

from agentd.shared import config as config_mod
from agentd.app import App
from agentd.protocol import methods as m
from agentd.scheduler import Scheduler
from agentd.store import Store
from agentd.store import goals as goals_q


class InlineStore(Store):
    fail_next = 0  # the next n writes fail as if the disk were full (nothing of them is written)

    async def write(self, fn, *args: Any, after=None, **kwargs: Any):
        await trio.lowlevel.checkpoint()
        if self.fail_next:
            self.fail_next -= 1
            from agentd.protocol.errors import StoreUnavailable

            self.writable = False
            raise StoreUnavailable("the database cannot be written: database or disk is full")
        result = self.write_sync(fn, *args, **kwargs)
        if after is not None:  # Store.write: runs right after the commit, in commit order
            after(result)
        return result


def utc_ms(text: str) -> int:
    """'2026-03-29T01:00' (UTC) -> epoch ms."""
    return int(datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp() * 1000)


def iso_utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M")


class WallClock:
    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms
        self.offset_ms = 0
        self.t0 = trio.current_time()

    def __call__(self) -> int:
        return self.start_ms + self.offset_ms + round((trio.current_time() - self.t0) * 1000)

    def jump(self, seconds: float) -> None:
        self.offset_ms += round(seconds * 1000)


class World:
    def __init__(self, tmp_path: Path, start: str, *, run_seconds: float = 0.0, max_concurrent: int = 4) -> None:
        self.tmp_path = tmp_path
        self.start = start
        self.run_seconds = run_seconds
        self.max_concurrent = max_concurrent
        self.executed: list[str] = []

    async def __aenter__(self) -> "World":
        self.wall = WallClock(utc_ms(self.start))
        cfg = config_mod.load(self.tmp_path / "absent.toml", environ={})
        self.store = InlineStore(self.tmp_path / "agentd.db")
        self.app = App(cfg, self.store, clock=self.wall, executor=self._execute)
        self.runs = self.app.runs
        self.runs.max_concurrent = self.max_concurrent
        self._nursery_cm = trio.open_nursery()
        self.nursery = await self._nursery_cm.__aenter__()
        await self.nursery.start(self.app.events.serve)
        await self.nursery.start(self.runs.serve)
        await self.start_scheduler()
        return self

    async def __aexit__(self, *exc) -> bool | None:
        self.nursery.cancel_scope.cancel()
        out = await self._nursery_cm.__aexit__(*exc)
        self.store.close()
        return out

    async def _execute(self, active) -> None:
        self.executed.append(active.run_id)
        if self.run_seconds:
            await trio.sleep(self.run_seconds)
        await self.app.finish_run(active.run_id, active.goal_id, "completed", summary="ok")

    # -- the scheduler's life (a daemon restart = a new Scheduler loading from the store)
    async def start_scheduler(self) -> None:
        app = self.app
        self.sched = Scheduler(app, app.runs, app.approvals, app.alerts, stopping=lambda: app.stopping)
        self.app.scheduler = self.sched
        self._sched_scope = trio.CancelScope()

        async def run(task_status=trio.TASK_STATUS_IGNORED):
            with self._sched_scope:
                await self.sched.serve(task_status=task_status)

        await self.nursery.start(run)

    async def stop_scheduler(self) -> None:
        self._sched_scope.cancel()
        await trio.testing.wait_all_tasks_blocked()

    # -- goals
    def goal(self, cron: str, tz: str = "UTC", **kw: Any) -> tuple[str, str]:
        spec = m.GoalCreate(objective="scheduled test goal", schedules=[m.ScheduleSpec(cron=cron, timezone=tz)], **kw)
        gid = self.store.write_sync(goals_q.insert_goal, self.app.now(), spec, "whsec_dGVzdA==")
        sid = self.store.read(lambda c: c.execute("SELECT id FROM schedules WHERE goal_id = ?", (gid,)).fetchone()[0])
        self.app.schedules_changed()
        return gid, sid

    def goals(self, specs: list[tuple[str, str]]) -> list[str]:
        """Many goals in one transaction; returns their schedule ids in order."""
        now = self.app.now()

        def tx(conn):
            sids = []
            for cron, tz in specs:
                spec = m.GoalCreate(objective="many", schedules=[m.ScheduleSpec(cron=cron, timezone=tz)])
                gid = goals_q.insert_goal(conn, now, spec, "whsec_dGVzdA==")
                sids.append(conn.execute("SELECT id FROM schedules WHERE goal_id = ?", (gid,)).fetchone()[0])
            return sids

        sids = self.store.write_sync(tx)
        self.app.schedules_changed()
        return sids

    def set_status(self, goal_id: str, status: str) -> None:
        self.store.write_sync(goals_q.set_status, self.app.now(), goal_id, status)
        self.app.schedules_changed()

    # -- looking
    def ticks(self, schedule_id: str) -> list[dict]:
        return [dict(r) for r in self.store.read(lambda c: c.execute(
            "SELECT * FROM ticks WHERE schedule_id = ? ORDER BY due_at", (schedule_id,)).fetchall())]

    def all_ticks(self) -> list[dict]:
        return [dict(r) for r in self.store.read(lambda c: c.execute("SELECT * FROM ticks ORDER BY due_at").fetchall())]

    def runs_of(self, goal_id: str) -> list[dict]:
        return [dict(r) for r in self.store.read(lambda c: c.execute(
            "SELECT * FROM runs WHERE goal_id = ? ORDER BY created_at, scheduled_at", (goal_id,)).fetchall())]

    async def sleep_until(self, text: str) -> None:
        """Sleep (virtual time) until the wall clock reads ``text`` (UTC)."""
        await trio.sleep(max(0.0, (utc_ms(text) - self.wall()) / 1000))


def run_virtual(fn, *args: Any) -> Any:
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))
