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

Batches (10,000 schedules can come due at the same minute): the ticks due at
one wake are decided in batches of up to ``BATCH`` schedules. A batch reads
what it needs in bulk (its goals' rows, their active runs, the ticks already
recorded), decides every tick in memory (cron evaluations are shared through
a per-wake cache: schedules with the same expression, zone and cursor share
one evaluation), then writes all its tick records and their runs in ONE
transaction, stamped ``recorded_at`` = the time the decided batch is handed to
the writer (it may wait behind the transaction of the batch before it, at
most one), and gives the new runs to the run manager at once. A batch holds
at most one schedule per goal, and no goal of a batch not yet committed
(another schedule of the same goal goes to a later batch), so the overlap
policy sees the runs of earlier batches exactly as when ticks were decided
one at a time. The log has one info line per batch (``ticks recorded``, with
``recorded_late_ms`` and ``committed_late_ms``); per-tick lines are debug.
"""

from __future__ import annotations

import heapq
import logging
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import itemgetter
from typing import TYPE_CHECKING, Any

import msgspec
import trio

from . import log
from .protocol import methods as m
from .scheduling import policy
from .shared import cron
from .protocol.errors import AgentdError, StoreError
from .store import goals as goals_q
from .store import runs as runs_q
from .store import ticks as ticks_q
from .store.ids import new_id
from .timeutil import iso

if TYPE_CHECKING:
    from .approvals.service import Approvals
    from .core import Core
    from .notify.alerts import Alerts
    from .runs import RunManager

_log = log.get("agentd.scheduler")

GRACE_MS = 60_000
RETRY_MS = 5_000  # after the store refused to record a tick
BATCH = 5_000  # schedules decided and written per transaction
_BULK = 256  # more due heap items than this: partition the heap instead of popping one by one
_NEXT_CACHE_MAX = 4096
_YIELD_EVERY = 1000  # entries decided between checkpoints
_first = itemgetter(0)

_params_dec = msgspec.json.Decoder(m.GoalParams)


@dataclass(slots=True)
class Entry:
    schedule_id: str
    goal_id: str
    cron: str
    tz: str
    cursor: int  # due time of the last decided tick (or the schedule's creation time)
    next_due: int | None


class Scheduler:
    """Runs go to ``runs``; ``approvals`` says which runs are parked (the
    overlap policy counts them as waiting), ``alerts`` hears of each period that
    passed; while ``stopping()``, due ticks are left to the next start."""

    def __init__(self, core: "Core", runs: "RunManager", approvals: "Approvals", alerts: "Alerts", *,
                 stopping: Callable[[], bool], max_sleep_s: float = 60.0) -> None:
        self.store, self.now, self.metrics = core.store, core.now, core.metrics
        self.runs, self.approvals, self.alerts, self.stopping = runs, approvals, alerts, stopping
        self.max_sleep_s = max_sleep_s
        self.entries: dict[str, Entry] = {}
        self._heap: list[tuple[int, str]] = []
        self._wake = trio.Event()
        self._alive = False
        self.next_wake_ms: int | None = None
        self.fired = 0
        self.lateness_ms: list[float] = []  # of on-time fires, for the benchmark and metrics
        self.retry_at_ms: int | None = None
        self._next_cache: dict[tuple[str, str, int], int | None] = {}
        self._params_cache: dict[str, m.GoalParams] = {}
        self._refused = False
        self._preparing: trio.Event | None = None  # set when the batch being decided is handed over

    def alive(self) -> bool:
        return self._alive

    def wake(self) -> None:
        self._wake.set()

    def next_ticks(self, count: int) -> list[m.NextTick]:
        """The ``count`` earliest upcoming ticks: a walk of the heap's top
        (O(k log k)), skipping stale items."""
        heap, entries = self._heap, self.entries
        out: list[m.NextTick] = []
        if count <= 0 or not heap:
            return out
        seen: set[str] = set()
        frontier = [(heap[0], 0)]
        n = len(heap)
        while frontier and len(out) < count:
            (due, sid), i = heapq.heappop(frontier)
            e = entries.get(sid)
            if e is not None and e.next_due == due and sid not in seen:
                seen.add(sid)
                out.append(m.NextTick(goal_id=e.goal_id, schedule_id=sid, at=iso(due)))
            for c in (2 * i + 1, 2 * i + 2):
                if c < n:
                    heapq.heappush(frontier, (heap[c], c))
        return out

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
                now = self.now()
                self.next_wake_ms = self._heap[0][0] if self._heap else None
                if self.retry_at_ms is not None:
                    self.next_wake_ms = self.retry_at_ms
                delay = self.max_sleep_s if self.next_wake_ms is None else (self.next_wake_ms - now) / 1000
                delay = min(max(delay, 0.0), self.max_sleep_s)
                if self.stopping():
                    delay = self.max_sleep_s  # due ticks are left to the catch-up policy at the next start
                with trio.move_on_after(delay):
                    await self._wake.wait()
        finally:
            self._alive = False

    # -- state
    def _load(self) -> None:
        rows = self.store.read(goals_q.active_schedules)
        now = self.now()
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
        """The schedule's first fire instant after ``after``, shared by every
        schedule with the same expression and zone (a bounded cache)."""
        key = (entry.cron, entry.tz, after)
        cache = self._next_cache
        try:
            return cache[key]
        except KeyError:
            pass
        try:
            times = cron.next_fires(entry.cron, entry.tz, after, 1)
        except Exception as exc:  # validated on the way in; an old row may not be
            _log.warning("schedule cannot be evaluated", schedule_id=entry.schedule_id, error=str(exc))
            return None
        if len(cache) >= _NEXT_CACHE_MAX:
            cache.clear()
        cache[key] = result = times[0] if times else None
        return result

    # -- firing
    def _take_due(self, now: int) -> list[Entry]:
        """Remove the entries due by ``now`` from the heap, earliest first."""
        heap, entries = self._heap, self.entries
        items: list[tuple[int, str]] = []
        while heap and heap[0][0] <= now and len(items) < _BULK:
            items.append(heapq.heappop(heap))
        if heap and heap[0][0] <= now:  # many due at once: partition the heap in one pass
            items.extend(sorted((it for it in heap if it[0] <= now), key=_first))
            heap[:] = [it for it in heap if it[0] > now]
            heapq.heapify(heap)
        due: list[Entry] = []
        seen: set[str] = set()
        for d, sid in items:
            e = entries.get(sid)
            if e is None or e.next_due != d or sid in seen:
                continue  # stale heap item
            seen.add(sid)
            due.append(e)
        return due

    def _push(self, done: list[Entry]) -> None:
        heap = self._heap
        items = [(e.next_due, e.schedule_id) for e in done if e.next_due is not None]
        if len(items) > _BULK:
            heap.extend(items)
            heapq.heapify(heap)
        else:
            for it in items:
                heapq.heappush(heap, it)

    async def _fire_due(self) -> None:
        """Decide every tick due by now, in batches (see the module docstring).
        Returns early while the daemon stops (those ticks are left to the
        catch-up policy at the next start) or when the store refuses a write
        (retried shortly).

        Pipelined: while one batch is being written (worker thread), the next
        is decided on the loop and handed to the writer behind it (at most one
        waits). A batch never holds a goal of a batch not yet committed, so
        what it read about its goals (active runs, ticks) is current."""
        self.retry_at_ms = None
        now = self.now()
        if not self._heap or self._heap[0][0] > now:
            return
        waiting = deque(self._take_due(now))
        plans: dict[tuple, list[policy.TickDecision] | None] = {}  # per wake: shared cron work
        outstanding: deque[_Batch] = deque()  # handed to the writer, not finished
        self._refused = False
        try:
            async with trio.open_nursery() as nursery:
                while waiting and not self._refused:
                    if self.stopping():
                        break
                    while outstanding and outstanding[0].done.is_set():
                        outstanding.popleft()
                    if len(outstanding) >= 2:
                        await outstanding[0].done.wait()
                        continue
                    busy: set[str] = set()
                    for b in outstanding:
                        busy |= b.goals
                    batch = _Batch()
                    later: list[Entry] = []
                    while waiting and len(batch.entries) < BATCH:
                        e = waiting.popleft()
                        if e.goal_id in batch.goals or e.goal_id in busy:
                            later.append(e)  # one schedule per goal per batch, and not while one is in flight
                        else:
                            batch.goals.add(e.goal_id)
                            batch.entries.append(e)
                    waiting.extendleft(reversed(later))
                    if not batch.entries:
                        await outstanding[0].done.wait()
                        continue
                    self._preparing = trio.Event()
                    try:
                        await self._prepare(batch, now, plans)
                    except StoreError as exc:  # a read failed: nothing decided
                        _log.error("could not read for schedule ticks; retrying", ticks=len(batch.entries),
                                   error=exc.message)
                        self.retry_at_ms = now + RETRY_MS
                        waiting.extendleft(reversed(batch.entries))
                        break
                    finally:
                        self._preparing.set()
                        self._preparing = None
                    if not batch.writes:
                        self._finish(batch, now, [])
                        continue
                    batch.stamp = self.now()  # recorded_at: the batch goes to the writer now
                    outstanding.append(batch)
                    nursery.start_soon(self._commit, batch, now)
        finally:
            self._push(list(waiting))  # not decided (stopping, store refused): back with their due time

    async def _prepare(self, batch: "_Batch", now: int, plans: dict[tuple, list[policy.TickDecision] | None]
                       ) -> None:
        """Decide the ticks of ``batch`` (at most one schedule per goal): bulk
        reads, then in memory (awaits only to cancel runs, overlap ``cancel``)."""
        store = self.store
        entries = batch.entries
        goal_rows = store.read(ticks_q.goals_for_ticks, [e.goal_id for e in entries])
        known = store.read(ticks_q.existing, [e.schedule_id for e in entries], min(e.cursor for e in entries))
        active_by_goal = store.read(runs_q.active_runs_of_goals,
                                    [g for g, r in goal_rows.items() if r[1] == "active"])
        writes = batch.writes
        advance = batch.advance
        for n, e in enumerate(entries):
            if n and not n % _YIELD_EVERY:
                await trio.lowlevel.checkpoint()  # let the batch before this one reach the writer; keep RPC responsive
            goal = goal_rows.get(e.goal_id)
            if goal is None:
                continue  # deleted meanwhile: dropped at the next load
            try:
                decisions = self._plan(e, goal, now, plans)
                last = e.cursor
                for d in decisions:
                    if d.due_ms > last:
                        last = d.due_ms
                    if known and (e.schedule_id, d.due_ms) in known:
                        continue  # decided before (a restart mid-firing, a clock that went back)
                    if d.decision == "fired" and goal[1] == "active" and e.goal_id not in active_by_goal:
                        writes.append((e.schedule_id, e.goal_id, d.due_ms, "fired", d.reason, new_id(), "schedule",
                                       self._params(goal[5]).step_budget))
                    else:
                        writes.append(await self._decide(e, goal, d, active_by_goal))
                advance.append((e, last))
            except StoreError:
                raise  # the store refused a read: the batch is retried shortly
            except Exception as exc:  # a bug: log it, never take the daemon down with it
                _log.error("schedule tick failed", schedule_id=e.schedule_id, exc_info=exc)
                e.cursor = max(e.cursor, e.next_due or e.cursor)

    async def _commit(self, batch: "_Batch", now: int) -> None:
        """Write ``batch`` in ONE transaction, then start its runs."""
        try:
            try:
                recorded = await self.store.write(ticks_q.record_batch, batch.stamp, batch.writes)
                batch.committed = self.now()
            except StoreError as exc:
                # Nothing of the batch was written (one transaction): keep its
                # entries where they are and try again shortly.
                _log.error("could not record schedule ticks; retrying", ticks=len(batch.writes), error=exc.message)
                self.retry_at_ms = now + RETRY_MS
                self._refused = True
                self._push(batch.entries)
                return
            except Exception as exc:  # a bug: log it, never take the daemon down with it
                _log.error("schedule ticks failed", ticks=len(batch.writes), exc_info=exc)
                for e in batch.entries:
                    e.cursor = max(e.cursor, e.next_due or e.cursor)
                recorded = []
            while self._preparing is not None:  # deciding the next batch comes first; bookkeeping after
                await self._preparing.wait()
            self._finish(batch, now, recorded)
            started = [(w[5], w[1]) for w, ok in zip(batch.writes, recorded) if ok and w[5] is not None]
            if started:
                try:
                    await self.runs.submit_many(started)
                except AgentdError as exc:  # recorded and pending: the run manager claims them later
                    _log.warning("could not start the ticks' runs yet", runs=len(started), error=exc.message)
        finally:
            batch.done.set()

    def _finish(self, batch: "_Batch", now: int, recorded: list[bool]) -> None:
        """After the batch's transaction: cursors, next due times, metrics, the log line."""
        for e, last in batch.advance:
            if last > e.cursor:
                e.cursor = last
        for e in batch.entries:
            e.next_due = self._next_after(e, e.cursor if e.cursor > now else now)
        self._push(batch.entries)
        if recorded:
            self._after_write(batch.writes, recorded, batch.stamp, batch.committed)

    def _plan(self, e: Entry, goal: Any, now: int, plans: dict[tuple, list[policy.TickDecision] | None]
              ) -> list[policy.TickDecision]:
        """The decisions for the ticks of ``e`` due by ``now`` (pure given the
        expression, zone, cursor and catch-up policy: shared within a wake)."""
        key = (e.cron, e.tz, e.cursor)
        try:
            on_time = plans[key]
        except KeyError:
            upcoming = cron.fires_between(e.cron, e.tz, e.cursor, now, 2)
            on_time = plans[key] = ([policy.TickDecision(upcoming[0], "fired", "on time")]
                                    if len(upcoming) == 1 and policy.on_time(upcoming[0], now, GRACE_MS) else None)
        if on_time is not None:
            return on_time
        key = (e.cron, e.tz, e.cursor, goal[2], goal[3])
        decisions = plans.get(key)
        if decisions is None:
            decisions = plans[key] = policy.plan_catchup(e.cron, e.tz, e.cursor, now, goal[2], goal[3])
        return decisions

    def _params(self, raw: str) -> m.GoalParams:
        cache = self._params_cache
        p = cache.get(raw)
        if p is None:
            if len(cache) >= _NEXT_CACHE_MAX:
                cache.clear()
            p = cache[raw] = _params_dec.decode(raw)
        return p

    async def _decide(self, e: Entry, goal: Any, d: policy.TickDecision,
                      active_by_goal: dict[str, list[tuple[str, str]]]) -> tuple:
        """One tick's decision (the general case), as a ``ticks_q.TickWrite`` row."""
        status, overlap = goal[1], goal[4]
        decision, reason, run_trigger = d.decision, d.reason, None
        if decision in ("fired", "caught_up"):
            run_trigger = "schedule" if decision == "fired" else "catchup"
            if status != "active":
                decision, reason, run_trigger = "skipped", f"goal {status}", None
            # (A store that cannot be written is not a reason to skip: the
            # write fails and the batch is retried until it can be recorded.)
        if run_trigger is None:
            return (e.schedule_id, e.goal_id, d.due_ms, decision, reason, None, None, 0)
        # Runs of this schedule's own decisions are not written yet, so they do not
        # count here: runs made by one catch-up batch do not overlap each other.
        rows = active_by_goal.get(e.goal_id)
        if rows:
            parked = self.approvals.is_parked
            active = [policy.ActiveRun(id=i, state="awaiting_approval" if parked(i) else s) for i, s in rows]
            action, why = policy.decide_overlap(overlap, active)
            if action == "skip":
                return (e.schedule_id, e.goal_id, d.due_ms, "skipped", why, None, None, 0)
            if action == "queue":
                decision, reason = "queued", why
            elif action == "cancel_previous":
                for r in active:
                    try:
                        await self.runs.cancel(r.id, f"cancelled by the next tick of its schedule ({iso(d.due_ms)})")
                    except AgentdError:
                        pass  # ended meanwhile
                reason = why
                fresh = self.store.read(runs_q.active_runs_of, e.goal_id)
                if fresh:
                    active_by_goal[e.goal_id] = fresh
                else:
                    active_by_goal.pop(e.goal_id, None)
        return (e.schedule_id, e.goal_id, d.due_ms, decision, reason, new_id(), run_trigger,
                self._params(goal[5]).step_budget)

    def _after_write(self, writes: list[tuple], recorded: list[bool], stamp: int, committed: int) -> None:
        if not all(recorded):
            writes = [w for w, ok in zip(writes, recorded) if ok]
        if not writes:
            return
        counts = Counter(w[3] for w in writes)
        fired = sum(1 for w in writes if w[5] is not None)
        lateness = self.lateness_ms
        lateness.extend(stamp - w[2] for w in writes if w[3] == "fired")
        if len(lateness) > 10000:
            del lateness[:-10000]
        self.fired += fired
        if _log.enabled(logging.DEBUG):
            for w in writes:
                _log.debug("tick", goal_id=w[1], schedule_id=w[0], due=iso(w[2]), decision=w[3], reason=w[4],
                           run_id=w[5])
        self.alerts.ticks_recorded({w[1] for w in writes})  # a period of these goals passed: are they quiet?
        for decision, n in counts.items():
            self.metrics.inc("agentd_ticks_total", n, decision=decision)
        first_due, last_due = min(w[2] for w in writes), max(w[2] for w in writes)
        _log.info("ticks recorded", ticks=len(writes), runs=fired, **dict(sorted(counts.items())),
                  due=iso(first_due) if first_due == last_due else f"{iso(first_due)}..{iso(last_due)}",
                  recorded_late_ms=max(0, stamp - last_due), committed_late_ms=max(0, committed - last_due))


@dataclass(eq=False)
class _Batch:
    entries: list[Entry] = field(default_factory=list)
    goals: set[str] = field(default_factory=set)
    writes: list[tuple] = field(default_factory=list)  # ticks_q.TickWrite rows
    advance: list[tuple[Entry, int]] = field(default_factory=list)  # cursor after the batch, per entry
    stamp: int = 0  # recorded_at: when the batch was handed to the writer
    committed: int = 0  # when its transaction had committed
    done: trio.Event = field(default_factory=trio.Event)

