"""Honest outcomes, through the real daemon and agentctl: prose is not work,
a cut answer is not a final answer, declared outputs must exist, every model
call's tokens count, and a repeated mistake fails as itself."""

from __future__ import annotations

from agentd.testing.fakellm import cut, text, text_call, tool_call, tool_calls

from loop_helpers import artifacts, config, ctl_json, events_of, run_goal, steps_of

ACT = "You have not used any tool yet"


def test_prose_first_gets_one_nudge_then_the_work_is_done(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text("Sure! I will write three facts about Mars to facts.md."),
        tool_call("write_file", {"path": "facts.md", "content": "- red"}),
        tool_call("finish", {"summary": "Wrote facts.md."}),
    ], "--tools", "write_file")
    assert run["status"] == "completed" and run["summary"] == "Wrote facts.md.", run
    fake_llm.assert_complete()
    # Asked again without its prose in view: the nudge joins the first user message.
    second = fake_llm.requests[1]["messages"]
    assert [m["role"] for m in second] == ["system", "user"], second
    first, nudge = second[1]["content"].split("\n\n" + ACT, 1)
    assert first == fake_llm.requests[0]["messages"][1]["content"] and nudge, second
    assert [s["tool_name"] for s in steps_of(d, run["id"])] == ["write_file", "finish"]
    notes = [e["message"] for e in events_of(d, run["id"]) if e["type"] == "note"]
    assert any("plain answer before any tool call succeeded" in n for n in notes), notes


def test_prose_again_after_the_nudge_fails_quoting_the_answer(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text("Start the run r123, triggered by manual. Work towards the objective."),
        text("Here are three facts about Mars:\n1. It is red.\n2. It is cold.\n3. It has two moons."),
    ], "--tools", "write_file")
    assert run["status"] == "failed", run
    assert run["error"] == ('the model answered in prose before using any tool, even after being asked to act: '
                            '"Here are three facts about Mars: 1. It is red. 2. It is cold. 3. It has two moons."')
    fake_llm.assert_complete()
    assert steps_of(d, run["id"]) == []
    shown = d.ctl("run", "show", run["id"])
    assert "answered in prose" in shown.stdout + shown.stderr


def test_a_plain_answer_after_only_failed_calls_is_not_a_success(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        tool_call("write_file", {"path": "../escape.md", "content": "x"}),  # refused: outside the artifacts
        text("I wrote the file."),
        text("I wrote the file."),
    ], "--tools", "write_file")
    assert run["status"] == "failed", run
    assert "before any tool call succeeded" in run["error"] and '"I wrote the file."' in run["error"]
    fake_llm.assert_complete()


def test_a_cut_answer_is_continued_not_taken_as_the_summary(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        tool_call("write_file", {"path": "facts.md", "content": "- red"}),
        cut("Summary: I wrote facts.md with" + "\n" * 30),
        tool_call("finish", {"summary": "Wrote facts.md."}),
    ], "--tools", "write_file")
    assert run["status"] == "completed" and run["summary"] == "Wrote facts.md.", run
    fake_llm.assert_complete()
    asked = fake_llm.requests[2]["messages"][-1]
    assert asked["role"] == "user" and "cut off at the output limit" in asked["content"]


def test_answers_cut_again_and_again_fail_with_that_reason(make_daemon, fake_llm):
    d = make_daemon(config=config(runs="max_repeated_mistakes = 1"))
    goal, run = run_goal(d, fake_llm, [cut(), cut()], "--tools", "write_file")
    assert run["status"] == "failed", run
    assert "cut at its output limit 2 times in a row" in run["error"] and "length" in run["error"], run["error"]
    fake_llm.assert_complete()


def test_a_text_call_in_a_cut_answer_still_runs(make_daemon, fake_llm):
    """The padding after a complete call is what hit the limit; the call is whole."""
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        cut('```json\n{"name": "write_file", "arguments": {"path": "facts.md", "content": "- red"}}\n```' + "\n" * 50),
        text_call("finish", {"summary": "Wrote facts.md."}),
    ], "--tools", "write_file")
    assert run["status"] == "completed", run
    assert (artifacts(d, goal["id"]) / "facts.md").read_text() == "- red"


