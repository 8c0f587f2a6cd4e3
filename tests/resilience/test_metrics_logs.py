"""Metrics move as expected across a scripted run with a failing tool; the
Prometheus text parses with an independent parser; no secret reaches a log line."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from agentd.testing.fakellm import finish_call, text, tool_call
from e2e_servers import WebhookReceiver

SECRET_CONFIG = """
[smtp]
host = "127.0.0.1"
port = 9
security = "none"
username = "agent"
password = "smtp-pa55word-zz9"
sender = "agentd@example.com"
"""


def sample(families, name, **labels):
    for fam in families:
        for s in fam.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def test_metrics_move_across_a_run_with_a_failing_tool(make_daemon, fake_llm):
    d = make_daemon()
    g = d.call("goal.create", {"objective": "fetch then write", "params": {"step_budget": 5}})
    fake_llm.add(
        tool_call("fetch_page", {"url": "http://169.254.169.254/latest/meta-data/"}),  # refused: metadata address
        tool_call("write_file", {"path": "notes.md", "content": "x"}),
        tool_call("finish", {"summary": "done"}),
    )
    run = d.call("goal.run", {"id": g["id"]})
    assert d.wait_run(run["id"])["status"] == "completed"
    m = d.call("daemon.metrics")["counters"]
    assert m['agentd_tool_calls_total{outcome="error",tool="fetch_page"}'] == 1
    assert m['agentd_tool_calls_total{outcome="ok",tool="write_file"}'] == 1
    assert m['agentd_runs_total{status="completed"}'] == 1
    assert m['agentd_model_calls_total{model="gpt-4o"}'] == 3
    assert m['agentd_tokens_total{direction="in",model="gpt-4o"}'] > 0
    assert m['agentd_rpc_requests_total{method="goal.run",outcome="ok"}'] == 1
    assert m['agentd_runs_in_store{status="completed"}'] == 1

    text_out = d.call("daemon.metrics", {"format": "prometheus"})["text"]
    families = list(text_string_to_metric_families(text_out))
    names = {f.name for f in families}
    assert {"agentd_runs", "agentd_runs_in_store", "agentd_tool_calls", "agentd_run_duration_seconds", "agentd_rpc_duration_seconds"} <= names
    assert sample(families, "agentd_tool_calls_total", tool="fetch_page", outcome="error") == 1
    assert sample(families, "agentd_run_duration_seconds_count") == 1
    kinds = {f.name: f.type for f in families}
    assert kinds["agentd_run_duration_seconds"] == "histogram"
    assert kinds["agentd_runs_in_store"] == "gauge" and kinds["agentd_runs"] == "counter"

    p = d.ctl("server", "metrics", "--format", "prometheus")
    assert p.returncode == 0, p.stderr
    assert "agentd_runs_total" in p.stdout


def test_no_secret_in_any_log_line(make_daemon, fake_llm):
    d = make_daemon(config=SECRET_CONFIG, env={"AGENTD_LOG_LEVEL": "trace"})
    g = d.call("goal.create", {"objective": "mail me", "params": {"email_to": ["me@example.com"], "step_budget": 3},
                               "webhook_url": "http://127.0.0.1:9/hook"})
    secret = d.call("goal.get", {"id": g["id"], "secrets": True})["webhook_secret"]
    assert secret.startswith("whsec_")
    assert d.call("goal.get", {"id": g["id"]})["webhook_secret"] is None
    fake_llm.add(tool_call("send_email", {"to": ["me@example.com"], "subject": "hi", "body": "hello"}),
                 text("all done"))
    run = d.call("goal.run", {"id": g["id"]})
    d.wait_run(run["id"])
    d.call("daemon.status")
    d.call("provider.check")
    journal = str(d.call("run.steps", {"id": run["id"]})) + str(d.call("run.get", {"id": run["id"]}))
    d.stop()
    logs = d.log()
    assert logs.count("\n") > 5
    for needle in ("sk-test-key-123", "smtp-pa55word-zz9", secret, secret.removeprefix("whsec_")):
        assert needle not in logs, f"a secret reached the logs: {needle[:6]}…"
        assert needle not in journal, f"a secret reached the run's journal: {needle[:6]}…"


def test_delivery_retries_are_counted(make_daemon, fake_llm):
    with WebhookReceiver(statuses=[500]) as failing:
        d = make_daemon(config=f'[tools]\nprivate_hosts_allowed = ["127.0.0.1:{failing.port}"]\n'
                               'delivery_attempts = 3\ndelivery_backoff_s = 0.05\n')
        g = d.call("goal.create", {"objective": "notify", "webhook_url": failing.url})
        fake_llm.add(finish_call("nothing to do"))
        run = d.call("goal.run", {"id": g["id"]})
        assert d.wait_run(run["id"])["status"] == "completed"  # a failed notification never fails the run
        m = d.call("daemon.metrics")["counters"]
        hits = [h.id for h in failing.hooks]
        assert len(hits) == 3 and len(set(hits)) == 1  # three attempts, one webhook-id
        assert m['agentd_delivery_retries_total{kind="webhook"}'] == 2
        assert m['agentd_notifications_total{kind="webhook",outcome="failed"}'] == 1


def test_metric_totals_are_persisted_across_restarts(make_daemon, fake_llm, tmp_path):
    base = tmp_path / "persist"
    base.mkdir()
    d = make_daemon(base=base)
    g = d.call("goal.create", {"objective": "count me"})
    for _ in range(2):
        fake_llm.add(finish_call("done"))
        d.wait_run(d.call("goal.run", {"id": g["id"]})["id"])
    first = d.call("daemon.metrics")
    assert first["counters"]['agentd_runs_total{status="completed"}'] == 2
    assert first["totals"]['agentd_runs_total{status="completed"}'] == 2
    assert d.stop() == 0  # flushes the totals at shutdown
    d.start()
    fake_llm.add(finish_call("done"))
    d.wait_run(d.call("goal.run", {"id": g["id"]})["id"])
    again = d.call("daemon.metrics")
    assert again["counters"]['agentd_runs_total{status="completed"}'] == 1  # since this start
    assert again["totals"]['agentd_runs_total{status="completed"}'] == 3  # over the daemon's life
    prom = d.call("daemon.metrics", {"format": "prometheus"})["text"]
    families = list(text_string_to_metric_families(prom))
    assert sample(families, "agentd_runs_total", status="completed") == 3
