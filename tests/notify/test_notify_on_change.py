"""notify on_change through the real daemon and agentctl, the scripted model,
a loopback webhook receiver and a real SMTP server on loopback: a run whose
result (summary and written files) is the same as the last successful run's
but for dates, times and ids writes its outputs and sends no completion
webhook or email, and says "unchanged since run X" in the journal, run show
and run logs; a changed result, a failed run and notify always deliver."""

from __future__ import annotations

import json

import pytest

from agentd.testing.fakellm import fault, finish_call, tool_call
from e2e_servers import SmtpSink, WebhookReceiver

pytestmark = pytest.mark.timeout(90)

RECIPIENT = "me@example.com"


def ctl(d, *args: str) -> str:
    r = d.ctl(*args)
    assert r.returncode == 0, f"agentctl {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def ctl_json(d, *args: str):
    return json.loads(ctl(d, "--json", *args))


def news_run(d, fake_llm, goal_id: str, day: str, items: list[str], *, summary_extra: str = "") -> dict:
    """One run that writes news.md (dated ``day``) and finishes with a dated summary."""
    body = f"# News of {day}\n\n" + "\n".join(f"- {i} (seen {day} 16:0{len(i) % 10} UTC)" for i in items) + "\n"
    fake_llm.add(tool_call("write_file", {"path": "news.md", "content": body}),
                 finish_call(f"Collected {len(items)} items on {day}.{summary_extra}"))
    rid = ctl_json(d, "goal", "run", goal_id)["id"]
    d.wait_run(rid)
    return ctl_json(d, "run", "show", rid)


def test_on_change_skips_completion_deliveries_of_an_unchanged_result(make_daemon, fake_llm):
    with WebhookReceiver() as hook, SmtpSink() as smtp:
        d = make_daemon(config=f'[tools]\nprivate_hosts_allowed = ["127.0.0.1:{hook.port}"]\n'
                               f"delivery_backoff_s = 0.01\n[provider]\nretry_base_delay_s = 0.01\n"
                               + smtp.config())
        goal = ctl_json(d, "goal", "create", "Collect the AI news into news.md", "--webhook", hook.url,
                        "--email", RECIPIENT, "--notify", "on_change")
        gid = goal["id"]
        assert goal["params"]["notify"] == "on_change"
        assert "Notify" in ctl(d, "goal", "show", gid) and "on_change" in ctl(d, "goal", "show", gid)

        first = news_run(d, fake_llm, gid, "2026-12-04", ["Model A ships", "Lab B raises"])
        assert first["status"] == "completed" and first.get("unchanged_since") is None
        assert len(hook.hooks) == 1 and len(smtp.wait_messages(1)) == 1

        # Same news a week later: other dates and times, another run id in the summary artifact.
        second = news_run(d, fake_llm, gid, "2026-12-11", ["Model A ships", "Lab B raises"])
        assert second["status"] == "completed"
        assert second["unchanged_since"] == first["id"]
        assert len(hook.hooks) == 1 and len(smtp.messages) == 1  # nothing sent
        assert [o["kind"] for o in second["outputs"]] == ["file", "summary"]  # outputs written all the same
        assert not [e for e in second["side_effects"] if e["source"] == "completion"]
        notes = [e["message"] for e in _events(d, second["id"]) if e["type"] == "note"]
        assert notes == [f"unchanged since run {first['id']}: the result is the same as that run's, so the "
                         f"completion webhook and email were not sent (notify: on_change)"]
        shown = ctl(d, "run", "show", second["id"])
        assert f"since run {first['id']}" in shown and "not sent" in shown
        assert f"unchanged since run {first['id']}" in ctl(d, "run", "logs", second["id"])

        # Still the same: unchanged since the FIRST run of the same result, not the one before.
        third = news_run(d, fake_llm, gid, "2026-12-18", ["Model A ships", "Lab B raises"])
        assert third["unchanged_since"] == first["id"] and len(hook.hooks) == 1

        # One new headline: a change, delivered.
        fourth = news_run(d, fake_llm, gid, "2026-12-25", ["Model A ships", "Lab B raises", "EU rule passes"])
        assert fourth.get("unchanged_since") is None
        hooks = hook.wait_hooks(2)
        assert hooks[-1].payload["run_id"] == fourth["id"] and len(smtp.wait_messages(2)) == 2

        # A failed run always notifies (a failure is news), and does not become the reference.
        fake_llm.add(fault(400, "model refused"))
        failed = ctl_json(d, "goal", "run", gid)["id"]
        d.wait_run(failed)
        assert hook.wait_hooks(3)[-1].payload["status"] == "failed"

        # The same result as the fourth run (the last success) again: skipped.
        fifth = news_run(d, fake_llm, gid, "2027-01-01", ["Model A ships", "Lab B raises", "EU rule passes"])
        assert fifth["unchanged_since"] == fourth["id"] and len(hook.hooks) == 3

        # notify always (goal edit): the same result is delivered again; back to the default.
        ctl(d, "goal", "edit", gid, "--notify", "always")
        sixth = news_run(d, fake_llm, gid, "2027-01-08", ["Model A ships", "Lab B raises", "EU rule passes"])
        assert sixth["unchanged_since"] == fourth["id"]  # still recorded, but not acted on
        assert hook.wait_hooks(4)[-1].payload["run_id"] == sixth["id"] and len(smtp.wait_messages(4)) == 4
        assert not any(e["type"] == "note" for e in _events(d, sixth["id"]))
        ctl(d, "goal", "edit", gid, "--notify", "default")
        assert ctl_json(d, "goal", "show", gid)["params"].get("notify") is None


def test_the_daemon_default_and_the_runs_own_sends(make_daemon, fake_llm):
    """``[notify] default = "on_change"`` applies to goals that set no mode;
    the run's own send_webhook call (the goal's work) is never held back, and
    the goal is warned that on_change does not cover what it must send."""
    with WebhookReceiver() as hook:
        d = make_daemon(config=f'[tools]\nprivate_hosts_allowed = ["127.0.0.1:{hook.port}"]\n'
                               f'delivery_backoff_s = 0.01\n[notify]\ndefault = "on_change"\n')
        goal = ctl_json(d, "goal", "create", "POST the star count to my webhook", "--webhook", hook.url,
                        "--expect-sent", "webhook")
        assert goal["params"].get("notify") is None
        assert any("send_webhook/send_email calls" in w for w in goal["warnings"])
        runs = []
        for day in ("2026-12-04", "2026-12-05"):
            fake_llm.add(tool_call("send_webhook", {"url": hook.url, "payload": {"stars": 1520}}),
                         finish_call(f"Posted 1520 stars on {day}."))
            rid = ctl_json(d, "goal", "run", goal["id"])["id"]
            d.wait_run(rid)
            runs.append(ctl_json(d, "run", "show", rid))
        assert [r["status"] for r in runs] == ["completed", "completed"]
        assert runs[1]["unchanged_since"] == runs[0]["id"]
        # Three POSTs: both runs' own sends, and only the first run's completion notification.
        sources = [("tool" if h.payload == {"stars": 1520} else h.payload["run_id"]) for h in hook.wait_hooks(3)]
        assert sources == ["tool", runs[0]["id"], "tool"]


def _events(d, run_id: str) -> list[dict]:
    from watch_support import read_until

    with d.client(timeout=15) as c:
        c.call("run.watch", {"run_id": run_id, "since": 0})
        msgs = read_until(c, lambda m: m.get("method") == "run.event"
                          and m["params"]["event"]["type"] == "run_finished", 15)
    return [m["params"]["event"] for m in msgs if m.get("method") == "run.event"]
