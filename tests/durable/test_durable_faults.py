"""SIGKILL the real daemon at named commit points, restart it on the same
directories, and check that nothing committed is lost or repeated and nothing
is sent twice. Every kill is synchronised with something the daemon does that
we can see from outside (a request held open by our server, an event on
run.watch); none with an in-process hook."""

from __future__ import annotations

import pytest

from agentd.tools.email import message_id as email_message_id
from agentd.tools.webhook import message_id as webhook_message_id
from daemon_harness import RpcError
from durable_helpers import (Gate, assert_steps_contiguous, config_toml, integrity, plan_objective, query,
                             run_events, wait_end, watch_for)

RESUME_S = 5.0  # an interrupted run ends within this long after the restart


def _goal(d, plan, **kw) -> dict:
    return d.call("goal.create", {"objective": plan_objective(plan), **kw})


def _run(d, goal) -> str:
    return d.call("goal.run", {"id": goal["id"]})["id"]


def _restart(d) -> None:
    assert integrity(d.db) == "ok"
    d.start()
    assert integrity(d.db) == "ok"


def _status(d, run_id) -> str:
    return query(d.db, "SELECT status FROM runs WHERE id = ?", run_id)[0]["status"]


def test_durable_safe_tool_in_flight_is_run_again_once(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    gate = web.gate("/page/a")
    rid = _run(d, _goal(d, [["fetch_page", {"url": web.page("a")}]]))
    gate.wait_arrived()
    d.kill()  # the step is journaled pending, its result not committed
    step = query(d.db, "SELECT status FROM steps WHERE run_id = ? AND step_no = 1", rid)
    assert [r["status"] for r in step] == ["pending"] and _status(d, rid) == "running"

    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed", run
    assert took < RESUME_S and run["recoveries"] == 1
    assert web.hits["/page/a"] == 2  # the cut request, and exactly one re-run
    steps = assert_steps_contiguous(d.db, rid)
    assert steps[0]["status"] == "ok" and "Content of page a" in steps[0]["observation"]
    assert [s["kind"] for s in steps] == ["tool", "answer"]


def test_durable_webhook_tool_in_flight_is_unknown_and_not_sent_again(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    gate = web.gate("/hook/main")  # holds the tool's POST: after the ledger intent, before the outcome
    goal = _goal(d, [["send_webhook", {"url": web.hook(), "payload": {"n": 1}}]], webhook_url=web.hook())
    rid = _run(d, goal)
    gate.wait_arrived()
    d.kill()
    ledger = query(d.db, "SELECT status, source FROM side_effects WHERE run_id = ?", rid)
    assert [(r["status"], r["source"]) for r in ledger] == [("intent", "tool")]

    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed" and took < RESUME_S, run
    effects = {e["source"]: e for e in run["side_effects"]}
    assert effects["tool"]["status"] == "unknown" and "not re-sent" in effects["tool"]["detail"]
    assert effects["completion"]["status"] == "delivered"
    tool_id = webhook_message_id(f"{rid}:step-1")
    assert web.webhook_ids.count(tool_id) == 1  # never re-sent
    assert len(web.webhook_ids) == len(set(web.webhook_ids)) == 2  # the tool's and the completion's
    steps = assert_steps_contiguous(d.db, rid)
    assert steps[0]["status"] == "unknown" and "OUTCOME UNKNOWN" in steps[0]["error"]
    # The model was told, in the tool message of its next turn.
    told = [m for m in plan_llm.chat_requests[-1]["messages"] if m.get("role") == "tool"]
    assert len(told) == 1 and "OUTCOME UNKNOWN" in told[0]["content"] and "NOT repeated" in told[0]["content"]


def test_durable_completion_webhook_in_flight_is_unknown_not_resent(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    gate = web.gate("/hook/main")
    rid = _run(d, _goal(d, [], webhook_url=web.hook()))
    gate.wait_arrived()  # finalize: the completion webhook's intent is committed, the POST is in flight
    d.kill()
    assert _status(d, rid) == "running"

    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed" and took < RESUME_S
    assert [(e["source"], e["status"]) for e in run["side_effects"]] == [("completion", "unknown")]
    assert web.webhook_ids == [webhook_message_id(f"{rid}:completion-webhook")]
    notes = [e for e in run_events(d, rid, lambda e: e["type"] == "run_finished") if e["type"] == "note"]
    assert any("unknown" in n["message"] and "webhook" in n["message"] for n in notes), notes
    assert plan_llm.calls[(rid, 0)] == 1  # the model's answer was committed: not asked again


def test_durable_kill_after_step_commit_loses_and_repeats_nothing(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    llm_gate = plan_llm.gate(1)  # the model call after step 1 committed
    rid = _run(d, _goal(d, [["fetch_page", {"url": web.page("a")}], ["fetch_page", {"url": web.page("b")}]]))
    ev = watch_for(d, rid, lambda e: e["type"] == "tool_returned" and e["step_no"] == 1)
    assert ev["ok"]
    llm_gate.wait_arrived()
    d.kill()
    before = query(d.db, "SELECT step_no, status, observation FROM steps WHERE run_id = ?", rid)
    assert [(r["step_no"], r["status"]) for r in before] == [(1, "ok")]

    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed" and took < RESUME_S
    steps = assert_steps_contiguous(d.db, rid)
    assert steps[0]["observation"] == before[0]["observation"]  # the committed step is the same one
    assert [s["kind"] for s in steps] == ["tool", "tool", "answer"]
    assert web.hits["/page/a"] == 1 and web.hits["/page/b"] == 1  # nothing committed ran twice
    assert run["steps_executed"] == 2


def test_durable_kill_after_ledger_outcome_sends_nothing_twice(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    rid = _run(d, _goal(d, [], webhook_url=web.hook()))
    watch_for(d, rid, lambda e: e["type"] == "notification_sent")  # emitted after the ledger outcome
    d.kill()
    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed" and took < RESUME_S
    assert [(e["source"], e["status"]) for e in run["side_effects"]] == [("completion", "delivered")]
    assert web.webhook_ids == [webhook_message_id(f"{rid}:completion-webhook")]


def test_durable_kill_during_finalize_between_notifications(durable_daemon, plan_llm, web, smtp):
    """Webhook sent (notification_sent seen), the email held by the SMTP
    server, no run_finished yet: kill. Neither is sent again."""
    d = durable_daemon(config_toml(smtp))
    smtp.gate = Gate()
    goal = _goal(d, [], webhook_url=web.hook(), params={"email_to": ["me@example.test"]})
    rid = _run(d, goal)
    watch_for(d, rid, lambda e: e["type"] == "notification_sent" and e["kind"] == "webhook")
    smtp.gate.wait_arrived()
    d.kill()
    assert _status(d, rid) == "running"  # killed after notification_sent, before run_finished

    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed" and took < RESUME_S
    by_kind = {e["kind"]: e["status"] for e in run["side_effects"]}
    assert by_kind == {"webhook": "delivered", "email": "unknown"}
    assert web.webhook_ids == [webhook_message_id(f"{rid}:completion-webhook")]
    assert smtp.message_ids == [email_message_id(f"{rid}:completion-email")]


def test_durable_email_tool_in_flight_is_never_received_twice(durable_daemon, plan_llm, smtp):
    d = durable_daemon(config_toml(smtp))
    smtp.gate = Gate()
    plan = [["send_email", {"to": ["me@example.test"], "subject": "hello", "body": "one"}]]
    rid = _run(d, _goal(d, plan, params={"email_to": ["me@example.test"]}))
    smtp.gate.wait_arrived()
    d.kill()
    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed" and took < RESUME_S
    assert {(e["source"], e["status"]) for e in run["side_effects"]} == {("tool", "unknown"),
                                                                          ("completion", "delivered")}
    assert len(smtp.message_ids) == len(set(smtp.message_ids)) == 2
    assert smtp.message_ids[0] == email_message_id(f"{rid}:step-1")


def test_durable_run_that_keeps_crashing_the_daemon_is_failed(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml(max_recoveries=2))
    rid = _run(d, _goal(d, [["fetch_page", {"url": web.page("a")}]]))
    for i in range(3):
        gate = web.gate("/page/a")
        gate.wait_arrived()
        d.kill()
        _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "failed" and took < RESUME_S
    assert "interrupted 3 times" in run["error"] and "max_recoveries = 2" in run["error"]
    assert run["recoveries"] == 3 and web.hits["/page/a"] == 3
    steps = assert_steps_contiguous(d.db, rid)
    assert steps[0]["status"] == "error" and "crashed" in steps[0]["error"]


def test_durable_sigterm_mid_run_resumes_at_next_start(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml(grace_s=0.5))
    gate = web.gate("/page/a")
    rid = _run(d, _goal(d, [["fetch_page", {"url": web.page("a")}]]))
    gate.wait_arrived()
    assert d.stop() == 0  # graceful: drain, then cancel what is still running
    row = query(d.db, "SELECT status, recoveries, error FROM runs WHERE id = ?", rid)[0]
    assert (row["status"], row["recoveries"], row["error"]) == ("pending", 0, None)  # not failed

    _restart(d)
    run, took = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed" and took < RESUME_S
    assert run["recoveries"] == 0  # a graceful stop is not a crash
    assert web.hits["/page/a"] == 2
    assert assert_steps_contiguous(d.db, rid)[0]["status"] == "ok"


def test_durable_run_cancel_ends_cancelled_with_reason_and_steps(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    gate = web.gate("/page/a")
    rid = _run(d, _goal(d, [["fetch_page", {"url": web.page("a")}], ["fetch_page", {"url": web.page("b")}]]))
    gate.wait_arrived()
    run = d.call("run.cancel", {"id": rid, "reason": "not needed any more"})
    assert run["status"] == "cancelled" and run["error"] == "not needed any more"
    steps = d.call("run.steps", {"id": rid})["steps"]
    assert [(s["step_no"], s["tool_name"], s["status"]) for s in steps] == [(1, "fetch_page", "error")]
    assert "cancelled" in steps[0]["error"] and "not needed any more" in steps[0]["error"]
    with pytest.raises(RpcError) as err:
        d.call("run.cancel", {"id": rid})
    assert err.value.code == -32003  # already ended
    assert d.call("daemon.status")["running"] == []
    gate.release()
    assert web.hits["/page/b"] == 0 and plan_llm.calls[(rid, 1)] == 0


def test_durable_goal_delete_cancels_running_runs_first(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml())
    gate = web.gate("/page/a")
    goal = _goal(d, [["fetch_page", {"url": web.page("a")}]])
    rid = _run(d, goal)
    gate.wait_arrived()
    out = d.call("goal.delete", {"id": goal["id"]})
    assert out["runs_cancelled"] == 1
    with pytest.raises(RpcError):
        d.call("run.get", {"id": rid})
    finished = [r for r in d.log_records() if r.get("msg") == "run finished" and r.get("run_id") == rid]
    assert [(r["status"], r["error"]) for r in finished] == [("cancelled", "the goal was deleted")]
    status = d.call("daemon.status")
    assert status["running"] == [] and status["state"] in ("ok", "degraded")
    gate.release()
    assert plan_llm.calls[(rid, 1)] == 0


def test_durable_concurrency_limit_keeps_runs_pending_in_order(durable_daemon, plan_llm, web):
    d = durable_daemon(config_toml(), args=["--max-concurrent-runs", "1"])
    gate = web.gate("/page/a")
    goal = _goal(d, [["fetch_page", {"url": web.page("a")}]])
    first = _run(d, goal)
    gate.wait_arrived()
    later = [_run(d, goal), _run(d, goal)]
    status = d.call("daemon.status")
    assert status["running"] == [first] and status["queue"] == later
    assert [d.call("run.get", {"id": r})["status"] for r in later] == ["pending", "pending"]
    gate.release()
    runs = [d.wait_run(r, timeout=10) for r in [first, *later]]
    assert [r["status"] for r in runs] == ["completed"] * 3
    starts = [r["started_at"] for r in runs]
    ends = [r["ended_at"] for r in runs]
    assert starts == sorted(starts) and ends[0] <= starts[1] and ends[1] <= starts[2]  # one at a time, in order
    assert d.call("daemon.status")["queue"] == []


def test_durable_expected_webhook_in_flight_counts_as_sent_and_is_not_asked_again(durable_daemon, plan_llm, web):
    """A goal that must send a webhook: the call a crash cut may have been
    delivered, so the run completes without a reminder that would ask for a
    second send."""
    d = durable_daemon(config_toml())
    gate = web.gate("/hook/main")
    goal = _goal(d, [["send_webhook", {"url": web.hook(), "payload": {"n": 1}}]], webhook_url=web.hook(),
                 params={"expect_sent": ["webhook"]})
    rid = _run(d, goal)
    gate.wait_arrived()
    d.kill()

    _restart(d)
    run, _ = wait_end(d, rid, RESUME_S)
    assert run["status"] == "completed", run
    assert web.webhook_ids.count(webhook_message_id(f"{rid}:step-1")) == 1
    asked = [m["content"] for r in plan_llm.chat_requests for m in r["messages"] if m.get("role") == "user"]
    assert not any("has been sent yet" in (c or "") for c in asked)
