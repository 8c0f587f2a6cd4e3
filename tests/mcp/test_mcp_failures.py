"""MCP servers that crash mid-call, hang at start or in a call: the run gets
the reason, a call with side effects is never repeated, the server comes back."""

from __future__ import annotations

import json
import os
import signal
import sys

from agentd.testing.fakellm import finish_call, tool_call
from mcp_support import Signal, notes_server, step_rows


def test_a_server_killed_mid_call_leaves_a_side_effect_unknown_and_unrepeated(make_daemon, fake_llm, tmp_path):
    notes, sig = tmp_path / "notes.txt", Signal(tmp_path / "sig")
    d = make_daemon(config=notes_server("notes", notes, sig.path))
    goal = d.call("goal.create", {"objective": "note", "params": {"allowed_tools": ["notes.*"]}})
    fake_llm.add(tool_call("notes__add_note", {"text": "block once"}), finish_call("done"))
    run_id = d.call("goal.run", {"id": goal["id"]})["id"]
    os.kill(sig.wait_pid(), signal.SIGKILL)
    run = d.wait_run(run_id)
    step = step_rows(d, run_id)[0]
    assert step["status"] == "error" and "OUTCOME IS UNKNOWN and it was not repeated" in step["error"], step
    assert notes.read_text().splitlines() == ["call: block once"]  # one call reached the server, once
    assert run["status"] == "completed", run
    state = d.call("mcp.check", {"name": "notes"})
    assert state["state"] == "ready" and state["starts"] == 2, state
    sig.close()


def test_a_read_only_call_cut_by_its_servers_death_is_repeated_once_after_the_restart(make_daemon, fake_llm,
                                                                                       tmp_path):
    notes, sig = tmp_path / "notes.txt", Signal(tmp_path / "sig")
    notes.write_text("a\nb\n")
    d = make_daemon(config=notes_server("notes", notes, sig.path))
    goal = d.call("goal.create", {"objective": "count", "params": {"allowed_tools": ["notes.count_notes"]}})
    fake_llm.add(tool_call("notes__count_notes", {"block": True}), finish_call("done"))
    run_id = d.call("goal.run", {"id": goal["id"]})["id"]
    os.kill(sig.wait_pid(), signal.SIGKILL)
    run = d.wait_run(run_id)
    step = step_rows(d, run_id)[0]
    assert (step["status"], step["observation"]) == ("ok", "2 notes"), step
    assert run["status"] == "completed"
    sig.close()


def test_a_server_that_hangs_at_start_is_unavailable_and_a_goal_needing_it_fails_with_the_reason(
        make_daemon, fake_llm):
    hang = (f'[[mcp.servers]]\nname = "stuck"\ncommand = {json.dumps(sys.executable)}\n'
            'args = ["-c", "import time; time.sleep(600)"]\nstart_timeout_s = 1\n')
    d = make_daemon(config=hang)
    state = d.call("mcp.check", {"name": "stuck"})
    assert state["state"] in ("unavailable", "starting") and "did not answer within 1 s" in state["reason"], state
    goal = d.call("goal.create", {"objective": "x", "params": {"allowed_tools": ["stuck.*"]}})
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert run["status"] == "failed" and "MCP server 'stuck' is unavailable" in run["error"], run
    assert fake_llm.requests == []  # the model was never asked
    assert any(s["name"] == "stuck" and s["state"] != "ready" for s in d.call("daemon.status")["mcp_servers"])
    p = d.ctl("server", "status")
    assert p.returncode == 0 and "MCP servers" in p.stdout and "stuck" in p.stdout, p.stdout


def test_a_call_that_hangs_times_out_as_the_tools_failure(make_daemon, fake_llm, tmp_path):
    d = make_daemon(config=notes_server("notes", tmp_path / "n.txt", extra="timeout_s = 1"))
    goal = d.call("goal.create", {"objective": "x", "params": {"allowed_tools": ["notes.hang"]}})
    fake_llm.add(tool_call("notes__hang", {}), finish_call("done"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    step = step_rows(d, run["id"])[0]
    assert step["status"] == "error" and "timed out after 1 s" in step["error"], step
    assert d.call("mcp.check", {"name": "notes"})["state"] == "ready"  # a slow tool is not a dead server


def test_server_stderr_goes_to_the_log_with_its_name_and_env_secrets_never_do(make_daemon, fake_llm, tmp_path):
    secret = "s3cr3t-token-value-123"
    cfg = notes_server("notes", tmp_path / "n.txt").replace(
        "env = { ", f'env = {{ NOTES_TOKEN = "{secret}", ')
    d = make_daemon(config=cfg)
    assert d.call("mcp.check", {"name": "notes"})["state"] == "ready"
    status = d.call("mcp.list")["servers"][0]
    assert secret not in json.dumps(status)
    d.stop()
    records = [r for r in d.log_records() if r.get("msg") == "mcp server stderr"]
    assert any(r["server"] == "notes" and r["line"] == "notes server starting" for r in records), records
    assert secret not in d.log()


def test_a_tool_list_change_notified_by_the_server_is_picked_up(make_daemon, fake_llm, tmp_path):
    d = make_daemon(config=notes_server("notes", tmp_path / "n.txt"))
    goal = d.call("goal.create", {"objective": "x", "params": {"allowed_tools": ["notes.add_shout_tool"]}})
    fake_llm.add(tool_call("notes__add_shout_tool", {}), finish_call("done"))
    d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    # The notification comes before the call's answer; a run waits for the new listing it announced.
    goal = d.call("goal.create", {"objective": "y", "params": {"allowed_tools": ["notes.shout"]}})
    fake_llm.add(tool_call("notes__shout", {"text": "hi"}), finish_call("done"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert step_rows(d, run["id"])[0]["observation"] == "HI"


def test_a_server_that_stops_answering_pings_is_replaced(make_daemon, fake_llm, tmp_path):
    cfg = notes_server("notes", tmp_path / "n.txt", extra="start_timeout_s = 5")
    d = make_daemon(config=cfg.replace("[[mcp.servers]]", "[mcp]\nping_interval_s = 1\n\n[[mcp.servers]]", 1))
    goal = d.call("goal.create", {"objective": "x", "params": {"allowed_tools": ["notes.pid"]}})
    fake_llm.add(tool_call("notes__pid", {}), finish_call("done"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    first = int(step_rows(d, run["id"])[0]["observation"])
    os.kill(first, signal.SIGSTOP)  # alive but silent: only the pings can tell
    try:
        # The next call hangs on the silent server until a ping fails; a read-only call
        # is then repeated on the new server.
        fake_llm.add(tool_call("notes__pid", {}), finish_call("done"))
        run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"], timeout=60)
        second = step_rows(d, run["id"])[0]
        assert second["status"] == "ok" and int(second["observation"]) != first, second
        assert d.call("mcp.check", {"name": "notes"})["starts"] == 2
    finally:
        try:
            os.kill(first, signal.SIGKILL)
        except ProcessLookupError:
            pass
    records = [r for r in d.log_records() if r.get("msg") == "mcp server unavailable; restarting"]
    assert records and "no answer to a ping" in records[0]["reason"], records
