"""Approving in the REPL, driven in a real pseudo-terminal: the shell says a run
waits for approval the moment it parks, `run approve` shows the call with its
exact arguments and asks, `y` approves, and the run resumes and completes."""

from __future__ import annotations

from agentd.testing.fakellm import finish_call, tool_call
from daemon_harness import write_config
from e2e_servers import WebhookReceiver
from watch_support import WAIT

PROMPT = "agentd>"


def test_a_waiting_call_is_announced_shown_and_approved_in_the_shell(daemon, fake_llm, spawn_ctl):
    with WebhookReceiver() as hook:
        write_config(daemon.env, '[tools]\nprivate_hosts_allowed = ["127.0.0.1"]\n')
        daemon.call("daemon.reload", {})
        fake_llm.add(tool_call("send_webhook", {"url": hook.url, "payload": {"weekly": "report"}}), finish_call("ok"))
        goal = daemon.call("goal.create", {"objective": "post the report", "name": "poster", "webhook_url": hook.url,
                                           "params": {"approvals": {"send_webhook": "ask"}}})
        child = spawn_ctl()
        child.expect_exact("Ctrl-D leaves", timeout=WAIT)
        child.expect_exact(PROMPT, timeout=WAIT)
        child.expect_exact("live", timeout=WAIT)  # the daemon-wide subscription is up
        run = daemon.call("goal.run", {"id": goal["id"]})
        child.expect_exact(f"run {run['id']} of goal 'poster' waits for approval: send_webhook", timeout=WAIT)
        child.send(f"run approve {run['id']}\r")
        child.expect_exact("asks to call send_webhook", timeout=WAIT)
        child.expect_exact('"weekly": "report"', timeout=WAIT)
        child.expect_exact("Approve this call? [y/N]", timeout=WAIT)
        child.send("y\r")
        child.expect_exact("Approved send_webhook", timeout=WAIT)
        child.expect_exact(f"run {run['id']} of goal 'poster' finished: completed", timeout=WAIT)
        child.sendcontrol("d")
        assert [h.payload for h in hook.hooks if "type" not in h.payload] == [{"weekly": "report"}]
