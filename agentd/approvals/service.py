"""The approvals part of the daemon: parked runs, decisions, expiry, notifications.

- ``park``: in ONE transaction the waiting calls get their approval rows
  (exact arguments, digest, expiry), their steps become
  ``awaiting_approval``, the run goes ``running`` -> ``pending`` and
  ``approval_requested`` is journaled; then the run is in ``parked`` (the run
  manager skips it and counts it against its goal's limit) and the
  notifications go out in this part's own nursery.
- ``decide`` (``run.approve`` / ``run.deny``): each decision is one guarded
  update (pending -> approved/denied) with its ``approval_decided`` event;
  once a run waits for nothing more it leaves ``parked`` and is submitted to
  the run manager, which resumes it from its journal.
- ``serve``: sleeps until the earliest expiry (or until a new request comes)
  and denies what expired (``by: timeout``), which resumes those runs; at
  start it loads the parked runs from the store (they survive restarts: the
  rows are the truth) and sends the notifications a crash kept from going out.

Failure: a notification that fails is logged and recorded (ledger, events),
never retried after a crash (its ledger intent becomes ``unknown``), and
never fails the run. A store that refuses a decision raises to the caller.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import trio

from .. import log
from ..protocol.errors import InvalidState, NotFound, ValidationFailed
from ..protocol import events as ev
from ..protocol import methods as m
from ..store import approvals as approvals_q
from ..store import goals as goals_q
from ..store import runs as runs_q
from ..store.ids import new_id
from ..timeutil import iso

if TYPE_CHECKING:
    from ..core import Core

_log = log.get("agentd.approvals")

class Approvals:
    """``resume(run_id, goal_id)`` hands a run whose calls are all decided back
    to the run manager."""

    def __init__(self, core: "Core", resume: Callable[[str, str], Awaitable[None]]) -> None:
        self.app = core
        self.resume = resume
        self.parked: dict[str, str] = {}  # run id -> goal id
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None

    # ---------------------------------------------------------------- parked runs
    def load(self) -> None:
        self.parked = self.app.store.read(approvals_q.parked_runs)

    def is_parked(self, run_id: str) -> bool:
        return run_id in self.parked

    def parked_of(self, goal_id: str) -> int:
        """How many runs of ``goal_id`` are parked (they count against its limit of runs at once)."""
        return sum(1 for g in self.parked.values() if g == goal_id)

    def forget(self, run_id: str) -> None:
        """The run ended (cancelled, deleted with its goal): it waits for nothing."""
        self.parked.pop(run_id, None)

    # ---------------------------------------------------------------- park
    async def park(self, run_id: str, goal_id: str, goal: m.Goal,
                   waiting: list[tuple[int, str | None, str, str, str]], step_nos: list[int]) -> None:
        """Record the new requests ``waiting`` (step, call id, tool, arguments,
        reason) and park the run on ``step_nos`` (all its undecided calls)."""
        app = self.app
        now = app.now()
        expires = now + goal.params.approval_timeout_s * 1000
        new = [(new_id(), *w) for w in waiting]

        def tx(conn, now_):
            for aid, step_no, call_id, name, args, reason in new:
                approvals_q.insert(conn, now_, approval_id=aid, run_id=run_id, goal_id=goal_id, step_no=step_no,
                                   tool_call_id=call_id, tool_name=name, arguments=args, reason=reason,
                                   expires_at=expires)
            approvals_q.park(conn, now_, run_id, step_nos)

        events = [ev.ApprovalRequested(approval_id=aid, step_no=s, tool=n, arguments=a, digest=approvals_q.digest(n, a),
                                       expires_at=iso(expires), reason=r) for aid, s, _, n, a, r in new]
        await app.journal.record(run_id, goal_id, tx, now, events=events)
        rows = [app.store.read(approvals_q.row, w[0]) for w in new]
        self.parked[run_id] = goal_id
        self._wake.set()
        _log.info("run parked for approval", run_id=run_id, calls=[r["id"] for r in rows])
        for r in rows:
            self._start_notify(r)

    # ---------------------------------------------------------------- decide
    def waiting(self, *, run_id: str | None = None, goal_id: str | None = None) -> list[m.Approval]:
        def q(conn):
            rows = approvals_q.waiting(conn, run_id, goal_id)
            names = {gid: goals_q.get_goal(conn, gid).name for gid in {r["goal_id"] for r in rows}}
            return [approvals_q.to_struct(r) for r in rows], names

        approvals, names = self.app.store.read(q)
        return [_named(a, names.get(a.goal_id)) for a in approvals]

    async def decide(self, run_id: str, *, approve: bool, call: str | None, digest: str | None, by: str,
                     note: str | None) -> m.ApprovalDecision:
        """Approve (one call) or deny (``call``, else all) the run's waiting calls.

        Raises:
            InvalidState: the run waits for no decision (or for several, and
                approving needs ``call``).
            NotFound: ``call`` is not one of its waiting calls.
            ValidationFailed: ``digest`` is not the digest of the call (the
                call shown is not the call waiting).
        """
        pending = self.waiting(run_id=run_id)
        if not pending:
            status = self.app.store.read(runs_q.run_row, run_id)["status"]
            raise InvalidState(f"run {run_id} is not waiting for approval (it is {status})", status=status)
        if call is not None:
            chosen = [a for a in pending if a.id.startswith(call)]
            if not chosen:
                raise NotFound(f"run {run_id} has no waiting call {call!r}; waiting: "
                               f"{', '.join(a.id for a in pending)}", noun="approval", id=call)
            if len(chosen) > 1:
                raise InvalidState(f"{call!r} matches several waiting calls: {', '.join(a.id for a in chosen)}")
        elif approve and len(pending) > 1:
            raise InvalidState(f"run {run_id} waits for {len(pending)} calls; approve one at a time with --call: "
                               + "; ".join(f"{a.id} {a.tool}" for a in pending), calls=[a.id for a in pending])
        else:
            chosen = pending
        if digest is not None and any(a.digest != digest for a in chosen):
            raise ValidationFailed("the call waiting is not the call that was shown (its arguments differ); "
                                   "look again with `agentctl approvals` and decide on what it shows",
                                   field="digest", value=digest)
        status = "approved" if approve else "denied"
        for a in chosen:
            await self._decide_one(a, status, by=by, note=note)
        resumed = await self._resume_if_done(run_id, chosen[0].goal_id)
        decided = [a for a in self.app.store.read(approvals_q.of_run, run_id) if a.id in {c.id for c in chosen}]
        return m.ApprovalDecision(run_id=run_id, decided=decided, resumed=resumed)

    async def _decide_one(self, a: m.Approval, status: str, *, by: str, note: str | None) -> None:
        event = ev.ApprovalDecided(approval_id=a.id, step_no=a.step_no, tool=a.tool, decision=status, by=by, note=note)
        def tx(conn, now):
            approvals_q.decide(conn, now, a.id, status, by=by, note=note)

        await self.app.journal.record(a.run_id, a.goal_id, tx, self.app.now(), events=[event])
        _log.info("approval decided", run_id=a.run_id, approval_id=a.id, decision=status, by=by)

    async def expire(self, r: Any) -> None:
        """Deny ``r`` (a row) because its time ran out; a race with a person's
        decision is lost quietly (theirs stands)."""
        a = approvals_q.to_struct(r)
        try:
            await self._decide_one(a, "expired", by="timeout", note=f"no decision before {a.expires_at}")
        except InvalidState:
            return

    async def _resume_if_done(self, run_id: str, goal_id: str) -> bool:
        if self.app.store.read(approvals_q.still_waiting, run_id):
            return False
        await self.resume(run_id, goal_id)  # the run manager forgets it here once its task has ended
        return True

    # ---------------------------------------------------------------- serve
    async def serve(self, *, task_status=trio.TASK_STATUS_IGNORED) -> None:
        """Expire undecided calls on time; send the notifications of requests
        recorded but not notified (a crash came between the two)."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.load()
            for r in self.app.store.read(approvals_q.unnotified):
                self._start_notify(r)
            task_status.started()
            while True:
                self._wake = trio.Event()
                nxt = self.app.store.read(approvals_q.next_expiry)
                if nxt is not None and nxt <= self.app.now():
                    await self._expire_due()
                    continue
                with trio.move_on_after(60 if nxt is None else min(60, (nxt - self.app.now()) / 1000)):
                    await self._wake.wait()

    async def _expire_due(self) -> None:
        for r in self.app.store.read(approvals_q.due, self.app.now()):
            await self.expire(r)
            await self._resume_if_done(r["run_id"], r["goal_id"])

    def _start_notify(self, r: Any) -> None:
        from .notify import notify_request

        if self._nursery is not None:
            self._nursery.start_soon(notify_request, self.app, approvals_q.to_struct(r))


def _named(a: m.Approval, name: str | None) -> m.Approval:
    import msgspec

    return msgspec.structs.replace(a, goal_name=name) if name else a
