"""The seeds' two examples, end to end: the real agentd, the real agentctl, a
scripted model on loopback, and local web / webhook / SMTP servers.

docs/examples/ai-news-monitor.md and docs/examples/daily-summary.md describe
exactly what these tests run.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from agentd.testing.fakellm import tool_call, tool_calls

from e2e_helpers import config_text, create_goal, ctl_json, events_of, secret_of, start_run, steps_of, system_prompt, \
    tool_messages
from e2e_servers import INJECTION, REPO_STATS

RECIPIENT = "me@example.com"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "examples"


def docs_python_block(name: str, containing: str) -> str:
    text = (DOCS / name).read_text()
    blocks = [b.split("```", 1)[0] for b in text.split("```python\n")[1:]]
    return next(b for b in blocks if containing in b)


def artifacts_dir(d, goal_id: str) -> Path:
    return Path(d.env["XDG_DATA_HOME"]) / "agentd" / "artifacts" / goal_id


def iso_week(today: dt.date | None = None) -> str:
    y, w, _ = (today or dt.datetime.now(dt.timezone.utc).date()).isocalendar()
    return f"{y}-W{w:02d}"


NEWS_SUMMARY = """# AI news, week {week}

## Research
- New open model tops reasoning benchmarks ({research})
- Diffusion models for weather (AI Weekly feed)

## Product
- Assistant app adds agents
- Chip maker unveils AI accelerator (AI Weekly feed)

