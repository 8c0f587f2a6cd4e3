"""The run manager: every run is a task in this nursery.

- ``submit`` / ``fill`` claim pending runs in creation order while there is
  capacity (global ``max_concurrent_runs``, and a goal's ``max_concurrent``;
  a goal with overlap policy ``queue`` runs one run at a time).
  Each run task is started with ``nursery.start``: it reports started once the
  run is claimed (``pending`` -> ``running`` in one guarded update), so a
  ``goal.run`` reply goes out only after the claim.
- ``cancel(run_id, reason)``: a pending run is finished ``cancelled`` at once;
  a running one is cancelled through its CancelScope and finished
  ``cancelled`` with that reason, its steps kept.
- Shutdown: ``drain(deadline)`` stops claiming, tells runs to stop at their
  next turn boundary, waits up to the deadline, then cancels them. Runs
  stopped this way stay ``running`` in the store and are resumed at the next
  start by ``recover``.
- ``recover`` at start: runs found ``running`` (the daemon died or was stopped)
  go back to ``pending`` to be resumed from their last committed step; their
  side-effect intents without an outcome become ``unknown``. A run that has
  been recovered more than ``runs.max_recoveries`` times is failed with that
  reason instead (it keeps crashing the daemon).

Failure: the executor reports the run's outcome; an exception escaping it is
a bug: the run is failed with the exception named, and the daemon goes on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from . import log
from .errors import InvalidState
from .store import effects as effects_q
from .store import goals as goals_q
from .store import runs as runs_q

if TYPE_CHECKING:
    from .app import App

_log = log.get("agentd.runs")


@dataclass(eq=False)
class ActiveRun:
    run_id: str
    goal_id: str
    scope: trio.CancelScope
    drain: trio.Event = field(default_factory=trio.Event)  # stop at the next turn boundary
    cancel_reason: str | None = None
    done: trio.Event = field(default_factory=trio.Event)

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.scope.cancel()


Executor = Callable[[ActiveRun], Awaitable[None]]


class RunManager:
    def __init__(self, app: "App", executor: Executor, *, max_concurrent: int = 4) -> None:
        self.app = app
        self.executor = executor
        self.max_concurrent = max(1, max_concurrent)
        self.active: dict[str, ActiveRun] = {}
        self._nursery: trio.Nursery | None = None
        self._fill_lock = trio.Lock()
        self.draining = False

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            task_status.started()
            await self.fill()
            await trio.sleep_forever()

    # -- recovery (before serving)
    def recover(self) -> tuple[int, int]:
        """Runs left ``running`` -> ``pending`` (resumed) or ``failed``. Returns (resumed, failed)."""
        store, now = self.app.store, self.app.now()
        limit = self.app.config.runs.max_recoveries

        def tx(conn):
            resumed = failed = 0
            for rid in runs_q.ids_with_status(conn, "running"):
                effects_q.mark_unknown(conn, now, rid)
                n = runs_q.bump_recoveries(conn, rid)
                if n > limit:
                    reason = (f"the run was interrupted {n} times (daemon crash or stop) and was not resumed again; "
                              f"the limit is runs.max_recoveries = {limit}")
                    runs_q.finish(conn, now, rid, "failed", error=reason)
                    failed += 1
                else:
                    conn.execute("UPDATE runs SET status = 'pending' WHERE id = ?", (rid,))
                    resumed += 1
            return resumed, failed

        resumed, failed = store.write_sync(tx)
        if resumed or failed:
            _log.info("recovered interrupted runs", resumed=resumed, failed=failed)
        return resumed, failed

    # -- claiming
    async def submit(self, run_id: str) -> None:
        """Claim pending runs (this one among them) while there is capacity."""
        await self.fill()

    async def fill(self) -> None:
        if self._nursery is None or self.draining:
            return
        async with self._fill_lock:
            pending = self.app.store.read(runs_q.ids_with_status, "pending")
            per_goal: dict[str, int] = {}
            for a in self.active.values():
                per_goal[a.goal_id] = per_goal.get(a.goal_id, 0) + 1
            for rid in pending:
                if self.draining or len(self.active) >= self.max_concurrent:
                    break
                if rid in self.active:
                    continue
                row = self.app.store.read(runs_q.run_row, rid)
                goal = self.app.store.read(goals_q.get_goal, row["goal_id"])
                # A goal whose overlap policy is "queue" runs one at a time:
                # the queued run waits for the one before it.
                limit = goal.params.max_concurrent or (1 if goal.overlap == "queue" else None)
                if limit is not None and per_goal.get(goal.id, 0) >= limit:
                    continue
                if await self._nursery.start(self._run, rid, goal.id):
                    per_goal[goal.id] = per_goal.get(goal.id, 0) + 1

    async def _run(self, run_id: str, goal_id: str, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        claimed = await self.app.store.write(runs_q.claim, self.app.now(), run_id)
        if not claimed:
            task_status.started(False)
            return
        active = ActiveRun(run_id=run_id, goal_id=goal_id, scope=trio.CancelScope())
        self.active[run_id] = active
        task_status.started(True)
        try:
            with log.fresh(run_id=run_id, goal_id=goal_id):
                with active.scope:
                    try:
                        await self.executor(active)
                    except Exception as exc:  # a bug in our code: fail the run loudly, keep the daemon
                        _log.error("run crashed", exc_info=exc)
                        await self.app.finish_run(run_id, goal_id, "failed",
                                                  error=f"internal error: {type(exc).__name__}: {exc}")
                if active.scope.cancelled_caught and active.cancel_reason is not None:
                    with trio.CancelScope(shield=True):
                        await self.app.finish_run(run_id, goal_id, "cancelled", error=active.cancel_reason)
        finally:
            del self.active[run_id]
            active.done.set()
            if not self.draining and self._nursery is not None:
                self._nursery.start_soon(self.fill)

    # -- cancelling
    async def cancel(self, run_id: str, reason: str) -> None:
        active = self.active.get(run_id)
        if active is not None:
            active.cancel(reason)
            with trio.move_on_after(10):
                await active.done.wait()
            return
        status = self.app.store.read(runs_q.run_row, run_id)["status"]
        if status == "pending":
            goal_id = self.app.store.read(runs_q.run_row, run_id)["goal_id"]
            await self.app.finish_run(run_id, goal_id, "cancelled", error=reason)
            return
        if status in runs_q.FINISHED:
            raise InvalidState(f"run {run_id} already ended ({status})", status=status)

    async def cancel_goal_runs(self, goal_id: str, reason: str) -> int:
        ids = [rid for rid, _ in self.app.store.read(runs_q.active_runs_of, goal_id)]
        for rid in ids:
            try:
                await self.cancel(rid, reason)
            except InvalidState:
                pass
        return len(ids)

    # -- shutdown
    async def drain(self, deadline_s: float) -> None:
        """Stop claiming; ask runs to stop at a turn boundary; cancel the rest
        after ``deadline_s``. Interrupted runs stay ``running`` (resumed later)."""
        self.draining = True
        for a in self.active.values():
            a.drain.set()
        with trio.move_on_after(deadline_s):
            for a in list(self.active.values()):
                await a.done.wait()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    def queue(self) -> list[str]:
        return self.app.store.read(runs_q.ids_with_status, "pending")



