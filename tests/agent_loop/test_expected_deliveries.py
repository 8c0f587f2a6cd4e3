"""Expected deliveries (``goal create --expect-sent webhook|email``), through
the real daemon and agentctl, a loopback webhook receiver and a real SMTP
server on loopback: a model's word that it sent something is not a delivery;
a delivered ``send_webhook`` / ``send_email`` call in the run is."""

from __future__ import annotations

import pytest

from agentd.testing.fakellm import text, tool_call
from daemon_harness import RpcError
from e2e_servers import SmtpSink, WebhookReceiver

from loop_helpers import ctl_json, run_goal, steps_of

pytestmark = pytest.mark.timeout(60)

OBJECTIVE = "Check the weather and POST a short report to my webhook"
PAYLOAD = {"report": "sunny, 21 C"}


def hook_config(hook: WebhookReceiver) -> str:
    return (f'[provider]\nretry_base_delay_s = 0.05\n\n[tools]\nprivate_hosts_allowed = ["127.0.0.1:{hook.port}"]\n'
            "delivery_backoff_s = 0.01\n")


def tool_hooks(hook: WebhookReceiver) -> list:
    """The POSTs made by the model's send_webhook calls (not the run's completion notification)."""
    return [h for h in hook.hooks if h.payload == PAYLOAD]


def test_a_webhook_claimed_but_not_sent_gets_a_reminder_then_is_sent_once(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=hook_config(hook))
        goal, run = run_goal(d, fake_llm, [
            tool_call("finish", {"summary": "I POSTed the report to your webhook."}),  # it did not
            tool_call("send_webhook", {"url": hook.url, "payload": PAYLOAD}),
            tool_call("finish", {"summary": "Sent the report."}),
        ], "--webhook", hook.url, "--expect-sent", "webhook", objective=OBJECTIVE)
        assert goal["params"]["expect_sent"] == ["webhook"]
        assert run["status"] == "completed" and run["summary"] == "Sent the report.", run
        assert len(tool_hooks(hook)) == 1
    fake_llm.assert_complete()
    reminder = fake_llm.requests[1]["messages"][-1]
    assert reminder["role"] == "user"
    assert "No webhook has been sent yet (`send_webhook`)" in reminder["content"], reminder
    assert '{"name": "send_webhook", "arguments": {"url": "<url>", "payload": {"<key>": "<value>"}}}' in reminder["content"]
    assert [s["tool_name"] for s in steps_of(d, run["id"])] == ["finish", "send_webhook", "finish"]


def test_a_webhook_never_delivered_fails_the_run_with_what_is_missing(make_daemon, fake_llm):
    """A refused POST (HTTP 400) is not a delivery; a missing file is named in the same reminder."""
    with WebhookReceiver(statuses=[400]) as hook:
        d = make_daemon(config=hook_config(hook))
        goal, run = run_goal(d, fake_llm, [
            tool_call("send_webhook", {"url": hook.url, "payload": PAYLOAD}),
            tool_call("finish", {"summary": "Report sent."}),
            tool_call("finish", {"summary": "Report sent, really."}),
            tool_call("finish", {"summary": "Report sent, I promise."}),
        ], "--webhook", hook.url, "--expect-sent", "webhook", "--expect", "report.md", objective=OBJECTIVE)
        assert len(tool_hooks(hook)) == 1  # tried once, answered 400: not retried, not delivered
    assert run["status"] == "failed", run
    assert run["error"] == ("expected output report.md was not written (missing or empty); "
                            "expected delivery not made: webhook"), run["error"]
    fake_llm.assert_complete()
    reminder = fake_llm.requests[2]["messages"][-1]["content"]
    assert "`report.md`" in reminder and "No webhook has been sent yet" in reminder, reminder
    assert [s["status"] for s in steps_of(d, run["id"])] == ["error", "ok", "ok", "ok"]


def email_config(sink: SmtpSink) -> str:
    return "[provider]\nretry_base_delay_s = 0.05\n\n" + sink.config()


def test_an_email_claimed_but_not_sent_gets_a_reminder_then_is_sent_once(make_daemon, fake_llm):
    with SmtpSink() as sink:
        d = make_daemon(config=email_config(sink))
        goal, run = run_goal(d, fake_llm, [
            tool_call("finish", {"summary": "I emailed you the report."}),
            tool_call("send_email", {"to": ["me@example.com"], "subject": "Weather report", "body": "Sunny."}),
            tool_call("finish", {"summary": "Emailed the report."}),
        ], "--email", "me@example.com", "--expect-sent", "email", objective="Email me the weather report")
        assert run["status"] == "completed", run
        assert [m.subject for m in sink.messages].count("Weather report") == 1
    reminder = fake_llm.requests[1]["messages"][-1]["content"]
    assert "No email has been sent yet (`send_email`)" in reminder, reminder
    assert '"arguments": {"to": ["me@example.com"], "subject": "<subject>", "body": "<body>"}' in reminder, reminder
    fake_llm.assert_complete()
    shown = d.ctl("goal", "show", goal["id"])
    assert "Must send" in shown.stdout and "email" in shown.stdout, shown.stdout


