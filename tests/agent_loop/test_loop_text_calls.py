"""Tool calls written as text, through the real daemon and agentctl: they run
like native calls, are journaled as recovered, and their results go back to
the model in a user message."""

from __future__ import annotations

import json

import pytest

from agentd.testing.fakellm import TEXT_FORMS, TextTurn, json_prose, text_call, text_plan, tool_call

from loop_helpers import artifacts, config, events_of, run_goal, steps_of

FACTS = "# Mars\n- red\n- cold\n- two moons\n"


@pytest.mark.parametrize("form", TEXT_FORMS)
def test_a_call_written_as_text_is_run_journaled_and_answered(make_daemon, fake_llm, form):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text_call("write_file", {"path": "facts.md", "content": FACTS}, form=form, before="I will write the file."),
        text_call("finish", {"summary": "Wrote facts.md."}, form=form),
    ], "--tools", "write_file")
    assert run["status"] == "completed" and run["summary"] == "Wrote facts.md.", run
    assert (artifacts(d, goal["id"]) / "facts.md").read_text() == FACTS
    fake_llm.assert_complete()

    steps = steps_of(d, run["id"])
    assert [(s["tool_name"], s["status"], s["recovered"]) for s in steps] == [
        ("write_file", "ok", True), ("finish", "ok", True)]
    assert steps[0]["tool_input"] == {"path": "facts.md", "content": FACTS}
    assert steps[0]["thought"].startswith("I will write the file.")  # the answer as the model wrote it
    called = [e for e in events_of(d, run["id"]) if e["type"] == "tool_called"]
    assert [e["recovered"] for e in called] == [True, True]

    # The model got back its call alone (no prose), then the result in a user message.
    second = fake_llm.requests[1]["messages"]
    assert second[-2]["role"] == "assistant" and not second[-2].get("tool_calls")
    assert json.loads(second[-2]["content"]) == {"name": "write_file", "arguments": {"path": "facts.md",
                                                                                     "content": FACTS}}
    assert second[-1]["role"] == "user" and second[-1]["content"].startswith("Result of write_file:")
    assert not any(m["role"] == "tool" for m in second)

    logs = d.ctl("run", "logs", run["id"])
    assert logs.returncode == 0, logs.stderr
    lines = [x for x in logs.stdout.splitlines() if "write_file" in x]
    assert lines and "(recovered from text)" in lines[0], logs.stdout


def test_a_plan_with_invented_results_runs_only_its_first_call(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text_plan(("write_file", {"path": "a.md", "content": "A"}), ("write_file", {"path": "b.md", "content": "B"}),
                  ("finish", {"summary": "Wrote a.md and b.md."}), invented="Output:\n```\nwrote 1 characters\n```"),
        text_call("write_file", {"path": "b.md", "content": "B"}, form="tool_call"),
        tool_call("finish", {"summary": "Wrote a.md and b.md."}),
    ], "--tools", "write_file")
    assert run["status"] == "completed", run
    fake_llm.assert_complete()
    assert [s["tool_name"] for s in steps_of(d, run["id"])] == ["write_file", "write_file", "finish"]
    second = fake_llm.requests[1]["messages"]
    assert "b.md" not in second[-2]["content"] and "wrote 1 characters" not in json.dumps(second)
    assert sorted(p.name for p in artifacts(d, goal["id"]).glob("*.md")) == ["a.md", "b.md"]


def test_a_text_call_with_bad_arguments_gets_the_error_back(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text_call("write_file", {"file": "facts.md"}, form="bare"),  # wrong field
        text_call("write_file", {"path": "facts.md", "content": FACTS}, form="bare"),
        text_call("finish", {"summary": "done"}, form="bare"),
    ], "--tools", "write_file")
    assert run["status"] == "completed", run
    steps = steps_of(d, run["id"])
    assert steps[0]["status"] == "error" and steps[0]["recovered"] and "file" in steps[0]["error"]
    answer = fake_llm.requests[1]["messages"][-1]
    assert answer["role"] == "user" and answer["content"].startswith("The write_file call failed:")


