"""``agentctl run watch``, ``run logs -f`` and ``goal run --watch`` against the
real daemon: plain lines off a terminal, NDJSON with --json, the live view and
Ctrl-C on a terminal, and a reconnect when the daemon restarts mid-run."""

from __future__ import annotations

import json
import sys

import pexpect
from pexpect.popen_spawn import PopenSpawn

from agentd.protocol.events import LIVE
from agentd.testing.fakellm import text, tool_call
from watch_support import WAIT


def recall(q: str):
    return tool_call("recall", {"query": q})


def ctl_pipe(daemon, *args: str) -> PopenSpawn:
    """agentctl with pipes (no terminal), read with timeouts."""
    return PopenSpawn([sys.executable, "-m", "agentctl", *args], env=daemon.env, cwd=str(daemon.base),
                      encoding="utf-8", timeout=WAIT)


def gated_run(daemon, fake_llm, final: str = "## Done\nall good"):
    fake_llm.add(recall("a"))
    gate = fake_llm.gate(recall("b"))
    fake_llm.add(text(final))
    goal = daemon.call("goal.create", {"objective": "x", "name": "news"})
    run = daemon.call("goal.run", {"id": goal["id"]})
    gate.wait_reached()
    return run["id"], gate


def test_watch_prints_plain_lines_without_a_terminal(daemon, fake_llm):
    rid, gate = gated_run(daemon, fake_llm)
    p = ctl_pipe(daemon, "run", "watch", rid)
    p.expect_exact(f"run {rid} started (manual, budget 20 steps)")
    p.expect_exact('#1 recall {"query":"a"} → No memories match')
    gate.open()
    p.expect_exact('#2 recall {"query":"b"}')
    p.expect_exact(f"Run {rid} completed: 2 steps, 30 in / 15 out tokens")
    p.expect_exact("## Done\nall good")
    p.expect(pexpect.EOF)
    assert p.wait() == 0
    assert "\x1b[" not in p.before


def test_watch_json_is_ndjson_of_the_events(daemon, fake_llm):
    fake_llm.add(recall("a"), text("done"))
    goal = daemon.call("goal.create", {"objective": "x"})
    rid = daemon.call("goal.run", {"id": goal["id"]})["id"]
    r = daemon.ctl("run", "watch", rid, "--json")
    assert r.returncode == 0, r.stderr
    evs = [json.loads(line) for line in r.stdout.splitlines()]
    # Live events (a model call in flight, seen when the watch attached before the
    # run ended) carry the seq of the journaled event before them; the journal is gap-free.
    journaled = [e for e in evs if e["event"]["type"] not in LIVE]
    assert [e["seq"] for e in journaled] == list(range(1, len(journaled) + 1))
    assert evs[0]["event"]["type"] == "run_started" and evs[-1]["event"]["type"] == "run_finished"
    assert all(e["run_id"] == rid for e in evs)


def test_watch_exits_1_with_the_reason_when_the_run_fails(daemon, fake_llm):
    rid, gate = gated_run(daemon, fake_llm)
    p = ctl_pipe(daemon, "run", "watch", rid)
    p.expect_exact("#1 recall")
    daemon.call("run.cancel", {"id": rid, "reason": "changed my mind"})
    p.expect_exact(f"Run {rid} cancelled")
    p.expect_exact("reason:")
    p.expect_exact("changed my mind")
    p.expect(pexpect.EOF)
    assert p.wait() == 1
    gate.open()


def test_watch_reconnects_when_the_daemon_restarts(daemon, fake_llm):
    rid, gate = gated_run(daemon, fake_llm)
    p = ctl_pipe(daemon, "run", "watch", rid)
    p.expect_exact("#1 recall")
    daemon.kill()  # mid-run; on restart the run resumes from its last committed step
    daemon.start()
    p.expect_exact(f"Run {rid} completed", timeout=60)
    # Step 1 was shown once, before the restart (the first expect consumed it):
    # the reconnect resumes after it instead of replaying it.
    assert "#1 recall" not in p.before
    p.expect(pexpect.EOF)
    assert p.wait() == 0
    gate.open()
    run = daemon.call("run.get", {"id": rid})
    assert run["status"] == "completed" and run["recoveries"] >= 1


