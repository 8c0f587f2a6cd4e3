"""Per-goal health: success rate, last success, and the stale flag."""

from __future__ import annotations

import msgspec

from agentd.shared import config as config_mod
from agentd.app import App
from agentd.protocol import methods as m
from agentd.store import Store
from agentd.store import goals as goals_q
from agentd.store import runs as runs_q
from agentd.testing.fakellm import finish_call

T0 = 1_800_000_000_000  # a fixed instant (ms)


def test_a_scheduled_goal_without_success_for_three_periods_is_stale(tmp_path):
    now = [T0]
    app = App(config_mod.load(tmp_path / "none.toml", environ={}), Store(tmp_path / "h.db"), clock=lambda: now[0])
    spec = msgspec.convert({"objective": "hourly", "schedules": [{"cron": "0 * * * *", "timezone": "UTC"}]},
                           m.GoalCreate)
    gid = app.store.write_sync(goals_q.insert_goal, T0, spec, "whsec_x")
    assert app.metrics.goal_health(gid).stale is False
    now[0] = T0 + (3 * 3600 + 60) * 1000  # three hourly ticks owed, none succeeded
    h = app.metrics.goal_health(gid)
    assert h.stale is True and h.success_rate is None

    def ok_run(conn, at, status, steps=1):
        rid = runs_q.insert_run(conn, at, gid, step_budget=5)
        runs_q.claim(conn, at, rid)
        for n in range(1, steps + 1):
            runs_q.insert_step(conn, at, rid, step_no=n, turn=n, status="pending", tool_name="finish")
            runs_q.complete_step(conn, rid, n, status="ok", observation="done", error=None, duration_ms=1.0)
        runs_q.finish(conn, at, rid, status)

    app.store.write_sync(ok_run, now[0], "failed")
    # "Completed" without a single step: an older version's false completion, not a success.
    app.store.write_sync(ok_run, now[0], "completed", 0)
    h = app.metrics.goal_health(gid)
    assert h.stale is True and h.success_rate == 0.0 and h.last_success_at is None
    app.store.write_sync(ok_run, now[0], "completed")
    h = app.metrics.goal_health(gid)
    assert h.stale is False and h.success_rate == 0.333 and h.last_success_at is not None
    text_out = app.metrics.result("prometheus").text
    assert "agentd_goals_stale 0" in text_out
    now[0] += 4 * 3600 * 1000
    assert app.metrics.goal_health(gid).stale is True
    assert "agentd_goals_stale 1" in app.metrics.result("prometheus").text
    app.store.write_sync(goals_q.set_status, now[0], gid, "paused")  # a paused goal is never stale
    assert app.metrics.goal_health(gid).stale is False
    app.store.close()


def test_goal_list_shows_last_run_and_health(make_daemon, fake_llm):
    d = make_daemon()
    g = d.call("goal.create", {"objective": "report", "name": "report"})
    fake_llm.add(finish_call("done"))
    run = d.call("goal.run", {"id": g["id"]})
    d.wait_run(run["id"])
    listed = d.call("goal.list")["goals"][0]
    assert listed["last_run"]["id"] == run["id"] and listed["last_run"]["status"] == "completed"
    assert listed["health"]["success_rate"] == 1.0
    p = d.ctl("goal", "list")
    assert p.returncode == 0
    assert "HEALTH" in p.stdout and "100% ok" in p.stdout and "completed" in p.stdout