def test_expected_output_missing_gets_a_reminder_then_fails(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        tool_call("write_file", {"path": "notes.md", "content": "- red"}),
        tool_call("finish", {"summary": "Wrote report.md."}),  # a claim the world does not back
        tool_call("finish", {"summary": "Wrote report.md, really."}),
        tool_call("finish", {"summary": "Wrote report.md, I promise."}),
    ], "--tools", "write_file", "--expect", "report.md", "--expect", "data/sum.txt")
    assert goal["params"]["expect"] == ["report.md", "data/sum.txt"]
    assert run["status"] == "failed", run
    assert run["error"] == "expected outputs report.md, data/sum.txt were not written (missing or empty)"
    fake_llm.assert_complete()
    for n in (2, 3):  # two reminders, each naming both files and the call to make next
        reminder = fake_llm.requests[n]["messages"][-1]
        assert reminder["role"] == "user", reminder
        assert "`report.md` has not been written" in reminder["content"], reminder
        assert "`data/sum.txt` has not been written" in reminder["content"], reminder
        assert '{"name": "write_file", "arguments": {"path": "report.md", "content": "<content>"}}' in reminder["content"]
        assert "finish" not in reminder["content"], reminder
    shown = d.ctl("goal", "show", goal["id"])
    assert "report.md, data/sum.txt" in shown.stdout, shown.stdout
    health = ctl_json(d, "goal", "show", goal["id"])["health"]
    assert health["runs_considered"] == 1 and health["success_rate"] == 0.0


def test_expected_output_written_after_the_reminder_completes(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        tool_call("write_file", {"path": "report.md", "content": ""}),  # empty counts as missing
        text("Done: the report is in report.md."),
        tool_call("write_file", {"path": "report.md", "content": "# Report\n"}),
        tool_call("finish", {"summary": "Wrote report.md."}),
    ], "--tools", "write_file", "--expect", "report.md")
    assert run["status"] == "completed", run
    fake_llm.assert_complete()


def test_an_expected_output_outside_the_artifacts_is_refused(make_daemon):
    d = make_daemon(config=config())
    for bad in ("../x.md", "/etc/passwd", "a/../../b"):
        r = d.ctl("goal", "create", "write it", "--expect", bad)
        assert r.returncode == 1 and "expected output" in r.stderr and "relative" in r.stderr, (bad, r.stderr)


def test_usage_counts_every_call_of_a_failed_run(make_daemon, fake_llm):
    d = make_daemon(config=config())
    script = [
        cut(tokens_in=870, tokens_out=1024),
        text("", tokens_in=880, tokens_out=3),
        text("I will do it now.", tokens_in=890, tokens_out=9),
        text("Here you go: the facts.", tokens_in=900, tokens_out=11),
    ]
    goal, run = run_goal(d, fake_llm, script, "--tools", "write_file")
    assert run["status"] == "failed", run
    assert {k: run["usage"][k] for k in ("tokens_in", "tokens_out")} == {
        "tokens_in": 870 + 880 + 890 + 900, "tokens_out": 1024 + 3 + 9 + 11}
    finished = [e for e in events_of(d, run["id"]) if e["type"] == "run_finished"][-1]
    assert (finished["tokens_in"], finished["tokens_out"]) == (3540, 1047)
    responded = [e for e in events_of(d, run["id"]) if e["type"] == "model_responded"]
    assert sum(e["tokens_in"] for e in responded) == 3540
    fake_llm.assert_complete()


def test_usage_of_a_completed_run_is_the_sum_over_its_calls(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text("Thinking about it.", tokens_in=100, tokens_out=10),
        tool_call("write_file", {"path": "a.md", "content": "a"}, tokens_in=200, tokens_out=20),
        cut(tokens_in=300, tokens_out=30),
        tool_call("finish", {"summary": "done"}, tokens_in=400, tokens_out=40),
    ], "--tools", "write_file")
    assert run["status"] == "completed", run
    assert {k: run["usage"][k] for k in ("tokens_in", "tokens_out")} == {"tokens_in": 1000, "tokens_out": 100}