def test_an_email_not_sent_when_the_step_budget_runs_out_fails_the_run(make_daemon, fake_llm):
    with SmtpSink() as sink:
        d = make_daemon(config=email_config(sink))
        goal, run = run_goal(d, fake_llm, [
            tool_call("write_file", {"path": "draft.md", "content": "Sunny."}),
            text("I drafted the report and emailed it to you."),  # the summary turn after the budget
        ], "--email", "me@example.com", "--expect-sent", "email", "--step-budget", "1",
            objective="Email me the weather report")
    assert run["status"] == "failed", run
    assert run["error"] == "expected delivery not made: email before its step budget ran out", run["error"]
    assert [s["tool_name"] for s in steps_of(d, run["id"]) if s["kind"] == "tool"] == ["write_file"]
    fake_llm.assert_complete()


def test_a_bad_expected_delivery_is_refused_naming_the_kinds(make_daemon):
    d = make_daemon()
    r = d.ctl("goal", "create", "tell me", "--expect-sent", "sms")
    assert r.returncode == 2 and "webhook" in r.stderr and "email" in r.stderr, r.stderr
    with pytest.raises(RpcError) as exc:
        d.call("goal.create", {"objective": "tell me", "params": {"expect_sent": ["sms"]}})
    assert "'sms'" in exc.value.message and "webhook, email" in exc.value.message, exc.value.message
    assert exc.value.data["field"] == "params.expect_sent"


def test_an_expected_delivery_needs_its_tool_allowed(make_daemon):
    d = make_daemon()
    r = d.ctl("goal", "create", "POST it to my webhook", "--tools", "write_file", "--expect-sent", "webhook")
    assert r.returncode == 1, r
    assert "send_webhook" in r.stderr and "--tools" in r.stderr, r.stderr
    assert ctl_json(d, "goal", "list")["goals"] == []

    goal = ctl_json(d, "goal", "create", "email it to me", "--tools", "write_file")
    r = d.ctl("goal", "edit", goal["id"], "--expect-sent", "email")
    assert r.returncode == 1 and "send_email" in r.stderr, r.stderr
    edited = ctl_json(d, "goal", "edit", goal["id"], "--tools", "write_file,send_email",
                      "--expect-sent", "email", "--expect", "report.md")
    assert edited["params"]["expect_sent"] == ["email"] and edited["params"]["expect"] == ["report.md"]
    # Taking the tool away again while the delivery is expected is refused too.
    r = d.ctl("goal", "edit", goal["id"], "--tools", "write_file")
    assert r.returncode == 1 and "send_email" in r.stderr, r.stderr
    cleared = ctl_json(d, "goal", "edit", goal["id"], "--no-expect-sent", "--no-expect")
    assert cleared["params"]["expect_sent"] == [] and cleared["params"]["expect"] == []


def test_the_same_send_twice_in_one_run_is_refused_not_delivered_again(make_daemon, fake_llm):
    """A model that repeats a send it already made (as small models do when
    they describe what they did) gets an error back; the receiver sees one
    POST. A send with other arguments still goes out."""
    with WebhookReceiver() as hook:
        d = make_daemon(config=hook_config(hook))
        goal, run = run_goal(d, fake_llm, [
            tool_call("send_webhook", {"url": hook.url, "payload": PAYLOAD}),
            tool_call("send_webhook", {"payload": dict(PAYLOAD), "url": hook.url}),  # same call, other key order
            tool_call("send_webhook", {"url": hook.url, "payload": {"report": "rain"}}),
            tool_call("finish", {"summary": "Sent."}),
        ], "--webhook", hook.url, objective=OBJECTIVE)
        assert run["status"] == "completed", run
        assert len(tool_hooks(hook)) == 1
        assert [h.payload for h in hook.hooks].count({"report": "rain"}) == 1
    steps = steps_of(d, run["id"])
    assert [s["status"] for s in steps] == ["ok", "error", "ok", "ok"], steps
    assert "already delivered in this run (step 1)" in steps[1]["error"], steps[1]
