"""A run that ends with an internal error (a bug in our code, raised out of
the executor) does not leave its in-flight tool calls ``pending`` in the
journal: the real RunManager closes them, in the same transaction that fails
the run, with a status and message that say what happened. Real App and
SQLite store; the executor is the one part replaced (the injection point of
the bug)."""

from __future__ import annotations

import pytest
import trio

from agentd.shared import config as config_mod
from agentd.app import App
from agentd.protocol import methods as m
from agentd.store import Store
from agentd.store import goals as goals_q
from agentd.store import runs as runs_q

pytestmark = pytest.mark.timeout(30)


def test_steps_in_flight_are_closed_when_a_run_crashes(tmp_path):
    cfg = config_mod.load(tmp_path / "none.toml", environ={})
    store = Store(tmp_path / "a.db")
    app = App(cfg, store, executor=lambda active: crashing_executor(active))
    now = app.now()

    def seed(conn):
        gid = goals_q.insert_goal(conn, now, m.GoalCreate(objective="crash in flight"), "whsec_x")
        return gid, runs_q.insert_run(conn, now, gid, step_budget=10)

    async def crashing_executor(active):
        def journal(conn):  # two tool calls in flight, as the loop journals them before running them
            runs_q.insert_step(conn, app.now(), active.run_id, step_no=1, turn=1, status="pending",
                               tool_name="fetch_page", tool_input={"url": "https://example.org"})
            runs_q.insert_step(conn, app.now(), active.run_id, step_no=2, turn=1, status="pending",
                               tool_name="send_webhook", tool_input={"url": "https://example.org/h"})
        await app.journal.record(active.run_id, active.goal_id, journal)
        raise KeyError("a bug in our code")

    async def main():
        gid, rid = await store.write(seed)
        async with trio.open_nursery() as nursery:
            await nursery.start(app.runs.serve)
            await app.runs.submit(rid, gid)
            active = app.runs.active.get(rid)  # claimed by submit; gone once it has ended
            if active is not None:
                with trio.fail_after(10):
                    await active.done.wait()
            nursery.cancel_scope.cancel()
        return rid

    try:
        rid = trio.run(main)
        run = store.read(runs_q.run_row, rid)
        steps = {s.step_no: s for s in store.read(runs_q.steps_of, rid)}
    finally:
        store.close()
    assert run["status"] == "failed"
    assert "internal error: KeyError" in run["error"]
    assert [s.status for s in steps.values()] == ["error", "unknown"], steps  # safe tool / side effect
    for s in steps.values():
        assert "internal error" in s.error and "KeyError" in s.error, s.error
