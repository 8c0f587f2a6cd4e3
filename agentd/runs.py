"""The run manager: every run is a task in this nursery.

- ``submit`` / ``fill`` claim pending runs in creation order while there is
  capacity (global ``max_concurrent_runs``, and a goal's ``max_concurrent``;
  a goal with overlap policy ``queue`` runs one run at a time). Runs that
  wait stay ``pending``, in order; ``queue()`` lists them (daemon.status).
  The order is kept in memory: seeded from the store when the manager starts,
  appended to by ``submit``/``submit_many`` (every new run is submitted), so a
  fill costs O(runs looked at), never a re-read of every pending run; the
  per-goal counts of active runs are kept in memory too, and a goal's limit is
  read once per fill.
  Each run task is started with ``nursery.start``: it reports started once the
  run is claimed (``pending`` -> ``running`` in one guarded update), so a
  ``goal.run`` reply goes out only after the claim.
- ``cancel(run_id, reason)``: a pending run is finished ``cancelled`` at once
  (a guarded update: it cannot race with its claim); a running one is
  cancelled through its CancelScope and finished ``cancelled`` with that
  reason, its steps kept. In the same transaction, tool calls left in flight
  are closed (``unknown`` for a side-effecting tool, ``error`` otherwise) and
  the run's ledger intents without an outcome become ``unknown``.
- Shutdown: ``drain(deadline)`` stops claiming, tells runs to stop at their
  next turn boundary, waits up to the deadline, then cancels them. Runs
  stopped this way are put back to ``pending`` (with a note event, their
  ledger intents without an outcome marked ``unknown``): they resume first at
  the next start and do not count as crash recoveries.
- ``recover`` at start: runs found ``running`` (the daemon died: SIGKILL,
  power loss, a crash) go back to ``pending`` to be resumed from their last
  committed step; their side-effect intents without an outcome become
  ``unknown``. A run that has been recovered more than ``runs.max_recoveries``
  times is failed with that reason instead (it keeps crashing the daemon).

Failure: the executor reports the run's outcome; an exception escaping it is
a bug: the run is failed with the exception named, and the daemon goes on
(nothing a run does can take the manager's nursery down).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import trio

from . import log
from .protocol.errors import AgentdError, InvalidState, NotFound
from .protocol.events import Note
from . import provider_life
from .store import effects as effects_q
from .store import events as events_q
from .store import runs as runs_q

if TYPE_CHECKING:
    from .approvals.service import Approvals
    from .core import Core
    from .providers.base import Provider
    from .tools.registry import ToolRegistry

_log = log.get("agentd.runs")

CANCELLED_IN_FLIGHT = "the run was cancelled while this call was in flight ({reason})"
FAILED_IN_FLIGHT = "the run failed with an internal error while this call was in flight ({error})"
PARKED = "interrupted by the daemon's shutdown; it resumes from its last committed step at the next start"


@dataclass(eq=False)
class ActiveRun:
    run_id: str
    goal_id: str
    scope: trio.CancelScope
    drain: trio.Event = field(default_factory=trio.Event)  # stop at the next turn boundary
    cancel_reason: str | None = None
    done: trio.Event = field(default_factory=trio.Event)
    provider: "Provider | None" = None  # the provider this run calls until it ends, even if a reload replaces it

    def cancel(self, reason: str) -> None:
        if self.cancel_reason is None:
            self.cancel_reason = reason
        self.scope.cancel()


Executor = Callable[[ActiveRun], Awaitable[None]]
Ended = Callable[[str, "str | None", str, "str | None"], None]  # run id, goal id, status, error


class RunManager:
    """``ended`` is told of each run that ends failed or cancelled here (the
    executor reports the others); ``approvals`` knows which runs are parked."""

    def __init__(self, core: "Core", executor: Executor, approvals: "Approvals", ended: Ended, *,
                 max_concurrent: int = 4) -> None:
        self.core = core
        self.executor = executor
        self.approvals = approvals
        self.ended = ended
        self.max_concurrent = max(1, max_concurrent)
        self.active: dict[str, ActiveRun] = {}
        self._nursery: trio.Nursery | None = None
        self._fill_lock = trio.Lock()
        self.draining = False
        self._queue: dict[str, str | None] = {}  # pending run id -> goal id (None: look it up), in order
        self._per_goal: dict[str, int] = {}  # goal id -> runs of it in self.active

    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._seed()
            task_status.started()
            await self.fill()
            await trio.sleep_forever()

    # -- recovery (before serving)
    def recover(self) -> tuple[int, int]:
        """Runs left ``running`` -> ``pending`` (resumed) or ``failed``. Returns (resumed, failed)."""
        store, now = self.core.store, self.core.now()
        limit = self.core.config.runs.max_recoveries

        def tx(conn):
            resumed = failed = 0
            for rid in runs_q.ids_with_status(conn, "running"):
                effects_q.mark_unknown(conn, now, rid)
                n = runs_q.bump_recoveries(conn, rid)
                if n > limit:
                    reason = (f"the run was interrupted {n} times by a crash of the daemon and was not resumed "
                              f"again; the limit is runs.max_recoveries = {limit}")
                    _close_pending_steps(conn, self.core.tools, rid, f"the daemon crashed while this call was in "
                                                                     f"flight; the run was then failed ({reason})")
                    runs_q.finish_journaled(conn, now, rid, "failed", error=reason)
                    failed += 1
                else:
                    runs_q.set_pending(conn, rid)
                    events_q.append(conn, now, rid, [Note(message=f"the daemon stopped unexpectedly while this run "
                                                                  f"was running (recovery {n} of at most {limit}); "
                                                                  f"resuming from its last committed step")])
                    resumed += 1
            return resumed, failed

        resumed, failed = store.write_sync(tx)
        if resumed or failed:
            _log.info("recovered interrupted runs", resumed=resumed, failed=failed)
        return resumed, failed

    # -- claiming
    def _seed(self) -> None:
        """The in-memory queue from the store: every pending run, in creation order."""
        queue: dict[str, str | None] = dict(self.core.store.read(runs_q.pending_queue))
        for rid, gid in self._queue.items():  # submitted before the manager started
            queue.setdefault(rid, gid)
        self._queue = queue

    async def submit(self, run_id: str, goal_id: str | None = None, *, first: bool = False) -> None:
        """Queue a new pending run; claim pending runs (this one among them) while there is capacity.
        ``first``: ahead of every waiting run (a run resumed after its approvals were decided was
        started before the runs queued behind it)."""
        if first:
            self._queue = {run_id: goal_id, **{k: v for k, v in self._queue.items() if k != run_id}}
        else:
            self._queue.setdefault(run_id, goal_id)
        await self.fill()

    async def submit_many(self, runs: list[tuple[str, str]]) -> None:
        """Queue many new pending runs (run id, goal id), in order; then one fill."""
        queue = self._queue
        for rid, gid in runs:
            queue.setdefault(rid, gid)
        await self.fill()

    async def fill(self) -> None:
        if self._nursery is None or self.draining:
            return
        async with self._fill_lock:
            limits: dict[str, tuple[bool, int | None]] = {}  # this fill's view of the goals' limits
            while not self.draining and len(self.active) < self.max_concurrent and self._queue:
                picked = self._pick(limits)
                if not picked:
                    return
                for rid, gid in picked:
                    if self.draining:
                        return
                    self._queue.pop(rid, None)
                    outcome = await self._nursery.start(self._run, rid, gid)
                    if outcome == "error":  # the store refused the claim: the run waits, first in line
                        self._queue = {rid: gid, **self._queue}
                        return

    def _pick(self, limits: dict[str, tuple[bool, int | None]]) -> list[tuple[str, str]]:
        """The runs to start now, from the front of the queue (no await here:
        the queue cannot change under the scan). Drops runs whose goal or row is gone."""
        store = self.core.store
        room = self.max_concurrent - len(self.active)
        per_goal = self._per_goal
        parked = self.approvals
        taken: dict[str, int] = {}
        picked: list[tuple[str, str]] = []
        gone: list[str] = []
        for rid, gid in self._queue.items():
            if len(picked) >= room:
                break
            if rid in self.active or parked.is_parked(rid):
                gone.append(rid)  # parked: submitted again once its approvals are decided
                continue
            if gid is None:
                try:
                    gid = store.read(runs_q.run_row, rid)["goal_id"]
                except NotFound:
                    gone.append(rid)  # deleted meanwhile
                    continue
                self._queue[rid] = gid  # a value change, not a resize: the scan goes on
            limit = limits.get(gid)
            if limit is None:
                limit = limits[gid] = store.read(runs_q.goal_run_limit, gid)
            exists, cap = limit
            if not exists:
                gone.append(rid)  # the goal was deleted (its runs with it)
                continue
            # A goal whose overlap policy is "queue" runs one at a time:
            # the queued run waits for the one before it.
            held = parked.parked_of(gid) if parked.parked else 0  # parked runs keep their place
            if cap is not None and per_goal.get(gid, 0) + taken.get(gid, 0) + held >= cap:
                continue
            taken[gid] = taken.get(gid, 0) + 1
            picked.append((rid, gid))
        for rid in gone:
            self._queue.pop(rid, None)
        return picked

    async def _run(self, run_id: str, goal_id: str, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        try:
            claimed = await self.core.store.write(runs_q.claim, self.core.now(), run_id)
        except AgentdError as exc:
            _log.error("could not claim a run", run_id=run_id, error=str(exc))
            task_status.started("error")
            return
        if not claimed:
            task_status.started("gone")  # not pending any more (cancelled, or claimed elsewhere)
            return
        active = ActiveRun(run_id=run_id, goal_id=goal_id, scope=trio.CancelScope(), provider=self.core.provider)
        self.active[run_id] = active
        self._per_goal[goal_id] = self._per_goal.get(goal_id, 0) + 1
        task_status.started("claimed")
        try:
            with log.fresh(run_id=run_id, goal_id=goal_id):
                with active.scope:
                    try:
                        await self.executor(active)
                    except Exception as exc:  # a bug in our code: fail the run loudly, keep the daemon
                        if active.cancel_reason is None:
                            _log.error("run crashed", exc_info=exc)
                            await self._fail(run_id, goal_id, f"internal error: {type(exc).__name__}: {exc}")
                if active.cancel_reason is not None and active.scope.cancel_called:
                    with trio.CancelScope(shield=True):
                        await self._finish_cancelled(run_id, active.cancel_reason)
        finally:
            del self.active[run_id]
            n = self._per_goal.get(goal_id, 0) - 1
            if n > 0:
                self._per_goal[goal_id] = n
            else:
                self._per_goal.pop(goal_id, None)
            active.done.set()
            with trio.CancelScope(shield=True):
                await provider_life.release(self.core, active.provider, self.holding)
            self.request_fill()

    def holding(self, provider: "Provider") -> int:
        """How many active runs call ``provider``."""
        return sum(1 for a in self.active.values() if a.provider is provider)

    async def resume(self, run_id: str, goal_id: str) -> None:
        """Submit a parked run whose calls are all decided, ahead of every
        waiting run; if its task is still ending after parking, wait for it
        (bounded) first: until then it counts as parked against its goal's limit."""
        active = self.active.get(run_id)
        if active is not None:
            with trio.move_on_after(30):
                await active.done.wait()
        self.approvals.forget(run_id)
        await self.submit(run_id, goal_id, first=True)

    def request_fill(self) -> None:
        """Claim pending runs soon (capacity was freed or raised)."""
        if not self.draining and self._nursery is not None:
            self._nursery.start_soon(self.fill)

    async def _fail(self, run_id: str, goal_id: str, error: str) -> None:
        """End the run ``failed`` with ``error`` after a bug in our code, in ONE
        transaction: its tool calls still in flight are closed (``unknown`` for
        a side-effecting tool, ``error`` otherwise, with a message saying the
        run failed around them), its ledger intents become ``unknown``, and
        ``run_finished`` is journaled. A store that refuses is logged."""
        core = self.core
        now = core.now()
        error = core.redactor.redact(error)  # an exception's text may quote foreign text

        def tx(conn):
            _close_pending_steps(conn, core.tools, run_id, FAILED_IN_FLIGHT.format(error=error))
            effects_q.mark_unknown(conn, now, run_id)
            return runs_q.finish_journaled(conn, now, run_id, "failed", error=error)

        def publish(done) -> None:  # right after the commit, in commit (= seq) order
            if done is not None:
                core.events.publish(run_id, goal_id, done[1], now, [done[0]])

        try:
            done = await core.store.write(tx, after=publish)
        except AgentdError as exc:  # the store refused, or the run is gone (goal deleted)
            _log.error("could not record the run's failure", run_id=run_id, error=str(exc))
            return
        if done is not None:
            self.ended(run_id, goal_id, "failed", error)

    # -- cancelling
    async def cancel(self, run_id: str, reason: str) -> None:
        active = self.active.get(run_id)
        if active is None:
            outcome = await self._finish_cancelled(run_id, reason, only_pending=True)
            if outcome == "done":
                return
            active = self.active.get(run_id)  # claimed meanwhile
            if active is None:
                status = self.core.store.read(runs_q.run_row, run_id)["status"]
                if status in runs_q.FINISHED:
                    raise InvalidState(f"run {run_id} already ended ({status})", status=status)
                raise InvalidState(f"run {run_id} is {status} but not active in this daemon (it is being "
                                   f"stopped or resumed); try again", status=status)
        active.cancel(reason)
        with trio.move_on_after(10):
            await active.done.wait()

    async def _finish_cancelled(self, run_id: str, reason: str, *, only_pending: bool = False) -> str:
        """End the run ``cancelled`` with ``reason`` in ONE transaction: close
        its in-flight tool calls, mark its ledger intents ``unknown``, finish
        it, journal ``run_finished``. Returns "done", or the status that
        prevented it."""
        core = self.core
        now = core.now()

        def tx(conn):
            row = runs_q.status_and_goal(conn, run_id)
            if row is None:
                return "gone", None, 0, None
            status, gid = row
            if status not in (("pending",) if only_pending else runs_q.ACTIVE):
                return status, None, 0, gid
            _close_pending_steps(conn, core.tools, run_id, CANCELLED_IN_FLIGHT.format(reason=reason))
            effects_q.mark_unknown(conn, now, run_id)
            ev, first = runs_q.finish_journaled(conn, now, run_id, "cancelled", error=reason, cancel_reason=reason)
            return "done", ev, first, gid

        def publish(done) -> None:  # right after the commit, in commit (= seq) order
            _, ev, first, gid = done
            if ev is not None:
                core.events.publish(run_id, gid, first, now, [ev])

        try:
            outcome, ev, first, gid = await core.store.write(tx, after=publish)
        except AgentdError as exc:
            _log.error("could not record the run's cancellation", run_id=run_id, error=str(exc))
            return "error"
        self._queue.pop(run_id, None)  # done, gone, or not pending any more
        if outcome == "gone":
            raise NotFound(f"no run with id {run_id}", noun="run", id=run_id)
        if ev is not None:
            self.ended(run_id, gid, "cancelled", reason)
        return outcome

    async def cancel_goal_runs(self, goal_id: str, reason: str) -> int:
        ids = [rid for rid, _ in self.core.store.read(runs_q.active_runs_of, goal_id)]
        n = 0
        for rid in ids:
            try:
                await self.cancel(rid, reason)
                n += 1
            except (InvalidState, NotFound):
                pass
        return n

    # -- shutdown
    async def drain(self, deadline_s: float) -> None:
        """Stop claiming; ask runs to stop at a turn boundary; cancel the rest
        after ``deadline_s``; put the interrupted runs back to ``pending``."""
        self.draining = True
        for a in self.active.values():
            a.drain.set()
        with trio.move_on_after(deadline_s):
            for a in list(self.active.values()):
                await a.done.wait()
        for a in list(self.active.values()):
            a.scope.cancel()  # no cancel_reason: interrupted, not cancelled
        with trio.move_on_after(10):
            for a in list(self.active.values()):
                await a.done.wait()
        with trio.CancelScope(shield=True):
            await self._park()
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()

    async def _park(self) -> None:
        """Runs this daemon leaves ``running`` at shutdown -> ``pending``."""
        core = self.core
        now = core.now()

        def tx(conn):
            parked = []
            for rid in runs_q.ids_with_status(conn, "running"):
                if rid in self.active:
                    continue  # would not stop: recovered (and counted) at the next start
                effects_q.mark_unknown(conn, now, rid)
                runs_q.set_pending(conn, rid)
                ev = Note(message=PARKED)
                parked.append((rid, runs_q.run_row(conn, rid)["goal_id"], events_q.append(conn, now, rid, [ev]), ev))
            return parked

        def publish(parked) -> None:  # right after the commit, in commit order
            for rid, gid, first, ev in parked:
                core.events.publish(rid, gid, first, now, [ev])

        try:
            parked = await core.store.write(tx, after=publish)
        except AgentdError as exc:
            _log.error("could not park interrupted runs (they are recovered at the next start)", error=str(exc))
            return
        if parked:
            _log.info("runs interrupted by shutdown; they resume at the next start", runs=len(parked))

    def queue(self) -> list[str]:
        return self.core.store.read(runs_q.ids_with_status, "pending")


def _close_pending_steps(conn, tools: "ToolRegistry", run_id: str, message: str) -> None:
    """Tool calls of ``run_id`` still ``pending`` -> ``unknown`` (side-effecting
    tool: it may have had its effect) or ``error`` (safe tool); calls still
    ``awaiting_approval`` -> ``error`` (they were never made)."""
    for step_no, name, status in runs_q.unfinished_tool_steps(conn, run_id):
        tool = tools.find(name)
        side = tool is not None and tool.side_effect
        msg = message
        if status == "awaiting_approval":  # never handed to its tool: not made
            side, msg = False, message.replace("in flight", "waiting for approval") + "; it was not made"
        runs_q.complete_step(conn, run_id, step_no, status="unknown" if side else "error", observation=None,
                             error=msg, duration_ms=0.0)
