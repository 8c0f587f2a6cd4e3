"""A schedule tick while an earlier run of the goal is parked for approval
follows the goal's overlap policy: the real Scheduler, RunManager, Store and
Approvals in-process on trio's virtual clock (the scheduler service tests'
World), with an executor that parks each goal's first run on a send_email
call the way the agent loop does (``Approvals.park``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "sched_service"))

from agentd.store import goals as goals_q  # noqa: E402
from sched_service_helpers import World, run_virtual  # noqa: E402


class ParkingWorld(World):
    """The first run of each goal parks on one call; later runs complete."""

    async def __aenter__(self) -> "ParkingWorld":
        await super().__aenter__()
        await self.nursery.start(self.app.approvals.serve)
        self.parked_first: set[str] = set()
        return self

    async def _execute(self, active) -> None:
        self.executed.append(active.run_id)
        if active.goal_id not in self.parked_first:
            self.parked_first.add(active.goal_id)
            goal = self.store.read(goals_q.get_goal, active.goal_id)
            await self.app.approvals.park(active.run_id, active.goal_id, goal,
                                          [(1, "call_1", "send_email", '{"to": ["me@example.com"]}', "asked")], [1])
            return
        await self.app.finish_run(active.run_id, active.goal_id, "completed", summary="ok")


@pytest.mark.parametrize("policy", ["skip", "queue", "cancel"])
def test_a_tick_while_a_run_is_parked_follows_the_overlap_policy(tmp_path, policy, monkeypatch):
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)

    async def main():
        async with ParkingWorld(tmp_path, "2026-06-01T10:00:30") as w:
            gid, sid = w.goal("* * * * *", overlap=policy)
            await w.sleep_until("2026-06-01T10:02:10")  # ticks at 10:01 (parks) and 10:02
            ticks = w.ticks(sid)
            runs = {r["id"]: r for r in w.runs_of(gid)}
            first = ticks[0]["run_id"]
            assert ticks[0]["decision"] == "fired" and w.app.approvals.is_parked(first) != (policy == "cancel")
            if policy == "skip":
                assert ticks[1]["decision"] == "skipped"
                assert ticks[1]["reason"] == f"overlap: run {first} still waiting for approval"
                assert len(runs) == 1 and runs[first]["status"] == "pending"
            elif policy == "queue":
                queued = ticks[1]["run_id"]
                assert ticks[1]["decision"] == "queued" and "still waiting for approval" in ticks[1]["reason"]
                # The queued run waits behind the parked one (one run of the goal at a time) ...
                assert runs[queued]["status"] == "pending" and queued not in w.executed
                (a,) = w.app.approvals.waiting(run_id=first)
                await w.app.approvals.decide(first, approve=False, call=None, digest=None, by="test", note="no")
                await w.sleep_until("2026-06-01T10:02:20")
                # ... and runs once the parked one was decided and resumed (here: completes at once).
                runs = {r["id"]: r for r in w.runs_of(gid)}
                assert runs[first]["status"] == "completed" and runs[queued]["status"] == "completed"
                assert w.executed.index(queued) > w.executed.index(first, 1)
            else:
                assert ticks[1]["decision"] == "fired"
                assert runs[first]["status"] == "cancelled" and "next tick" in runs[first]["error"]
                assert w.app.approvals.waiting(goal_id=gid) == []

    run_virtual(main)
