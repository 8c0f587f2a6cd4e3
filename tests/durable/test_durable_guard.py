"""The exfiltration guard across a crash: a run tainted before a SIGKILL is
still tainted after the restart (the guard is rebuilt from the journal), so a
composed URL the model asks for after the restart is blocked."""

from __future__ import annotations

from durable_helpers import config_toml, integrity, plan_objective, query, wait_end


def test_durable_taint_survives_a_restart(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    # "{run}" becomes the run id in the model's call, so the objective does not hold the URL it fetches.
    leak = web.page("leak-{run}")
    goal = d.call("goal.create", {"objective": plan_objective([["fetch_page", {"url": web.page("a")}],
                                                              ["fetch_page", {"url": leak}]])})
    gate = plan_llm.gate(1)  # the model call after the first (tainting) step was committed
    rid = d.call("goal.run", {"id": goal["id"]})["id"]
    gate.wait_arrived()
    d.kill()
    assert integrity(d.db) == "ok"
    d.start()

    run, _ = wait_end(d, rid, 20.0)
    assert run["status"] == "completed" and run["recoveries"] == 1, run
    assert web.hits[f"/page/leak-{rid}"] == 0
    steps = query(d.db, "SELECT step_no, guard, status, error FROM steps WHERE run_id = ? ORDER BY step_no", rid)
    assert [(s["step_no"], s["guard"]) for s in steps[:2]] == [(1, "tainted"), (2, "blocked")]
    assert "BLOCKED by the exfiltration guard" in steps[1]["error"] and "step 1: fetch_page" in steps[1]["error"]
    assert (run["tainted_at_step"], run["blocked_calls"]) == (1, 1)
