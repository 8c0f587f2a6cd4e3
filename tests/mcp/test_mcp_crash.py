"""agentd killed while an MCP call is in flight: on restart, a call with side
effects (neither read-only nor idempotent) is recorded unknown and never
repeated; a read-only one is run again."""

from __future__ import annotations

import os
import signal

from agentd.testing.fakellm import finish_call, tool_call
from mcp_support import Signal, notes_server, step_rows


def _crash_in_call(make_daemon, fake_llm, tmp_path, call):
    notes, sig = tmp_path / "notes.txt", Signal(tmp_path / "sig")
    d = make_daemon(config=notes_server("notes", notes, sig.path))
    goal = d.call("goal.create", {"objective": "note", "params": {"allowed_tools": ["notes.*"]}})
    fake_llm.add(call)
    run_id = d.call("goal.run", {"id": goal["id"]})["id"]
    server_pid = sig.wait_pid()
    d.kill()
    try:
        os.kill(server_pid, signal.SIGKILL)  # an orphan may outlive its parent for a moment
    except ProcessLookupError:
        pass
    sig.close()
    fake_llm.add(finish_call("done"))
    d.start()
    return d, notes, d.wait_run(run_id)


def test_a_side_effect_in_flight_at_a_crash_is_unknown_and_not_repeated(make_daemon, fake_llm, tmp_path):
    d, notes, run = _crash_in_call(make_daemon, fake_llm, tmp_path,
                                   tool_call("notes__add_note", {"text": "block here"}))
    step = step_rows(d, run["id"])[0]
    assert step["status"] == "unknown" and "OUTCOME UNKNOWN" in step["error"], step
    assert notes.read_text().splitlines() == ["call: block here"]
    assert run["status"] == "completed", run


def test_a_read_only_call_in_flight_at_a_crash_is_run_again(make_daemon, fake_llm, tmp_path):
    d, notes, run = _crash_in_call(make_daemon, fake_llm, tmp_path,
                                   tool_call("notes__count_notes", {"block": True}))
    step = step_rows(d, run["id"])[0]
    assert (step["status"], step["observation"]) == ("ok", "0 notes"), step
    assert run["status"] == "completed", run
