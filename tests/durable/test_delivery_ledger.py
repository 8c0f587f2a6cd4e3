"""Completion notifications never turn a finished run into a failed one, and
every ledger record says what happened: through the real daemon, agentctl,
a loopback webhook receiver and a real SMTP server on loopback."""

from __future__ import annotations

import json

import pytest

from agentd.testing.fakellm import tool_call
from e2e_servers import SmtpSink, WebhookReceiver

pytestmark = pytest.mark.timeout(60)


class Redirecting(WebhookReceiver):
    """Answers every POST with a redirect whose Location is not a usable URL."""

    def __init__(self, location: str) -> None:
        super().__init__()
        self.location = location

    def handle(self, req):
        super().handle(req)
        return 302, {"Location": self.location}, b""


def ctl_json(d, *args):
    r = d.ctl("--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout), r.stderr


def finished_run(d, goal_id):
    run = d.call("goal.run", {"id": goal_id})
    return d.wait_run(run["id"], timeout=30)


def effects(d, run_id):
    return d.call("run.get", {"id": run_id})["side_effects"]


@pytest.mark.parametrize("location", ["http:x", "http://[::1"])
def test_a_webhook_answering_a_redirect_with_a_bad_location_is_a_failed_delivery(make_daemon, fake_llm, location):
    fake_llm.add(tool_call("finish", {"summary": "all done"}))
    with Redirecting(location) as hook:
        d = make_daemon(config='[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\ndelivery_backoff_s = 0.01\n')
        goal, _ = ctl_json(d, "goal", "create", "notify me", "--webhook", hook.url)
        run = finished_run(d, goal["id"])
        assert run["status"] == "completed", run
        assert len(hook.hooks) == 1  # a redirect is an answer: not retried, not followed
    (effect,) = effects(d, run["id"])
    assert (effect["status"], effect["attempts"]) == ("failed", 1), effect
    assert "HTTP 302" in effect["detail"]
    shown = d.ctl("run", "show", run["id"])
    assert shown.returncode == 0 and "failed" in shown.stdout and "HTTP 302" in shown.stdout


def test_a_webhook_refused_before_sending_is_recorded_with_how_to_allow_it(make_daemon, fake_llm):
    fake_llm.add(tool_call("finish", {"summary": "all done"}))
    with WebhookReceiver() as hook:
        d = make_daemon(config="[tools]\ndelivery_backoff_s = 0.01\n")
        goal, warned = ctl_json(d, "goal", "create", "notify me", "--webhook", hook.url)
        hostport = f"127.0.0.1:{hook.port}"
        assert "private_hosts_allowed" in warned and hostport in warned
        assert goal["warnings"] and "loopback" in goal["warnings"][0]
        run = finished_run(d, goal["id"])
        assert run["status"] == "completed"
        assert hook.hooks == []
    (effect,) = effects(d, run["id"])
    assert (effect["status"], effect["attempts"]) == ("refused", 0), effect
    assert f"agentctl config set tools.private_hosts_allowed {hostport}" in effect["detail"]
    shown = d.ctl("run", "show", run["id"])
    assert "refused" in shown.stdout and "private_hosts_allowed" in shown.stdout

    # Allowed: no warning any more.
    d2 = make_daemon(config=f'[tools]\nprivate_hosts_allowed = ["{hostport}"]\n')
    goal2, warned2 = ctl_json(d2, "goal", "create", "notify me", "--webhook", f"http://{hostport}/hook")
    assert not goal2.get("warnings") and warned2 == ""


def test_email_without_smtp_is_warned_at_create_and_edit_and_recorded_as_refused(make_daemon, fake_llm):
    fake_llm.add(tool_call("finish", {"summary": "all done"}))
    d = make_daemon()
    goal, warned = ctl_json(d, "goal", "create", "mail me", "--email", "me@example.com")
    assert "no email will be sent" in warned and "smtp.host" in warned
    edited = d.ctl("goal", "edit", goal["id"], "--email", "you@example.com")
    assert edited.returncode == 0 and "no email will be sent" in edited.stderr
    run = finished_run(d, goal["id"])
    assert run["status"] == "completed"
    (effect,) = effects(d, run["id"])
    assert effect["kind"] == "email" and (effect["status"], effect["attempts"]) == ("refused", 0)
    assert "[smtp] host" in effect["detail"]
    assert "refused" in d.ctl("run", "show", run["id"]).stdout


def test_email_with_smtp_configured_is_not_warned_and_is_delivered(make_daemon, fake_llm):
    fake_llm.add(tool_call("finish", {"summary": "all done"}))
    with SmtpSink() as smtp:
        d = make_daemon(config=smtp.config())
        goal, warned = ctl_json(d, "goal", "create", "mail me", "--email", "me@example.com")
        assert warned == "" and not goal.get("warnings")
        run = finished_run(d, goal["id"])
        smtp.wait_messages(1)
    (effect,) = effects(d, run["id"])
    assert (effect["kind"], effect["status"], effect["attempts"]) == ("email", "delivered", 1)
