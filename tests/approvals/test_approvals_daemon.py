"""Durable approvals through the real daemon, the real agentctl and the scripted
model: approved, denied, expired, refused by policy, kill -9 while parked and
while the approved call is in flight (at most once at the receiver), the slot a
parked run frees, notifications at a loopback webhook receiver and a real SMTP
server on loopback."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading

import pytest

from agentd.testing.fakellm import finish_call, tool_call
from e2e_servers import SmtpSink, WebhookReceiver

pytestmark = pytest.mark.timeout(90)

WAIT = 20.0
CONFIG = '[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\ndelivery_backoff_s = 0.01\n'


class HoldingReceiver(WebhookReceiver):
    """A webhook receiver that holds the first POST whose payload has
    ``"hold": true`` until ``release`` (``arrived`` is set when it comes)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.release = threading.Event()

    def handle(self, req):
        out = super().handle(req)
        try:
            hold = json.loads(req.body).get("hold") is True
        except ValueError:
            hold = False
        if hold and not self.arrived.is_set():
            self.arrived.set()
            self.release.wait(WAIT * 3)
        return out

    def __exit__(self, *exc):
        self.release.set()
        return super().__exit__(*exc)


def ctl_json(d, *args):
    r = d.ctl("--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def wait_event(d, run_id: str, kind: str) -> dict:
    """Block (on run.watch, no polling) until the run journals an event of ``kind``; return it."""
    with d.client(timeout=WAIT) as c:
        c.call("run.watch", {"run_id": run_id})
        while True:
            for n in c.notifications:
                if n.get("method") == "run.event" and n["params"]["event"]["type"] == kind:
                    return n["params"]["event"]
            c.notifications.append(c.read_message())


def tool_posts(hook) -> list[dict]:
    """What the agent's send_webhook calls delivered (not our notifications)."""
    return [h.payload for h in hook.hooks if "type" not in h.payload]


def notifications(hook, kind: str) -> list[dict]:
    return [h.payload for h in hook.hooks if h.payload.get("type") == kind]


def parked_goal(d, fake_llm, hook, *extra: str, payload=None) -> tuple[dict, dict]:
    """A goal asking before send_webhook and a run of it parked on its first call."""
    fake_llm.add(tool_call("send_webhook", {"url": hook.url, "payload": payload or {"report": 1}}),
                 finish_call("sent"))
    goal = ctl_json(d, "goal", "create", "send the report", "--name", "reporter", "--webhook", hook.url,
                    "--ask", "send_webhook", *extra)
    run = d.call("goal.run", {"id": goal["id"]})
    wait_event(d, run["id"], "approval_requested")
    return goal, run


def test_approved_call_is_made_once_and_the_decision_is_journaled(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG + "[daemon]\nmax_concurrent_runs = 1\n")
        goal, run = parked_goal(d, fake_llm, hook)

        # Parked: pending, not holding the only slot; the step waits with its exact arguments.
        assert d.call("run.get", {"id": run["id"]})["status"] == "pending"
        (step,) = d.call("run.steps", {"id": run["id"]})["steps"]
        assert step["status"] == "awaiting_approval" and step["tool_input"]["payload"] == {"report": 1}
        other = ctl_json(d, "goal", "create", "something else")
        fake_llm.add(finish_call("other done"))  # taken by the other goal's run while the first is parked
        assert d.wait_run(d.call("goal.run", {"id": other["id"]})["id"])["status"] == "completed"

        # Everyone who looks sees the waiting call and how to answer.
        hook.wait_hooks(1, timeout=WAIT)
        (asked,) = notifications(hook, "approval.requested")
        assert asked["tool"] == "send_webhook" and json.loads(asked["arguments"])["payload"] == {"report": 1}
        assert asked["approve"] == f"agentctl run approve {run['id']} --call {asked['approval_id']}"
        listed = d.ctl("approvals")
        assert listed.returncode == 0 and asked["approval_id"] in listed.stdout and "send_webhook" in listed.stdout
        shown = d.ctl("goal", "show", goal["id"]).stdout
        assert "1 call(s) wait for approval" in shown and "ask before send_webhook" in shown
        assert "awaiting approval" in d.ctl("run", "show", run["id"]).stdout
        assert tool_posts(hook) == []

        # Without a terminal approving needs --yes; with it, the call is shown and approved.
        refused = d.ctl("run", "approve", run["id"])
        assert refused.returncode == 2 and "--yes" in refused.stderr
        r = d.ctl("run", "approve", run["id"], "--yes")
        assert r.returncode == 0 and "the run resumes" in r.stderr, r.stderr
        done = d.wait_run(run["id"])
        assert done["status"] == "completed", done
        assert tool_posts(hook) == [{"report": 1}]

    (a,) = done["approvals"]
    assert a["status"] == "approved" and a["executed"] and a["decided_by"].endswith("(agentctl)")
    events = [n["params"]["event"] for n in _replay(d, run["id"])]
    decided = [e for e in events if e["type"] == "approval_decided"]
    assert [(e["decision"], e["tool"]) for e in decided] == [("approved", "send_webhook")]
    assert d.ctl("--json", "approvals").stdout.strip() == '{\n  "approvals": []\n}' or \
        json.loads(d.ctl("--json", "approvals").stdout) == {"approvals": []}
    again = d.ctl("run", "approve", run["id"], "--yes")
    assert again.returncode == 1 and "not waiting for approval" in again.stderr


def _replay(d, run_id: str) -> list[dict]:
    with d.client(timeout=WAIT) as c:
        c.call("run.watch", {"run_id": run_id})
        while not any(n["params"]["event"]["type"] == "run_finished" for n in c.notifications
                      if n.get("method") == "run.event"):
            c.notifications.append(c.read_message())
        return [n for n in c.notifications if n.get("method") == "run.event"]


def test_denied_call_is_not_made_and_the_model_is_told_why(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG)
        _, run = parked_goal(d, fake_llm, hook)
        watch = subprocess.Popen([sys.executable, "-m", "agentctl", "run", "watch", run["id"]], env=d.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            r = d.ctl("run", "deny", run["id"], "--reason", "not to that address")
            assert r.returncode == 0 and "Denied send_webhook" in r.stderr, r.stderr
            done = d.wait_run(run["id"])
            watched, _ = watch.communicate(timeout=WAIT)
        finally:
            watch.kill()
            watch.wait()
        assert f"send_webhook" in watched and f"waits for approval: `run approve {run['id']}`" in watched
        assert "send_webhook denied by" in watched and "not to that address" in watched
        assert done["status"] == "completed"
        assert tool_posts(hook) == []
    (step, _) = d.call("run.steps", {"id": run["id"]})["steps"]
    assert step["status"] == "error" and "a person denied this call" in step["error"]
    told = [m for m in fake_llm.requests[-1]["messages"] if m.get("role") == "tool"]
    assert "not to that address" in told[0]["content"] and "It was not made" in told[0]["content"]
    (a,) = done["approvals"]
    assert (a["status"], a["note"]) == ("denied", "not to that address")


def test_a_parked_run_shows_as_awaiting_approval_with_what_to_run(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG)
        goal, run = parked_goal(d, fake_llm, hook)
        rid = run["id"]
        (call,) = [a["id"] for a in d.call("approval.list", {"run_id": rid})["approvals"]]
        env = {**d.env, "COLUMNS": "300"}

        # --json keeps the status (pending: a parked run holds no slot) and names the waiting call.
        (listed,) = ctl_json(d, "run", "list")["runs"]
        assert (listed["status"], listed["awaiting_approval"]) == ("pending", [call])
        assert ctl_json(d, "goal", "show", goal["id"])["last_run"]["awaiting_approval"] == [call]
        # The text says what it waits for and what to run.
        hint = f"call {call} waits: agentctl run approve {rid} or agentctl run deny {rid}"
        table = d.ctl("run", "list", env=env).stdout
        assert "awaiting approval" in table and hint in table and "pending" not in table, table
        assert f"| awaiting approval |" in d.ctl("run", "list", "--format", "md", env=env).stdout
        shown = d.ctl("run", "show", rid, env=env).stdout
        assert re.search(r"Status +awaiting approval  \(parked", shown), shown
        assert f"agentctl run approve {rid}" in shown and call in shown
        assert "- **Status:** awaiting approval" in d.ctl("run", "show", rid, "--format", "md").stdout
        assert f"{rid}  awaiting approval" in d.ctl("goal", "show", goal["id"], env=env).stdout
        assert "awaiting approval" in d.ctl("goal", "list", env=env).stdout

        # What the hint says to run works; then the run is no longer shown waiting.
        deny = hint.split(" or ")[1].split()
        assert deny[0] == "agentctl" and d.ctl(*deny[1:]).returncode == 0
        assert d.wait_run(rid)["status"] == "completed"
        (listed,) = ctl_json(d, "run", "list")["runs"]
        assert listed["awaiting_approval"] == [] and "awaiting approval" not in d.ctl("run", "list", env=env).stdout


def test_an_undecided_call_expires_denied_and_the_model_is_told(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG)
        _, run = parked_goal(d, fake_llm, hook, "--approval-timeout", "1")
        done = d.wait_run(run["id"])
        assert done["status"] == "completed"
        assert tool_posts(hook) == []
    (a,) = done["approvals"]
    assert (a["status"], a["decided_by"]) == ("expired", "timeout")
    told = [m for m in fake_llm.requests[-1]["messages"] if m.get("role") == "tool"]
    assert "nobody approved this call within 1 s" in told[0]["content"]


def test_an_expired_call_names_the_wait_it_was_asked_with(make_daemon, fake_llm):
    """The goal's timeout changed while a call waits: the request keeps its own
    deadline, and the model is told that wait, not the goal's new setting."""
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG)
        goal, run = parked_goal(d, fake_llm, hook, "--approval-timeout", "3")
        assert d.ctl("goal", "edit", goal["id"], "--approval-timeout", "3600").returncode == 0
        done = d.wait_run(run["id"])
    told = [m for m in fake_llm.requests[-1]["messages"] if m.get("role") == "tool"]
    assert done["status"] == "completed" and "nobody approved this call within 3 s" in told[0]["content"], told


def test_kill_while_parked_keeps_the_request_and_the_run_waits(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG)
        _, run = parked_goal(d, fake_llm, hook)
        hook.wait_hooks(1, timeout=WAIT)  # the request's notification went out
        asked = len(fake_llm.requests)
        d.kill()
        d.start()
        (a,) = d.call("approval.list", {"run_id": run["id"]})["approvals"]
        assert a["status"] == "pending"
        assert d.call("run.get", {"id": run["id"]})["status"] == "pending"
        status = d.call("daemon.status")
        assert run["id"] not in (status.get("running") or [])
        assert len(fake_llm.requests) == asked  # not resumed: no model call while it waits
        assert len(notifications(hook, "approval.requested")) == 1  # notified once, not again at the restart
        d.call("run.approve", {"id": run["id"], "digest": a["digest"], "by": "test"})
        assert d.wait_run(run["id"])["status"] == "completed"
        assert tool_posts(hook) == [{"report": 1}]


def test_kill_while_the_approved_call_is_in_flight_never_sends_it_twice(make_daemon, fake_llm):
    with HoldingReceiver() as hook:
        d = make_daemon(config=CONFIG)
        _, run = parked_goal(d, fake_llm, hook, payload={"hold": True})
        d.call("run.approve", {"id": run["id"], "by": "test"})
        assert hook.arrived.wait(WAIT), "the approved call never reached the receiver"
        d.kill()  # the receiver has the request; the daemon never hears the answer
        hook.release.set()
        d.start()
        done = d.wait_run(run["id"])
        assert done["status"] == "completed"
        assert tool_posts(hook) == [{"hold": True}]  # exactly once at the receiver
    step = d.call("run.steps", {"id": run["id"]})["steps"][0]
    assert step["status"] == "unknown"
    (effect,) = [e for e in done["side_effects"] if e["source"] == "tool"]
    assert effect["status"] == "unknown"


def test_approval_applies_only_to_the_call_shown(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG)
        _, run = parked_goal(d, fake_llm, hook)
        with pytest.raises(Exception) as info:
            d.call("run.approve", {"id": run["id"], "digest": "0" * 64})
        assert info.value.code == -32004 and "not the call that was shown" in info.value.message
        assert d.call("approval.list", {})["approvals"][0]["status"] == "pending"
        d.call("run.deny", {"id": run["id"]})
        assert d.wait_run(run["id"])["status"] == "completed"


def test_policy_deny_and_what_may_be_set_to_ask(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=CONFIG)
        r = d.ctl("goal", "create", "x", "--ask", "web_search")
        assert r.returncode == 1 and "no side effects" in r.stderr and "--deny" not in r.stderr
        assert "send_email, send_webhook" in r.stderr
        r = d.ctl("goal", "create", "x", "--ask", "no_such_tool")
        assert r.returncode == 1 and "unknown tool 'no_such_tool'" in r.stderr
        r = d.ctl("goal", "create", "x", "--ask", "send_email", "--deny", "send_email")
        assert r.returncode == 2 and "give one" in r.stderr

        fake_llm.add(tool_call("send_webhook", {"url": hook.url, "payload": {"n": 1}}), finish_call("gave up"))
        goal = ctl_json(d, "goal", "create", "send", "--webhook", hook.url, "--deny", "send_webhook")
        done = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
        assert done["status"] == "completed" and done["approvals"] == []
        assert "approval policy denies send_webhook" in d.call("run.steps", {"id": done["id"]})["steps"][0]["error"]
        assert tool_posts(hook) == []

        edited = ctl_json(d, "goal", "edit", goal["id"], "--allow", "send_webhook", "--ask", "send_email",
                          "--approval-timeout", "600")
        assert edited["params"]["approvals"] == {"send_email": "ask"}
        assert edited["params"]["approval_timeout_s"] == 600


def test_email_notification_when_smtp_is_configured(make_daemon, fake_llm):
    with SmtpSink() as smtp:
        d = make_daemon(config=CONFIG + smtp.config())
        fake_llm.add(tool_call("send_email", {"to": ["me@example.com"], "subject": "weekly", "body": "hi"}),
                     finish_call("mailed"))
        goal = ctl_json(d, "goal", "create", "mail the boss", "--email", "me@example.com", "--ask", "send_email")
        run = d.call("goal.run", {"id": goal["id"]})
        wait_event(d, run["id"], "approval_requested")
        (mail,) = smtp.wait_messages(1)
        assert mail.rcpt_tos == ["me@example.com"] and "approval needed: send_email" in mail.subject
        assert f"agentctl run approve {run['id']}" in mail.body and "weekly" in mail.body
        d.ctl("run", "approve", run["id"], "--yes")
        assert d.wait_run(run["id"])["status"] == "completed"
        subjects = [m.subject for m in smtp.wait_messages(3)]  # then the call itself and the completion mail
        assert subjects[1] == "weekly" and len([s for s in subjects if s == "weekly"]) == 1
