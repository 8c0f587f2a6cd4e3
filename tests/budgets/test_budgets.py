"""Money budgets through the real daemon and agentctl, with the scripted model
reporting usage: each call priced from its real usage, budgets per run, per
goal per day and month, and per daemon per day stop a run before the call that
could exceed them (with the figures), and an unknown price fails closed.

Prices in these tests (USD per million tokens): input 0.10, cached input
0.05, output 10.00; answers capped at 1000 tokens (``provider.max_tokens``).
So an input token costs 100 nano-dollars, a cached one 50, an output token
10,000, and the answer side of a call's worst case is $0.01.
"""

from __future__ import annotations

import json
import signal
import threading

import pytest

from agentd.testing.fakellm import finish_call, stall, text, tool_call
from daemon_harness import write_config
from e2e_servers import WebhookReceiver

pytestmark = pytest.mark.timeout(90)

PRICES = '[prices."gpt-4o"]\ninput = 0.10\ncached_input = 0.05\noutput = 10.00\n'


def config(*, max_tokens: int = 1000, budgets: str = "", prices: str = PRICES) -> str:
    return (f"[provider]\nretry_base_delay_s = 0.05\nmax_tokens = {max_tokens}\n\n{prices}\n"
            + (f"[budgets]\n{budgets}\n" if budgets else ""))


def ctl_json(d, *args: str):
    r = d.ctl("--json", *args)
    assert r.returncode == 0, f"agentctl {' '.join(args)} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout)


def run_once(d, fake_llm, goal_id: str, *script) -> dict:
    fake_llm.add(*script)
    rid = ctl_json(d, "goal", "run", goal_id)["id"]
    d.wait_run(rid)
    return ctl_json(d, "run", "show", rid)


def write(path: str = "notes.md", **kw):
    return tool_call("write_file", {"path": path, "content": "three facts"}, **kw)