def test_logs_follow_uses_the_event_stream_until_the_run_ends(daemon, fake_llm):
    rid, gate = gated_run(daemon, fake_llm, final="the end")
    p = ctl_pipe(daemon, "run", "logs", rid, "-f")
    p.expect_exact('#1 recall {"query": "a"}')
    gate.open()
    p.expect_exact('#2 recall {"query": "b"}')
    p.expect_exact("final answer: the end")
    p.expect_exact(f"Run {rid} completed.")
    p.expect(pexpect.EOF)
    assert p.wait() == 0
    assert "#1" not in p.before  # each step once


def test_goal_run_watch_triggers_and_watches(daemon, fake_llm):
    fake_llm.add(recall("a"), text("fine"))
    goal = daemon.call("goal.create", {"objective": "x"})
    r = daemon.ctl("goal", "run", goal["id"], "--watch")
    assert r.returncode == 0, r.stderr
    assert "#1 recall" in r.stdout and "completed" in r.stdout and r.stdout.rstrip().endswith("fine")


def test_live_view_on_a_terminal_and_ctrl_c_stops_watching_not_the_run(daemon, fake_llm):
    rid, gate = gated_run(daemon, fake_llm)
    env = dict(daemon.env, TERM="xterm")
    child = pexpect.spawn(sys.executable, ["-m", "agentctl", "run", "watch", rid], env=env, cwd=str(daemon.base),
                          dimensions=(24, 100), encoding="utf-8", timeout=WAIT)
    child.expect_exact("#1 recall")
    child.expect_exact("running")  # the status line under the steps: spinner, status, elapsed, tokens, budget
    child.expect_exact("1/20 steps")
    child.sendintr()
    child.expect_exact("Stopped watching")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert daemon.call("run.get", {"id": rid})["status"] == "running"
    gate.open()
    assert daemon.wait_run(rid, timeout=WAIT)["status"] == "completed"


def test_logs_follow_goes_on_after_the_daemon_restarts(daemon, fake_llm):
    """`run logs -f` across a daemon restart: the event stream reconnects, and
    so must the run.steps calls; every step printed once."""
    fake_llm.add(recall("a"))
    step2 = fake_llm.gate(recall("b"))
    step3 = fake_llm.gate(text("the end"))  # held while agentd is killed; answered again after the restart
    fake_llm.add(text("the end"))
    goal = daemon.call("goal.create", {"objective": "x"})
    rid = daemon.call("goal.run", {"id": goal["id"]})["id"]
    step2.wait_reached()
    p = ctl_pipe(daemon, "run", "logs", rid, "-f")
    p.expect_exact('#1 recall {"query": "a"}')  # read before step 2 could exist
    step2.open()
    p.expect_exact('#2 recall {"query": "b"}')  # so this came through the event stream
    step3.wait_reached()
    daemon.kill()  # the event stream reconnects, and the run.steps calls must too
    daemon.start()
    p.expect_exact("final answer: the end", timeout=60)
    p.expect_exact(f"Run {rid} completed.")
    p.expect(pexpect.EOF)
    assert p.wait() == 0
    assert "#2" not in p.before  # each step once
    step3.open()


def test_watch_counts_replayed_tokens_once():
    """run.watch replays a run's events from the first: the run's own totals
    must not be added on top of them."""
    from agentctl.watchview import RunState

    run = {"id": "r_1", "goal_id": "g_1", "status": "running", "step_budget": 20,
           "usage": {"tokens_in": 10, "tokens_out": 5}, "steps_executed": 1}
    state = RunState(run)
    for ev in ({"type": "run_started", "goal_id": "g_1", "trigger": "manual", "step_budget": 20},
               {"type": "model_responded", "turn": 1, "tokens_in": 10, "tokens_out": 5, "tool_calls": 1},
               {"type": "tool_returned", "step_no": 1, "tool": "recall", "ok": True, "output": "x",
                "duration_ms": 1}):
        state.apply({"at": "2026-01-01T00:00:00Z", "event": ev})  # run.watch replays from seq 1
    assert (state.tokens_in, state.tokens_out, state.steps) == (10, 5, 1)
