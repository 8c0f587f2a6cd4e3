"""MCP servers nobody here wrote (from PyPI), their tools called by the
scripted model through the real daemon."""

from __future__ import annotations

from agentd.testing.fakellm import finish_call, tool_call
from mcp_support import step_rows, time_server


def test_a_goal_uses_the_time_servers_tool_end_to_end(make_daemon, fake_llm):
    d = make_daemon(config=time_server())
    assert d.call("mcp.check", {"name": "time"})["state"] == "ready"
    tools = {t["name"]: t for t in d.call("tool.list")["tools"]}
    t = tools["time__get_current_time"]
    assert (t["source"], t["server"], t["state"], t["default"]) == ("mcp", "time", "available", False)
    assert (t["read_only"], t["idempotent"], t["external"], t["side_effect"]) == (True, True, False, False)
    assert t["parameters"]["required"] == ["timezone"]

    goal = d.call("goal.create", {"objective": "what time is it in Paris",
                                  "params": {"allowed_tools": ["time.get_current_time"]}})
    fake_llm.add(tool_call("time__get_current_time", {"timezone": "Europe/Paris"}), finish_call("told"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert run["status"] == "completed", run
    step = step_rows(d, run["id"])[0]
    assert step["tool_name"] == "time__get_current_time" and step["status"] == "ok", step
    assert '"timezone": "Europe/Paris"' in step["observation"] and "datetime" in step["observation"]
    sent = fake_llm.requests[0]["tools"]
    assert [s["function"]["name"] for s in sent] == ["time__get_current_time", "finish"]
    assert sent[0]["function"]["parameters"]["properties"]["timezone"]["type"] == "string"
    assert "read_only" not in sent[0]["function"]


def test_a_schema_violating_call_is_refused_before_it_reaches_the_server(make_daemon, fake_llm):
    d = make_daemon(config=time_server())
    goal = d.call("goal.create", {"objective": "time", "params": {"allowed_tools": ["time.*"]}})
    fake_llm.add(tool_call("time__convert_time", {"source_timezone": "UTC", "time": 1200}),
                 finish_call("gave up"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    step = step_rows(d, run["id"])[0]
    assert step["status"] == "error"
    assert step["error"].startswith("invalid arguments for time__convert_time:"), step["error"]
    assert "`$.time`" in step["error"] or "target_timezone" in step["error"], step["error"]
    assert "mcp server stderr" not in d.log() or "convert_time" not in d.log()


def test_a_call_with_a_renamed_parameter_is_told_the_tools_parameters_and_fixed(make_daemon, fake_llm):
    d = make_daemon(config=time_server())
    goal = d.call("goal.create", {"objective": "time", "params": {"allowed_tools": ["time.*"]}})
    right = {"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}
    wrong = {"source_timezone": "UTC", "time": "12:00", "target_tz": "Asia/Tokyo"}
    fake_llm.add(tool_call("time__convert_time", wrong), tool_call("time__convert_time", right), finish_call("told"))
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert run["status"] == "completed", run
    first, second = step_rows(d, run["id"])[:2]
    told = ("invalid arguments for time__convert_time: 'target_timezone' is a required property - at `$`; "
            "its parameters are source_timezone (required), time (required), target_timezone (required)")
    assert (first["status"], first["error"]) == ("error", told), first
    assert second["status"] == "ok" and "Asia/Tokyo" in second["observation"], second
    seen = [m["content"] for m in fake_llm.requests[1]["messages"] if m.get("role") == "tool"]
    assert any(told in c for c in seen), seen  # the model got the parameters with its error


def test_a_tool_the_server_does_not_have_is_refused_at_create_and_fails_a_run_with_the_reason(make_daemon,
                                                                                            fake_llm):
    d = make_daemon(config=time_server())
    assert d.call("mcp.check", {"name": "time"})["state"] == "ready"
    p = d.ctl("goal", "create", "x", "--tools", "time.nope")
    assert p.returncode != 0 and "unknown tool 'time.nope'" in p.stderr, p.stderr


def test_a_run_of_a_goal_naming_a_disabled_server_fails_with_the_reason(make_daemon, fake_llm):
    d = make_daemon(config=time_server(extra="enabled = false"))
    assert d.call("mcp.list")["servers"][0]["state"] == "disabled"
    goal = d.call("goal.create", {"objective": "x", "params": {"allowed_tools": ["time.*"]}})
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert run["status"] == "failed" and run["error"] == "the MCP server 'time' is disabled in the configuration"
    assert "run crashed" not in d.log()