def test_every_call_is_priced_from_its_real_usage_and_shown(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--name", "notes")
    run = run_once(d, fake_llm, goal["id"],
                   write(tokens_in=1000, cached_in=400, tokens_out=100, reasoning=30),
                   finish_call("done", tokens_in=2000, tokens_out=50))
    fake_llm.assert_complete()
    assert run["status"] == "completed", run
    # 600 x 100 + 400 x 50 + 100 x 10,000 = 1,080,000 and 2000 x 100 + 50 x 10,000 = 700,000 nano-dollars
    calls = run["model_calls"]
    assert [(c["turn"], c["cost_usd"], c["cached_in"], c["reasoning"]) for c in calls] == [
        (1, 0.00108, 400, 30), (2, 0.0007, 0, 0)]
    assert run["usage"] == {"tokens_in": 3000, "tokens_out": 150, "cached_in": 400, "reasoning": 30,
                            "cost_usd": 0.00178}
    steps = d.call("run.steps", {"id": run["id"]})["steps"]
    assert [(s["tool_name"], s["cost_usd"]) for s in steps] == [("write_file", 0.00108), ("finish", 0.0007)]
    # Every request carries the answer cap the worst case was priced with.
    assert [r.get("max_tokens") for r in fake_llm.requests] == [1000, 1000]

    shown = d.ctl("run", "show", run["id"])
    assert shown.returncode == 0, shown.stderr
    assert "Cost" in shown.stdout and "$0.0018" in shown.stdout
    assert "1000 in (400 cached), 100 out (30 reasoning)" not in shown.stdout  # the run total, not one call
    assert "3000 in (400 cached), 150 out (30 reasoning)" in shown.stdout
    assert "Model calls:" in shown.stdout and "$0.0011" in shown.stdout and "$0.0007" in shown.stdout
    watched = d.ctl("run", "watch", run["id"])
    assert watched.returncode == 0, watched.stderr
    assert "$0.0018" in watched.stdout, watched.stdout
    listed = ctl_json(d, "run", "list")["runs"][0]
    assert listed["usage"]["cost_usd"] == 0.00178


def test_the_run_budget_stops_before_the_call_that_could_exceed_it(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost", "0.02")
    assert goal["params"]["max_cost"] == 0.02
    # Call 1 costs 1000 x 100 + 1000 x 10,000 = $0.0101; the next could cost a prompt of at
    # least 1000 tokens and an answer of 1000: over $0.0101, so together over $0.02.
    run = run_once(d, fake_llm, goal["id"], write(tokens_in=1000, tokens_out=1000))
    fake_llm.assert_complete()  # no second call, not even the summary (its worst case does not fit either)
    assert len(fake_llm.requests) == 1
    assert run["budget_exhausted"] is True
    assert run["usage"]["cost_usd"] == 0.0101
    assert run["error"].startswith("the run's budget of $0.0200 could be exceeded by the next model call: "
                                   "$0.0101 spent by this run, and the call could cost up to $0.01"), run["error"]
    assert "answer of at most 1,000 tokens at the price of gpt-4o" in run["error"]
    assert "money budget ran out" in run["summary"]


def test_a_summary_turn_is_made_when_its_own_worst_case_fits(make_daemon, fake_llm):
    d = make_daemon(config=config(max_tokens=4000))
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost", "0.06")
    # Call 1: 1000 x 100 + 2000 x 10,000 = $0.0201. A work turn could cost $0.04 more (4000 tokens
    # of answer): over $0.06. A summary turn is capped at 1024 tokens: about $0.0103, which fits.
    run = run_once(d, fake_llm, goal["id"], write(tokens_in=1000, tokens_out=2000),
                   text("Wrote notes.md; stopped by the budget.", tokens_in=1100, tokens_out=20))
    fake_llm.assert_complete()
    summary_request = fake_llm.requests[1]
    assert summary_request["max_tokens"] == 1024 and not summary_request.get("tools")
    assert run["budget_exhausted"] is True
    assert run["summary"].startswith("Wrote notes.md; stopped by the budget.")
    assert "the run's budget of $0.0600 could be exceeded" in run["error"]
    assert run["usage"]["cost_usd"] == 0.0201 + 0.00031


def test_the_goal_daily_budget_counts_every_run_of_the_day(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--name", "news", "--max-cost-per-day", "0.025",
                    "--max-cost-per-month", "5")
    first = run_once(d, fake_llm, goal["id"], write(tokens_in=1000, tokens_out=500),
                     finish_call("done", tokens_in=1000, tokens_out=500))
    assert first["status"] == "completed" and not first["budget_exhausted"], first
    assert first["usage"]["cost_usd"] == 0.0102
    # The second run may start ($0.0102 + a worst case near $0.0101 fits), makes one call
    # ($0.0051), and stops before the next: $0.0153 + over $0.0101 > $0.025.
    second = run_once(d, fake_llm, goal["id"], write(tokens_in=1000, tokens_out=500))
    fake_llm.assert_complete()
    assert second["budget_exhausted"] is True
    assert second["error"].startswith("the goal's daily budget of $0.0250 could be exceeded by the next model "
                                      "call: $0.0153 spent by this goal today ("), second["error"]
    spend = ctl_json(d, "goal", "show", "news")["spend"]
    assert spend["today_usd"] == 0.0153 and spend["month_usd"] == 0.0153
    assert (spend["per_day_budget_usd"], spend["per_month_budget_usd"], spend["per_run_budget_usd"]) == (
        0.025, 5.0, None)
    listed = d.ctl("goal", "list")
    assert "$0.0153 of $0.0250" in listed.stdout and "$0.0153 of $5.00" in listed.stdout, listed.stdout
    shown = d.ctl("goal", "show", "news")
    assert "$0.0153 of $0.0250 today (UTC); $0.0153 of $5.00 this month" in shown.stdout, shown.stdout

    # Raising the budget lets the goal run again; removing it falls back to the config (none here).
    edited = ctl_json(d, "goal", "edit", "news", "--no-max-cost-per-day")
    assert edited["params"]["max_cost_per_day"] is None and edited["spend"]["per_day_budget_usd"] is None


def test_the_goal_monthly_budget_stops_a_run(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost-per-month", "0.012")
    # Call 1: 5000 x 100 + 100 x 10,000 = $0.0015; the next could cost over 5000 x 100 + $0.01.
    run = run_once(d, fake_llm, goal["id"], write(tokens_in=5000, tokens_out=100))
    assert run["budget_exhausted"] is True
    assert run["error"].startswith("the goal's monthly budget of $0.0120 could be exceeded by the next model "
                                   "call: $0.0015 spent by this goal this month ("), run["error"]


def test_the_daemon_daily_budget_covers_every_goal(make_daemon, fake_llm):
    d = make_daemon(config=config(budgets="daemon_per_day_usd = 0.015"))
    a = ctl_json(d, "goal", "create", "Write notes.md", "--name", "a")
    b = ctl_json(d, "goal", "create", "Write other.md", "--name", "b")
    first = run_once(d, fake_llm, a["id"], finish_call("done", tokens_in=1000, tokens_out=500))
    assert first["status"] == "completed" and first["usage"]["cost_usd"] == 0.0051
    # Goal b's first call could cost about $0.0101: with a's $0.0051, over $0.015. Not made.
    second = run_once(d, fake_llm, b["id"])
    assert len(fake_llm.requests) == 1
    assert second["budget_exhausted"] is True and second["model_calls"] == []
    assert second["status"] == "failed" and second["error"].endswith("; no tool call was made"), second
    assert second["error"].startswith("the daemon's daily budget of $0.0150 could be exceeded by the next model "
                                      "call: $0.0051 spent by all goals today ("), second["error"]
    status = d.call("daemon.status")["spend"]
    assert (status["today_usd"], status["month_usd"], status["per_day_budget_usd"]) == (0.0051, 0.0051, 0.015)
    shown = d.ctl("server", "status")
    assert "$0.0051 of $0.0150 today (UTC)" in shown.stdout, shown.stdout
    metrics = d.call("daemon.metrics", {"format": "prometheus"})["text"]
    assert "agentd_spend_today_usd 0.0051" in metrics
    assert 'agentd_cost_usd_total{model="gpt-4o"} 0.0051' in metrics
    assert "agentd_budget_daily_usd 0.015" in metrics


def test_an_unknown_price_with_a_budget_refuses_to_start_the_run(make_daemon, fake_llm):
    d = make_daemon(config=config(prices=""))
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost-per-day", "0.50")
    r = d.ctl("goal", "run", goal["id"])
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "no price is known for the model 'gpt-4o'" in r.stderr
    assert '[prices."gpt-4o"] with input = ... and output = ...' in r.stderr
    assert "the goal's daily budget of $0.50" in r.stderr
    assert fake_llm.requests == [] and ctl_json(d, "run", "list")["runs"] == []
    # Without a budget the run goes ahead; its calls are recorded with an unknown cost.
    plain = ctl_json(d, "goal", "create", "Write notes.md")
    run = run_once(d, fake_llm, plain["id"], finish_call("done"))
    assert run["status"] == "completed" and run["usage"]["cost_usd"] is None
    assert run["model_calls"][0]["cost_usd"] is None
    assert "cost unknown" in d.ctl("run", "show", run["id"]).stdout


def test_a_resumed_run_whose_price_went_away_fails_closed(make_daemon, fake_llm, tmp_path):
    """A run in flight when the daemon was killed, resumed by a daemon whose
    configuration no longer prices the model: it does not call the model again."""
    d = make_daemon(config=config(), base=tmp_path / "d")
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost", "1")
    fake_llm.add(stall(30))
    rid = ctl_json(d, "goal", "run", goal["id"])["id"]
    with d.client(timeout=20) as c:  # wait until the model call is in flight
        c.call("run.watch", {"run_id": rid, "since": 0})
        while not any(n["params"]["event"]["type"] == "model_call_started" for n in c.notifications):
            c.notifications.append(c.read_message())
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    write_config(d.env, config(prices=""))
    d.start()
    run = d.wait_run(rid)
    assert run["status"] == "failed", run
    assert run["error"].startswith("no price is known for the model 'gpt-4o'"), run["error"]
    assert "the run's budget of $1.00" in run["error"]
    assert len(fake_llm.requests) == 1


def test_a_free_model_must_say_so_and_then_costs_nothing(make_daemon, fake_llm, tmp_path):
    bad = make_daemon(config=config(prices='[prices."gpt-4o"]\ninput = 0\n'), start=False, base=tmp_path / "bad")
    bad.start(expect_ready=False)
    assert bad.wait(20) != 0
    assert "prices" in bad.log() and "output" in bad.log(), bad.log()

    d = make_daemon(config=config(prices='[prices."gpt-4o"]\ninput = 0\noutput = 0\n'), base=tmp_path / "ok")
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost", "0.001")
    run = run_once(d, fake_llm, goal["id"], finish_call("done", tokens_in=100000, tokens_out=1000))
    assert run["status"] == "completed" and not run["budget_exhausted"]
    assert run["usage"]["cost_usd"] == 0.0


def test_a_call_without_usage_is_charged_its_worst_case(make_daemon, fake_llm):
    d = make_daemon(config=config())
    goal = ctl_json(d, "goal", "create", "Write notes.md")
    run = run_once(d, fake_llm, goal["id"], finish_call("done", usage=False))
    call = run["model_calls"][0]
    assert call["estimated"] is True and call["tokens_in"] == 0
    assert call["cost_usd"] > 0.01  # the 1000-token answer cap alone is $0.01
    assert "(est.)" in d.ctl("run", "show", run["id"]).stdout


def test_openai_reasoning_models_get_max_completion_tokens(make_daemon, fake_llm):
    d = make_daemon(config=config(prices='[prices."o3-mini"]\ninput = 1.1\noutput = 4.4\n'),
                    env={"OPENAI_MODEL": "o3-mini", "LLM_CHECK_ON_START": "false"})
    goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost", "1")
    run = run_once(d, fake_llm, goal["id"], finish_call("done", tokens_in=1000, tokens_out=1000, reasoning=800))
    assert run["status"] == "completed", run
    request = fake_llm.requests[0]
    assert request["max_completion_tokens"] == 1000 and "max_tokens" not in request
    # 1000 x 1.1 + 1000 x 4.4 (reasoning is part of the completion) per million
    assert run["usage"]["cost_usd"] == 0.0055 and run["usage"]["reasoning"] == 800


class HeldReceiver(WebhookReceiver):
    """A webhook receiver that holds each POST until released (bounded)."""

    def __init__(self) -> None:
        super().__init__()
        self.arrived = threading.Event()
        self.released = threading.Event()

    def handle(self, req):
        self.arrived.set()
        self.released.wait(30)
        return super().handle(req)


def test_a_run_killed_after_its_budget_summary_ends_with_the_budget_reason(make_daemon, fake_llm, tmp_path):
    """Killed while its completion webhook is in flight (the summary a money
    budget asked for is journaled, the run not yet finished): the resumed run
    ends budget_exhausted with the budget's reason, not as something else."""
    with HeldReceiver() as hook:
        cfg = config(max_tokens=4000) + (f'\n[tools]\nprivate_hosts_allowed = ["127.0.0.1:{hook.port}"]\n'
                                         "delivery_attempts = 1\n")
        d = make_daemon(config=cfg, base=tmp_path / "d")
        goal = ctl_json(d, "goal", "create", "Write notes.md", "--max-cost", "0.06", "--webhook", hook.url)
        fake_llm.add(write(tokens_in=1000, tokens_out=2000), text("Stopped by the budget.", tokens_out=20))
        rid = ctl_json(d, "goal", "run", goal["id"])["id"]
        try:
            assert hook.arrived.wait(20), "the completion webhook never came"
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.start()
            run = d.wait_run(rid)
        finally:
            hook.released.set()
    fake_llm.assert_complete()  # no model call after the restart
    assert run["budget_exhausted"] is True, run
    assert run["summary"].startswith("Stopped by the budget.")
    assert "the run's budget of $0.0600 could be exceeded" in run["error"], run["error"]
