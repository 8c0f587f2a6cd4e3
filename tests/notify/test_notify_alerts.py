"""Alerts when a goal goes quiet or keeps failing, through the real daemon
and agentctl, the scripted model, a loopback webhook receiver (checking the
Standard Webhooks signature itself) and a real SMTP server on loopback. The
quiet case moves the daemon's wall clock (tests/notify/clockd.py): one alert
per incident, none again after a restart, one recovery notice."""

from __future__ import annotations

import json
import time

import pytest

from agentd.protocol import methods as m
from agentd.testing.fakellm import fault, finish_call
from agentd.tools.webhook import generate_secret
from daemon_harness import RpcError
from e2e_servers import SmtpSink, WebhookReceiver

pytestmark = pytest.mark.timeout(120)

OPS = "ops@example.com"
DAY = 86400


def ctl(d, *args: str) -> str:
    r = d.ctl(*args)
    assert r.returncode == 0, f"agentctl {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def ctl_json(d, *args: str):
    return json.loads(ctl(d, "--json", *args))


def wait_until(fn, timeout: float = 20.0, what: str = "condition"):
    """``fn()``'s first truthy value, asked every 50 ms; TimeoutError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = fn()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} not reached after {timeout}s")
        time.sleep(0.05)


def alerts_config(hook: WebhookReceiver, smtp: SmtpSink | None, secret: str | None) -> str:
    text = (f'[tools]\nprivate_hosts_allowed = ["127.0.0.1:{hook.port}"]\ndelivery_backoff_s = 0.01\n'
            f"[provider]\nretry_base_delay_s = 0.01\n[daemon]\nlog_level = \"debug\"\n")
    if secret is not None:
        text += f'[alerts]\nwebhook_url = "{hook.url}"\nwebhook_secret = "{secret}"\nemail_to = ["{OPS}"]\n'
    return text + (smtp.config() if smtp is not None else "")


def _checks(d, goal_id: str) -> list[dict]:
    return [r for r in d.log_records() if r.get("msg") == "goal checked for alerts" and r.get("goal_id") == goal_id]


def delivered(d, goal_id: str, notice: str) -> bool:
    inc = d.call("goal.get", {"id": goal_id}).get("incident") or {}
    sent = [n for n in inc.get("notices", []) if n["notice"] == notice]
    return bool(sent) and all(n["status"] == "delivered" for n in sent)


def test_a_quiet_goal_is_alerted_once_not_again_after_a_restart_and_recovers(clock_daemon, fake_llm):
    secret = generate_secret()
    with WebhookReceiver() as hook, SmtpSink() as smtp:
        hook.secret = secret
        d = clock_daemon(config=alerts_config(hook, smtp, secret))
        goal = ctl_json(d, "goal", "create", "Collect the AI news", "--name", "ai-news",
                        "--schedule", "0 9 * * *", "--timezone", "UTC", "--catchup", "none")
        gid = goal["id"]
        assert "quiet periods [alerts] quiet_periods" in ctl(d, "goal", "show", gid)

        # One period passes without a run: checked (the daemon logs it at debug level), not quiet yet
        # (the default is 2 periods).
        checks = len(_checks(d, gid))
        d.move(1 * DAY)
        wait_until(lambda: len(d.call("goal.get", {"id": gid})["recent_ticks"]) == 1, what="the first tick")
        wait_until(lambda: len(_checks(d, gid)) > checks, what="the goal checked after its tick")
        assert _checks(d, gid)[-1]["found"] is None and not hook.hooks
        # Two periods: an alert, to the webhook (signed with [alerts] webhook_secret) and by email.
        d.move(1 * DAY)
        hooks = hook.wait_hooks(1, timeout=20)
        alert = hooks[0].payload
        assert hooks[0].valid is True
        assert alert["type"] == "goal.alert" and alert["kind"] == "quiet" and alert["goal_id"] == gid
        assert alert["goal_name"] == "ai-news" and alert["last_success_at"] is None
        assert alert["reason"].startswith("no successful run for 2 of its periods (0 9 * * * (UTC))")
        assert f"agentctl goal show {gid}" in alert["look"]
        mail = smtp.wait_messages(1)[0]
        assert mail.rcpt_tos == [OPS] and mail.subject == "[agentd] goal ai-news has gone quiet"
        assert alert["reason"] in mail.body and f"agentctl goal show {gid}" in mail.body
        wait_until(lambda: delivered(d, gid, "alert"), what="the alert recorded as delivered")
        shown = ctl(d, "goal", "show", gid)
        assert "QUIET since" in shown and "alert webhook delivered" in shown and "alert email delivered" in shown

        # More periods pass, and the daemon restarts: the open incident is not announced again.
        d.move(3 * DAY)
        wait_until(lambda: len(d.call("goal.get", {"id": gid})["recent_ticks"]) >= 3, what="later ticks")
        d.stop()
        d.start()
        assert d.call("goal.get", {"id": gid})["incident"]["closed_at"] is None

        # It succeeds again: one recovery notice. (The alerts are sent one after another, so an
        # alert repeated by the restart or the later ticks would have arrived before it.)
        fake_llm.add(finish_call("Collected the news."))
        rid = ctl_json(d, "goal", "run", gid)["id"]
        d.wait_run(rid)
        hooks = hook.wait_hooks(2, timeout=20)
        assert [h.payload["type"] for h in hooks] == ["goal.alert", "goal.recovered"]
        recovered = hooks[1].payload
        assert hooks[1].valid is True and recovered["recovered_by"] == rid
        assert recovered["incident_id"] == alert["incident_id"]
        mails = smtp.wait_messages(2)
        assert mails[1].subject == "[agentd] recovered: goal ai-news" and rid in mails[1].body
        wait_until(lambda: delivered(d, gid, "recovery"), what="the recovery recorded as delivered")
        inc = ctl_json(d, "goal", "show", gid)["incident"]
        assert inc["recovered_by"] == rid and inc["closed_at"] is not None
        assert "recovered" in ctl(d, "goal", "show", gid)
        assert len(hook.hooks) == 2 and len(smtp.messages) == 2


def test_a_goal_whose_last_runs_failed_alerts_its_own_webhook_once_then_recovers(make_daemon, fake_llm):
    with WebhookReceiver() as hook:
        d = make_daemon(config=alerts_config(hook, None, None))
        r = d.ctl("goal", "create", "Count the stars", "--alert-via", "email")
        assert r.returncode != 0 and "alerts via email need the goal's email recipients" in r.stderr
        goal = ctl_json(d, "goal", "create", "Count the stars", "--schedule", "0 0 1 1 *", "--timezone", "UTC",
                        "--webhook", hook.url, "--alert-via", "webhook", "--alert-failed", "2", "--alert-quiet", "0")
        gid = goal["id"]
        hook.secret = ctl_json(d, "goal", "show", gid, "--secrets")["webhook_secret"]
        assert goal["params"]["alert_via"] == ["webhook"] and goal["params"]["alert_failed_runs"] == 2
        # A goal without a schedule is never alerted on, however its runs end.
        manual = ctl_json(d, "goal", "create", "Once by hand", "--webhook", hook.url, "--alert-via", "webhook",
                          "--alert-failed", "1")

        def run(goal_id: str, *turns) -> str:
            fake_llm.add(*turns)
            rid = ctl_json(d, "goal", "run", goal_id)["id"]
            d.wait_run(rid)
            return rid

        def alerts() -> list[dict]:
            return [h.payload for h in hook.hooks if h.payload["type"].startswith("goal.")]

        run(gid, fault(400, "model refused"))
        second = run(gid, fault(400, "model refused"))
        wait_until(lambda: alerts(), what="the alert")
        alert = alerts()[0]
        assert alert["type"] == "goal.alert" and alert["kind"] == "failing"
        assert alert["reason"].startswith(f"its last 2 runs failed (the latest, run {second}, failed: provider ")
        assert alert["last_run"]["id"] == second and f"agentctl run logs {second}" in alert["look"]
        run(gid, fault(400, "model refused"))  # the incident is open: no second alert
        run(manual["id"], fault(400, "model refused"))
        ok = run(gid, finish_call("Counted 1520 stars."))
        wait_until(lambda: len(alerts()) == 2, what="the recovery notice")
        assert [a["type"] for a in alerts()] == ["goal.alert", "goal.recovered"]
        assert alerts()[1]["recovered_by"] == ok
        assert all(h.valid for h in hook.hooks if h.payload["goal_id"] == gid)  # signed with the goal's secret
        assert not [a for a in alerts() if a["goal_id"] == manual["id"]]
        with pytest.raises(RpcError) as info:
            d.call("goal.update", {"id": gid, "webhook_url": None})  # its alerts go to that webhook
        assert info.value.data["field"] == "alert_via"


def test_alert_intents_left_by_a_stopped_daemon_are_never_sent(tmp_path):
    """An incident is committed with the intents of its deliveries before
    anything is sent; at the next start those still ``intent`` become
    ``unknown`` (the receiver may have them) and are not sent."""
    from agentd.shared import config as config_mod
    from agentd.app import App
    from agentd.store import Store
    from agentd.store import goals as goals_q
    from agentd.store import notify as notify_q

    app = App(config_mod.load(tmp_path / "none.toml", environ={}), Store(tmp_path / "a.db"))
    try:
        gid = app.store.write_sync(goals_q.insert_goal, app.now(), m.GoalCreate(objective="x"), "whsec_eA==")
        app.store.write_sync(notify_q.insert_incident, app.now(), "0123456789ab", gid, "quiet", "why",
                             [("webhook", "incident-0123456789ab:alert-webhook", "http://x/", "alert")])
        assert not app.store.write_sync(notify_q.insert_incident, app.now(), "ba9876543210", gid, "failing",
                                        "again", [])  # one open incident per goal
        assert [r["status"] for r in app.store.read(notify_q.pending_deliveries)] == ["intent"]
        assert app.alerts.recover() == 1
        assert app.store.read(notify_q.pending_deliveries) == []
        inc = app.store.read(notify_q.incident_of, gid)
        assert [(n.status, n.detail) for n in inc.notices] == [("unknown", notify_q.UNKNOWN_DETAIL)]
    finally:
        app.store.close()


def test_ticks_before_a_goal_could_be_quiet_cost_no_check(tmp_path):
    """After a check finds nothing, the goal's ticks are looked at again only
    from the fire time of its N-th period since the last success; a run's end
    or a goal change makes the next tick count again."""
    from agentd.shared import config as config_mod
    from agentd.app import App
    from agentd.store import Store
    from agentd.store import goals as goals_q
    from agentd.store import runs as runs_q

    t0 = 1_800_000_000_000 - 1_800_000_000_000 % 3_600_000 + 60_000  # a minute past an hour
    now = [t0]
    app = App(config_mod.load(tmp_path / "none.toml", environ={}), Store(tmp_path / "a.db"), clock=lambda: now[0])
    alerts = app.alerts
    try:
        spec = m.GoalCreate(objective="hourly", schedules=[m.ScheduleSpec(cron="0 * * * *")])
        gid = app.store.write_sync(goals_q.insert_goal, t0, spec, "whsec_eA==")
        alerts._marked.clear()
        trio_run(alerts.check, gid)  # nothing owed yet
        hour = 3_600_000
        now[0] = t0 + hour  # the first period's tick: not quiet before the second
        alerts.ticks_recorded({gid})
        assert gid not in alerts._marked
        now[0] = t0 + 2 * hour - 60_000  # the second period's fire time
        alerts.ticks_recorded({gid})
        assert gid in alerts._marked
        alerts._marked.clear()
        trio_run(alerts.check, gid)
        assert app.store.read(lambda c: c.execute("SELECT kind FROM incidents").fetchall())[0][0] == "quiet"
        alerts.ticks_recorded({gid})  # open: only a run's end can close it
        assert gid not in alerts._marked
        alerts.goal_changed(gid)
        assert gid in alerts._marked
        alerts._marked.clear()
        trio_run(alerts.check, gid)
        alerts.ticks_recorded({gid})  # still open (no success): nothing to look at
        assert gid not in alerts._marked

        def success(conn):
            rid = runs_q.insert_run(conn, now[0], gid, step_budget=5)
            runs_q.claim(conn, now[0], rid)
            runs_q.insert_step(conn, now[0], rid, step_no=1, turn=1, status="pending", tool_name="finish")
            runs_q.complete_step(conn, rid, 1, status="ok", observation="done", error=None, duration_ms=1.0)
            runs_q.finish(conn, now[0] + 1, rid, "completed")

        app.store.write_sync(success)
        alerts.goal_changed(gid)
        trio_run(alerts.check, gid)  # recovered: its next tick is looked at again
        assert app.store.read(lambda c: c.execute("SELECT closed_at FROM incidents").fetchone()[0]) is not None
        alerts._marked.clear()
        alerts.ticks_recorded({gid})
        assert gid in alerts._marked
        alerts._marked.clear()
        trio_run(alerts.check, gid)
        app.schedules_changed()  # a goal edit: checked again at its next tick
        alerts.ticks_recorded({gid})
        assert gid in alerts._marked
    finally:
        app.store.close()


def trio_run(fn, *args):
    import trio

    return trio.run(fn, *args)