def test_prose_that_shows_json_is_an_answer_not_a_call(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        tool_call("write_file", {"path": "report.json", "content": "{}"}),
        json_prose(),
    ], "--tools", "write_file")
    assert run["status"] == "completed", run
    assert run["summary"].startswith("I used write_file to save the report.")
    assert [s["tool_name"] for s in steps_of(d, run["id"]) if s["tool_name"]] == ["write_file"]
    fake_llm.assert_complete()


def test_goal_tools_in_the_goals_order_and_the_objective_in_the_first_user_message(make_daemon, fake_llm):
    d = make_daemon(config=config())
    run_goal(d, fake_llm, [tool_call("finish", {"summary": "nothing to do"})],
             "--tools", "write_file,fetch_page", objective="Fetch the page and write its title to t.md")
    req = fake_llm.requests[0]
    assert [t["function"]["name"] for t in req["tools"]] == ["write_file", "fetch_page", "finish"]
    first_user = next(m for m in req["messages"] if m["role"] == "user")["content"]
    assert first_user.startswith("Objective: Fetch the page and write its title to t.md")
    system = req["messages"][0]["content"]
    assert '{"name": "<tool name>", "arguments": {"<parameter>": "<value>"}}' in system


def test_default_tools_offer_what_the_objective_names_first(make_daemon, fake_llm):
    d = make_daemon(config=config())
    run_goal(d, fake_llm, [tool_call("finish", {"summary": "nothing to do"})],
             objective="Fetch https://example.com/news and save the headlines to a file")
    names = [t["function"]["name"] for t in fake_llm.requests[0]["tools"]]
    assert names[0] == "fetch_page" and names[1] == "write_file" and names[-1] == "finish", names


def test_a_text_call_that_is_not_valid_json_goes_back_to_be_fixed(make_daemon, fake_llm):
    """A coder model writes an expression where JSON needs a value: that is a
    call gone wrong, not the final answer — the model is told and fixes it."""
    broken = ('{"name": "write_file", "arguments": {"path": "total.txt", "content": "Total: " + (3 + 5)}}')
    goal, run = run_goal(make_daemon(config=config()), fake_llm, [
        TextTurn(broken),
        text_call("write_file", {"path": "total.txt", "content": "Total: 8"}),
        text_call("finish", {"summary": "Wrote total.txt."}),
    ], "--tools", "write_file")
    assert run["status"] == "completed", run
    fake_llm.assert_complete()
    told = fake_llm.requests[1]["messages"][-1]
    assert told["role"] == "user" and told["content"].startswith("Your write_file call could not be read: it is not "
                                                                 "valid JSON"), told
    assert "JSON has no expressions" in told["content"], told


def test_the_same_broken_call_again_and_again_fails_the_run(make_daemon, fake_llm):
    broken = '{"name": "write_file", "arguments": {"path": "t.txt", "content": 1 + 2}}'
    goal, run = run_goal(make_daemon(config=config()), fake_llm, [TextTurn(broken)] * 4, "--tools", "write_file")
    assert run["status"] == "failed", run
    assert "same mistake" in run["error"] and "write_file: call not valid JSON" in run["error"], run["error"]


def test_a_finish_that_does_not_parse_is_the_answer_not_a_mistake(make_daemon, fake_llm):
    """Seen from the 1.5B model after its work: a finish whose summary holds
    unescaped quotes. It is the model's last word (a plain answer), not a call
    to send back — sending it back made the model repeat it until the run failed."""
    summary = '{"name": "finish", "arguments": {"summary": "Posted {"count": 4} to the webhook."}}'
    goal, run = run_goal(make_daemon(config=config()), fake_llm, [
        text_call("write_file", {"path": "facts.md", "content": FACTS}),
        TextTurn(summary),
    ], "--tools", "write_file")
    assert run["status"] == "completed" and run["summary"] == summary, run
    fake_llm.assert_complete()