def test_a_repeated_mistake_among_concurrent_calls_fails_as_that_mistake(make_daemon, fake_llm):
    d = make_daemon(config=config(runs="max_repeated_mistakes = 1"))
    goal, run = run_goal(d, fake_llm, [
        tool_calls(("launch_rockets", {"count": 1}), ("launch_rockets", {"count": 1})),
    ], "--tools", "write_file")
    assert run["status"] == "failed", run
    assert run["error"].startswith("the model made the same mistake 2 times in a row: launch_rockets: "), run["error"]
    assert "ExceptionGroup" not in run["error"] and "internal error" not in run["error"]
    assert [s["status"] for s in steps_of(d, run["id"])] == ["error", "error"]


def test_text_results_say_what_is_still_to_do_and_a_misplaced_file_is_named(make_daemon, fake_llm):
    """While a declared output is missing, a text call's result ends with what
    is still to do (not an invitation to finish); the reminder names a file of
    the same name written in the wrong folder, and the fixed call completes."""
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text_call("write_file", {"path": "artifacts/report.md", "content": "# Report\n"}),
        text_call("finish", {"summary": "Wrote report.md."}),
        text_call("write_file", {"path": "report.md", "content": "# Report\n"}),
        text_call("finish", {"summary": "Wrote report.md."}),
    ], "--tools", "write_file", "--expect", "report.md")
    assert run["status"] == "completed", run
    fake_llm.assert_complete()
    after_write = fake_llm.requests[1]["messages"][-1]["content"]
    assert after_write.startswith("Result of write_file:"), after_write
    assert after_write.endswith("Still to do for this objective: write `report.md` with `write_file`. "
                                "Reply with the next tool call."), after_write
    reminder = fake_llm.requests[2]["messages"][-1]["content"]
    assert "you wrote `artifacts/report.md`" in reminder and "must be written as `report.md`" in reminder, reminder
    done = fake_llm.requests[3]["messages"][-1]["content"]
    assert "Still to do" not in done and "call `finish`" in done, done  # nothing missing: the usual line


def test_the_nudge_shows_the_first_call_with_the_objectives_url(make_daemon, fake_llm):
    """A model that describes the first step gets the call to make as a
    skeleton: the tool its prose names, the objective's one URL filled in."""
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        text("To save the headlines, the first tool needed is `fetch_page`."),
        tool_call("fetch_page", {"url": "http://127.0.0.1:9/news"}),  # refused (private host): still a call
        tool_call("write_file", {"path": "h.md", "content": "x"}),
        tool_call("finish", {"summary": "Saved."}),
    ], "--tools", "fetch_page,write_file", objective="Fetch http://127.0.0.1:9/news and save its headlines to h.md.")
    assert run["status"] == "completed", run
    nudge = fake_llm.requests[1]["messages"][-1]["content"]
    assert "\n\nYou have not used any tool yet" in nudge, nudge
    assert nudge.endswith('{"name": "fetch_page", "arguments": {"url": "http://127.0.0.1:9/news"}}'), nudge

    d2 = make_daemon(config=config())
    fake_llm.requests.clear()
    run_goal(d2, fake_llm, [text("I will start now."), text("Starting.")], "--tools", "write_file,fetch_page")
    nudge = fake_llm.requests[1]["messages"][-1]["content"]  # no tool named: the first offered, placeholders
    assert nudge.endswith('{"name": "write_file", "arguments": {"path": "<path>", "content": "<content>"}}'), nudge


def test_a_spent_budget_without_any_successful_call_fails(make_daemon, fake_llm):
    """The step budget runs out while every call failed: the summary turn's
    text reads like a result, but a run that did no work is not completed."""
    d = make_daemon(config=config())
    goal, run = run_goal(d, fake_llm, [
        tool_call("read_file", {"path": "missing.md"}),
        tool_call("read_file", {"path": "also-missing.md"}),
        text("I have summarised the notes in a report."),
    ], "--tools", "read_file,write_file", "--step-budget", "2")
    fake_llm.assert_complete()
    assert run["status"] == "failed" and run["budget_exhausted"] is True, run
    assert run["error"] == "its step budget ran out before any tool call succeeded (2 tool call(s), none succeeded)"
    assert run["summary"].startswith("I have summarised the notes in a report.")
