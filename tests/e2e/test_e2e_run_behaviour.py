"""How a run behaves when things go wrong, end to end through the real daemon
and agentctl: the model's mistakes, budgets, large observations, failing
notifications, provider errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from agentd.testing.fakellm import fault, text, tool_call, tool_calls

from e2e_helpers import config_text, create_goal, ctl_json, events_of, start_run, steps_of, tool_messages
from e2e_servers import WebhookReceiver


def _run(d, fake_llm, goal_opts, script, *, objective="Check the news"):
    goal = create_goal(d, objective, *goal_opts)
    fake_llm.add(*script)
    rid = start_run(d, goal["id"])
    d.wait_run(rid)
    return goal, rid, ctl_json(d, "run", "show", rid)


def test_model_mistakes_go_back_to_the_model(make_daemon, fake_llm, web):
    d = make_daemon(config=config_text(web))
    goal, rid, run = _run(d, fake_llm, ["--tools", "web_search,fetch_page,write_file"], [
        tool_call("fetch_page", '{"url": "http://example.com/'),                 # malformed JSON
        tool_call("launch_rockets", {"count": 3}),                               # no such tool
        tool_call("send_webhook", {"url": "https://example.com/h", "payload": {}}),  # exists, not allowed here
        tool_call("fetch_page", {"url": "http://169.254.169.254/latest/meta-data/"}),  # refused (metadata)
        tool_calls(("fetch_page", {"url": "http://10.0.0.1/admin"}),             # refused (private) ...
                   ("fetch_page", {"url": web.url("/news/policy-act")})),        # ... next to a good call
        tool_call("fetch_page", {"uri": "https://example.com"}),                 # wrong field name
        text("Done: the policy article was read."),
    ])
    assert run["status"] == "completed", run
    assert run["summary"] == "Done: the policy article was read."
    fake_llm.assert_complete()

    steps = steps_of(d, rid)
    assert [s["status"] for s in steps if s["tool_name"]] == ["error"] * 5 + ["ok", "error"]
    errors = [s["error"] for s in steps if s["tool_name"]]
    assert "not valid JSON" in errors[0]
    assert "no tool named 'launch_rockets'" in errors[1]
    assert "'send_webhook' is not allowed" in errors[2]
    assert "169.254.169.254" in errors[3] and "metadata" in errors[3]
    assert "private" in errors[4]
    assert "unknown field `uri`" in errors[6]
    # Each error went back to the model as the tool's answer, with the call's id.
    reqs = fake_llm.requests
    for i in range(1, 5):
        assert tool_messages(reqs[i])[-1]["content"] == "ERROR: " + errors[i - 1]
    last_turn = tool_messages(reqs[5])[-2:]
    assert last_turn[0]["content"].startswith("ERROR:") and "training data summaries" in last_turn[1]["content"]
    assert tool_messages(reqs[6])[-1]["content"].startswith("ERROR: invalid arguments for fetch_page")
    # Nothing was fetched but the good page.
    assert web.fetched() == ["/news/policy-act"]


def test_repeated_mistake_fails_the_run(make_daemon, fake_llm):
    d = make_daemon(config=config_text())  # max_repeated_mistakes: default 3
    goal, rid, run = _run(d, fake_llm, [], [tool_call("launch_rockets", {})] * 4)
    assert run["status"] == "failed", run
    assert "same mistake" in run["error"] and "launch_rockets" in run["error"], run["error"]
    assert len(steps_of(d, rid)) == 4
    fake_llm.assert_complete()
    r = d.ctl("run", "show", rid)
    assert r.returncode == 0 and "launch_rockets" in r.stdout, r  # showing a failed run succeeds


def test_repeated_mistake_limit_is_configurable(make_daemon, fake_llm):
    d = make_daemon(config=config_text(runs="max_repeated_mistakes = 1\n"))
    goal, rid, run = _run(d, fake_llm, [], [
        tool_call("fetch_page", "{oops"), tool_call("launch_rockets", {}),  # different mistakes: no streak
        tool_call("fetch_page", "{oops"), tool_call("fetch_page", "{oops"),
    ])
    assert run["status"] == "failed" and "fetch_page" in run["error"], run
    assert len(steps_of(d, rid)) == 4


def test_step_budget_then_one_call_without_tools(make_daemon, fake_llm, web):
    d = make_daemon(config=config_text(web))
    goal, rid, run = _run(d, fake_llm, ["--step-budget", "2"], [
        tool_call("web_search", {"query": "AI news"}),
        tool_call("fetch_page", {"url": web.url("/news/product-launch")}),
        text("Summary: one product launch found."),
    ])
    assert run["status"] == "completed" and run["budget_exhausted"] is True, run
    assert run["summary"].startswith("Summary: one product launch found.")
    assert "step budget" in run["summary"]
    reqs = fake_llm.requests
    assert len(reqs) == 3
    fake_llm.assert_complete()
    assert reqs[0].get("tools") and reqs[1].get("tools")
    assert not reqs[-1].get("tools"), "the summary call must not offer tools"
    assert reqs[-1]["messages"][-1]["role"] == "user"  # the request for the summary
    assert len(tool_messages(reqs[-1])) == 2
    assert [s["tool_name"] for s in steps_of(d, rid) if s["tool_name"]] == ["web_search", "fetch_page"]


def test_large_observation_is_cut_with_a_pointer_to_the_artifact(make_daemon, fake_llm, web):
    limit = 3000
    d = make_daemon(config=config_text(web, tools=f"observation_limit = {limit}\n"))
    goal = create_goal(d, "Read the big text")
    gate = web.gate("/big.txt")
    fake_llm.add(tool_call("fetch_page", {"url": web.url("/big.txt")}, id="c1"))
    rid = start_run(d, goal["id"])
    saved = f"runs/{rid}/step-1-fetch_page.txt"
    fake_llm.add(
        tool_call("read_file", {"path": saved, "offset": 0, "max_chars": 200}, id="c2"),
        tool_call("read_file", {"path": saved, "offset": 10**9}, id="c3"),
        text("read it"),
    )
    gate.set()
    assert d.wait_run(rid)["status"] == "completed"
    fake_llm.assert_complete()

    reqs = fake_llm.requests
    seen = tool_messages(reqs[1])[-1]["content"]
    assert len(seen) < limit + 300
    assert f'read_file(path="{saved}")' in seen
    full = (Path(d.env["XDG_DATA_HOME"]) / "agentd" / "artifacts" / goal["id"] / saved).read_text()
    assert len(full) > limit
    assert tool_messages(reqs[2])[-1]["content"].startswith(full[:200])
    # The saved artifact holds the whole page, so the model can read to its end.
    assert "THE-END-MARKER" in full, (
        f"the saved artifact has {len(full)} characters and not the page's end: fetch_page already cut the page "
        f"to observation_limit before the loop saved the 'full text'")


def test_failing_completion_webhook_is_retried_and_visible(make_daemon, fake_llm):
    with WebhookReceiver(statuses=[500]) as failing:
        d = make_daemon(config=config_text(tools="delivery_attempts = 3\n"))
        goal, rid, run = _run(d, fake_llm, ["--webhook", failing.url], [tool_call("finish", {"summary": "ok"})])
        assert run["status"] == "completed" and run["error"] is None, run
        hooks = failing.wait_hooks(3)
        assert len(hooks) == 3
        assert len({h.id for h in hooks}) == 1, "retries must keep the webhook-id"
    effect = next(e for e in run["side_effects"] if e["source"] == "completion")
    assert effect["kind"] == "webhook" and effect["status"] == "failed" and effect["attempts"] == 3
    assert "500" in effect["detail"]
    text_view = d.ctl("run", "show", rid)
    assert text_view.returncode == 0, text_view.stderr
    assert "failed" in text_view.stdout and "500" in text_view.stdout, text_view.stdout
    failed = [e for e in events_of(d, rid) if e["type"] == "notification_failed"]
    assert len(failed) == 1 and failed[0]["attempts"] == 3 and "500" in failed[0]["error"]


def test_provider_429_with_retry_after_then_success(make_daemon, fake_llm):
    d = make_daemon(config=config_text())
    goal, rid, run = _run(d, fake_llm, [], [fault(429, "slow down", retry_after="1"),
                                                     tool_call("finish", {"summary": "all good"})])
    assert run["status"] == "completed" and run["summary"] == "all good", run
    fake_llm.assert_complete()
    took = (dt.datetime.fromisoformat(run["ended_at"]) - dt.datetime.fromisoformat(run["started_at"])).total_seconds()
    assert took >= 0.9, f"Retry-After: 1 was not honoured (run took {took:.2f} s)"


def test_provider_401_fails_the_run_naming_the_provider(make_daemon, fake_llm):
    d = make_daemon(config=config_text())
    goal, rid, run = _run(d, fake_llm, [], [fault(401, "Incorrect API key provided")])
    assert run["status"] == "failed", run
    assert "openai" in run["error"] and "API key" in run["error"], run["error"]
    assert "sk-test-key-123" not in json.dumps(run) and "sk-test-key-123" not in d.log()
    fake_llm.assert_complete()


def test_two_emails_in_two_turns_are_both_sent(make_daemon, fake_llm, smtp):
    """Side-effect idempotency keys must be unique per call. Many OpenAI-compatible
    servers (and this fake) number tool-call ids per response (call_0, call_1, ...),
    so the same id comes back in every turn."""
    d = make_daemon(config=config_text(smtp=smtp))
    goal, rid, run = _run(d, fake_llm, ["--email", "a@example.com", "--email", "b@example.com"], [
        tool_call("send_email", {"to": ["a@example.com"], "subject": "first", "body": "one"}),
        tool_call("send_email", {"to": ["b@example.com"], "subject": "second", "body": "two"}),
        text("sent both"),
    ])
    assert run["status"] == "completed", run
    steps = steps_of(d, rid)
    assert steps[1]["observation"].startswith("Email sent"), steps[1]
    subjects = sorted(m.subject for m in smtp.wait_messages(3))
    assert "first" in subjects and "second" in subjects, subjects


def test_search_points_to_fetch_and_data_comes_with_exact_counts(make_daemon, fake_llm, web):
    """What a small model needs from the results (written as text calls, as such
    models write them): after a search, the still-to-do line says to fetch a
    result before writing (told only "write the file", the model wrote the
    snippets); fetched JSON ends with its exact counts, inside the untrusted
    block (the model counted 8 "open" orders of which 4 were)."""
    from agentd.testing.fakellm import text_call
    orders = {"orders": [{"id": f"A-{i}", "status": "open" if i % 2 else "shipped"} for i in range(1, 7)]}
    web.route("/api/orders", json.dumps(orders), ctype="application/json")
    d = make_daemon(config=config_text(web))
    goal, rid, run = _run(d, fake_llm, ["--tools", "web_search,fetch_page,write_file", "--expect", "open.txt"], [
        text_call("web_search", {"query": "orders api"}),
        text_call("fetch_page", {"url": web.url("/api/orders")}),
        text_call("write_file", {"path": "open.txt", "content": "3"}),
        text_call("finish", {"summary": "3 open orders, in open.txt."}),
    ], objective=f"Find the order API ({web.url('/api/orders')}) and write how many orders are open to open.txt.")
    assert run["status"] == "completed", run
    fake_llm.assert_complete()
    after_search = fake_llm.requests[1]["messages"][-1]["content"]
    assert after_search.endswith("Still to do for this objective: write `open.txt` with `write_file`, from the page "
                                 "itself: first fetch the result you need with `fetch_page`. Reply with the next tool "
                                 "call."), after_search
    after_fetch = fake_llm.requests[2]["messages"][-1]["content"]
    assert ('Counted by agentd (exact): `orders` has 6 items; by `status`: 3 "open" (A-1, A-3, A-5), '
            '3 "shipped" (A-2, A-4, A-6).\n</untrusted_content>') in after_fetch, after_fetch
    assert after_fetch.endswith("Still to do for this objective: write `open.txt` with `write_file`. "
                                "Reply with the next tool call."), after_fetch
    # the same line is what `run logs` shows of the step
    fetched = [s for s in steps_of(d, rid) if s["tool_name"] == "fetch_page"][0]
    assert "Counted by agentd (exact): `orders` has 6 items" in fetched["observation"]
