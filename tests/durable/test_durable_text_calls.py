"""A tool call the model wrote as text, cut by a SIGKILL while it runs: after
the restart it is run again (it is safe to repeat) and the conversation is
rebuilt in the form the model saw — its call as JSON, the result as a user
message — not as native tool messages."""

from __future__ import annotations

from agentd.testing.fakellm import text_call

from durable_helpers import assert_steps_contiguous, config_toml, integrity, query, wait_end


def test_durable_recovered_call_in_flight_is_rerun_and_rebuilt_as_text(make_daemon, fake_llm, web, tmp_path):
    d = make_daemon(config=config_toml(), llm=fake_llm, base=tmp_path / "d")
    gate = web.gate("/page/a")
    fake_llm.add(text_call("fetch_page", {"url": web.page("a")}, form="tool_call"),
                 text_call("finish", {"summary": "Read page a."}))
    goal = d.call("goal.create", {"objective": "Read page a", "params": {"allowed_tools": ["fetch_page"]}})
    rid = d.call("goal.run", {"id": goal["id"]})["id"]
    gate.wait_arrived()
    d.kill()
    step = query(d.db, "SELECT status, recovered FROM steps WHERE run_id = ? AND step_no = 1", rid)
    assert [(r["status"], r["recovered"]) for r in step] == [("pending", 1)]

    assert integrity(d.db) == "ok"
    d.start()
    run, _ = wait_end(d, rid, 10.0)
    assert run["status"] == "completed" and run["summary"] == "Read page a.", run
    assert web.hits["/page/a"] == 2
    steps = assert_steps_contiguous(d.db, rid)
    assert [(s["tool_name"], s["status"], s["recovered"]) for s in steps] == [
        ("fetch_page", "ok", 1), ("finish", "ok", 1)]
    after = fake_llm.requests[-1]["messages"]
    assert [m["role"] for m in after] == ["system", "user", "assistant", "user"]
    assert after[2]["content"].startswith('{"name": "fetch_page", "arguments": {"url":')
    assert after[3]["content"].startswith("Result of fetch_page:") and "Content of page a" in after[3]["content"]
    fake_llm.assert_complete()