## Policy
- EU AI Act obligations start for general-purpose models ({policy})
- Senate hearing on AI safety (AI Weekly feed)
"""


def test_ai_news_monitor(make_daemon, fake_llm, web, receiver, smtp):
    d = make_daemon(config=config_text(web, smtp))
    goal = create_goal(
        d, f"Every Friday at 4pm UTC, collect top AI news (search, and the feed {web.url('/feed.xml')}), "
           "summarize by categories (research, product, policy), and email me",
        "--name", "AI news monitor", "--schedule", "0 16 * * 5", "--timezone", "UTC",
        "--webhook", receiver.url, "--email", RECIPIENT,
        "--tools", "web_search,fetch_page,read_feed,write_file,send_email",
    )
    gid = goal["id"]
    assert goal["schedules"][0]["cron"] == "0 16 * * 5" and goal["schedules"][0]["next_fire"]
    receiver.secret = secret_of(d, gid)  # the receiver verifies every signature as it arrives

    week = iso_week()
    research, policy = web.url("/news/research-model"), web.url("/news/policy-act")
    summary = NEWS_SUMMARY.format(week=week, research=research, policy=policy)
    fake_llm.add(
        tool_call("web_search", {"query": "AI news this week", "limit": 10}),
        tool_calls(("fetch_page", {"url": research}), ("fetch_page", {"url": policy})),
        tool_call("read_feed", {"url": web.url("/feed.xml"), "limit": 10}),
        tool_call("write_file", {"path": f"summaries/{week}.md", "content": summary}),
        tool_call("send_email", {"to": [RECIPIENT], "subject": f"Weekly AI News {week}", "body": summary}),
        tool_call("finish", {"summary": f"Wrote summaries/{week}.md and emailed it to {RECIPIENT}."}),
    )
    rid = start_run(d, gid)
    assert d.wait_run(rid)["status"] == "completed"

    run = ctl_json(d, "run", "show", rid)
    assert run["status"] == "completed" and run["error"] is None, run
    assert run["budget_exhausted"] is False
    assert run["summary"] == f"Wrote summaries/{week}.md and emailed it to {RECIPIENT}."

    # The file, under data dir/artifacts/<goal id>/.
    path = artifacts_dir(d, gid) / "summaries" / f"{week}.md"
    assert path.read_text() == summary
    for heading in ("## Research", "## Product", "## Policy"):
        assert heading in path.read_text()

    # Outputs: the file, the email, the run's summary.
    outputs = {(o["kind"], o["path_or_payload"]) for o in run["outputs"]}
    assert ("file", f"summaries/{week}.md") in outputs
    emails = [json.loads(p) for k, p in outputs if k == "email"]
    assert emails == [{"to": [RECIPIENT], "subject": f"Weekly AI News {week}"}]
    summary_rel = next(p for k, p in outputs if k == "summary")
    assert summary_rel == f"runs/{rid}/summary.md"
    assert "Wrote summaries/" in (artifacts_dir(d, gid) / summary_rel).read_text()

    # Steps in order, each with its observation.
    steps = steps_of(d, rid)
    assert [s["tool_name"] for s in steps] == ["web_search", "fetch_page", "fetch_page", "read_feed", "write_file",
                                               "send_email", "finish"]
    assert all(s["status"] == "ok" and s["error"] is None and s["observation"] for s in steps), steps
    assert [s["step_no"] for s in steps] == list(range(1, 8))
    assert research in steps[0]["observation"] and "https://ads.example" not in steps[0]["observation"]
    page = steps[1]["observation"]
    assert page.count("<untrusted_content") == 1 and page.rstrip().endswith("</untrusted_content>")
    assert "Researchers released an open-weights language model" in page
    for junk in ("SCRIPT-SECRET-TRACKER", "<script", "STYLE-MARKER", "IFRAME-AD", "NAV-BOILERPLATE", "FOOTER-BOILERPLATE"):
        assert junk not in page, junk
    assert INJECTION in page  # kept as data, inside the untrusted block
    assert page.index(INJECTION) > page.index("<untrusted_content")
    assert "Senate hearing on AI safety" in steps[3]["observation"]
    assert steps[5]["observation"].startswith(f"Email sent to {RECIPIENT}")

    # agentctl run logs shows the same steps, in order.
    logs = d.ctl("run", "logs", rid)
    assert logs.returncode == 0, logs.stderr
    positions = [logs.stdout.find(name) for name in ("web_search", "fetch_page", "read_feed", "write_file",
                                                     "send_email", "finish")]
    assert -1 not in positions and positions == sorted(positions), logs.stdout

    # The model saw the system prompt and every tool result.
    reqs = fake_llm.requests
    assert len(reqs) == 6
    fake_llm.assert_complete()
    sp = system_prompt(reqs[0])
    assert "summarize by categories" in sp and "untrusted_content" in sp and RECIPIENT in sp
    assert {t["function"]["name"] for t in reqs[0]["tools"]} == {"web_search", "fetch_page", "read_feed",
                                                                 "write_file", "send_email", "finish"}
    assert research in tool_messages(reqs[1])[-1]["content"]
    seen = tool_messages(reqs[2])
    assert len(seen) == 3
    assert "open-weights" in seen[1]["content"] and "training data summaries" in seen[2]["content"]
    assert seen[1]["tool_call_id"] != seen[2]["tool_call_id"]
    assert all("<untrusted_content" in m["content"] and "SCRIPT-SECRET" not in m["content"] for m in seen[1:])
    assert "Chip maker unveils AI accelerator" in tool_messages(reqs[3])[-1]["content"]
    assert tool_messages(reqs[5])[-1]["content"].startswith("Email sent")

    # The pretend web saw the search and the fetches.
    assert web.searches() == ["AI news this week"]
    assert sorted(web.fetched()) == ["/feed.xml", "/news/policy-act", "/news/research-model"]

    # The email the agent sent (plus the completion email, since the goal names a recipient).
    mails = smtp.wait_messages(2)
    sent = [m for m in mails if m.subject == f"Weekly AI News {week}"]
    assert len(sent) == 1
    assert sent[0].rcpt_tos == [RECIPIENT] and sent[0].mail_from == "agentd@example.com"
    assert "## Research" in sent[0].body and "## Policy" in sent[0].body and "## Product" in sent[0].body
    completion_mail = [m for m in mails if m is not sent[0]]
    assert len(completion_mail) == 1 and "completed" in completion_mail[0].subject

    # The completion webhook: signed, verified independently, status completed.
    hooks = receiver.wait_hooks(1)
    assert len(hooks) == 1 and hooks[0].valid is True
    body = hooks[0].payload
    assert body["status"] == "completed" and body["type"] == "run.completed"
    assert body["run_id"] == rid and body["goal_id"] == gid
    assert {"kind": "file", "path_or_payload": f"summaries/{week}.md"} in body["outputs"]
    assert body["summary_path"] == f"runs/{rid}/summary.md"
    effects = {e["idempotency_key"].split(":", 1)[1]: e for e in run["side_effects"]}
    assert effects["completion-webhook"]["status"] == "delivered"
    assert effects["completion-webhook"]["source"] == "completion"
    assert effects["completion-email"]["status"] == "delivered"

    # The events tell the same story.
    kinds = [e["type"] for e in events_of(d, rid)]
    assert kinds[0] == "run_started" and kinds[-1] == "run_finished"
    assert kinds.count("tool_returned") == 7 and kinds.count("notification_sent") == 2


def test_daily_metrics(make_daemon, fake_llm, web, receiver):
    d = make_daemon(config=config_text(web))
    goal = create_goal(
        d, "Every day at 9am, check GitHub repo stars/issues for acme/rocket, write metrics to a file, "
           "and POST them to my webhook",
        "--name", "Daily code metrics", "--schedule", "0 9 * * *", "--timezone", "Europe/Berlin",
        "--webhook", receiver.url, "--tools", "web_search,fetch_page,write_file,send_webhook",
        "--allow-domain", "127.0.0.1",  # the API's host (api.github.com in the example)
    )
    gid = goal["id"]
    secret = secret_of(d, gid)
    receiver.secret = secret

    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    api = web.url("/repos/acme/rocket")
    stats = REPO_STATS["acme/rocket"]
    metrics = {"repo": "acme/rocket", "date": today, "stars": stats["stargazers_count"],
               "open_issues": stats["open_issues_count"], "forks": stats["forks_count"]}
    fake_llm.add(
        tool_call("web_search", {"query": "github api fetch repo stats"}),
        tool_call("fetch_page", {"url": api}),
        tool_call("write_file", {"path": f"metrics/{today}.json", "content": json.dumps(metrics, indent=2)}),
        tool_call("send_webhook", {"url": receiver.url, "payload": metrics}),
        tool_call("finish", {"summary": f"acme/rocket: {metrics['stars']} stars, {metrics['open_issues']} open issues."}),
    )
    rid = start_run(d, gid)
    assert d.wait_run(rid)["status"] == "completed"
    fake_llm.assert_complete()

    run = ctl_json(d, "run", "show", rid)
    assert run["status"] == "completed", run

    # The metrics file.
    path = artifacts_dir(d, gid) / "metrics" / f"{today}.json"
    assert json.loads(path.read_text()) == metrics

    # The JSON endpoint's body reached the model as untrusted data.
    steps = steps_of(d, rid)
    assert [s["tool_name"] for s in steps] == ["web_search", "fetch_page", "write_file", "send_webhook", "finish"]
    assert all(s["status"] == "ok" for s in steps), steps
    assert '"stargazers_count": 4242' in steps[1]["observation"]
    assert "<untrusted_content" in tool_messages(fake_llm.requests[2])[-1]["content"]
    assert "4242" in tool_messages(fake_llm.requests[2])[-1]["content"]
    assert "Webhook delivered" in steps[3]["observation"]

    # Two webhooks: the tool's (the metrics) and the completion notification; both verify.
    hooks = receiver.wait_hooks(2)
    assert len(hooks) == 2 and all(h.valid for h in hooks), [(h.valid, h.request.headers) for h in hooks]
    assert hooks[0].payload == metrics
    assert hooks[1].payload["status"] == "completed" and hooks[1].payload["run_id"] == rid
    assert hooks[0].id != hooks[1].id
    # A wrong secret does not verify (the receiver's check is not a rubber stamp).
    from e2e_servers import verify_standard_webhook

    wrong = "whsec_" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
    assert not verify_standard_webhook(wrong, hooks[0].request.headers, hooks[0].request.body)
    assert not verify_standard_webhook(secret, hooks[0].request.headers, hooks[0].request.body + b" ")

    # The verification snippet the docs give users works on the real requests.
    snippet = docs_python_block("ai-news-monitor.md", "def verify(")
    ns: dict = {}
    exec(snippet, ns)
    assert all(ns["verify"](secret, h.request.headers, h.request.body) for h in hooks)
    assert not ns["verify"](wrong, hooks[0].request.headers, hooks[0].request.body)

    outputs = {(o["kind"], o["path_or_payload"]) for o in run["outputs"]}
    assert ("file", f"metrics/{today}.json") in outputs
    assert ("webhook", json.dumps({"url": receiver.url}, separators=(",", ":"))) in outputs
    assert any(k == "summary" for k, _ in outputs)
    by_source = {e["source"]: e for e in run["side_effects"]}
    assert by_source["tool"]["status"] == "delivered" and by_source["tool"]["kind"] == "webhook"
    assert by_source["completion"]["status"] == "delivered"

    # The secret never shows up in the run's record, the events or the log.
    assert secret not in json.dumps(run) and secret not in json.dumps(steps)
    assert secret not in json.dumps(events_of(d, rid)) and secret not in d.log()
