"""The injection corpus through the real daemon: a scripted model obeys every
injection, the guard blocks every call that would send the goal's data away,
nothing ever reaches the attacker's canary, and the legitimate goal still
completes (file written, the person's webhook posted, finish).

One daemon, one scripted model and one set of loopback servers serve the
whole corpus (module fixtures); each case is its own goal and run, started
only after the previous one ended, so the script's turns are taken in order.
"""

from __future__ import annotations

import json
import urllib.parse

import pytest

from agentd.testing.fakellm import FakeLLM, finish_call, tool_call
from daemon_harness import Daemon, base_env, write_config
from e2e_servers import Request, SmtpSink, WebhookReceiver, WebServer
from injection_corpus import (B64, CASES, HEX, ME, SECRET, THIEF, Case, World, attacker_redirects,
                              attacker_routes)

pytestmark = pytest.mark.timeout(60)


class Site(WebServer):
    """WebServer with redirects: fixed ones, and an open redirector at ``/out?to=URL``."""

    def __init__(self) -> None:
        super().__init__()
        self.redirects: dict[str, str] = {}

    def handle(self, req: Request):
        path, _, query = req.path.partition("?")
        if path == "/out":
            return 302, {"Location": urllib.parse.parse_qs(query).get("to", ["/"])[0]}, b""
        if path in self.redirects:
            return 302, {"Location": self.redirects[path]}, b""
        return super().handle(req)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    with Site() as news, Site() as attacker, WebhookReceiver() as canary, WebhookReceiver() as receiver, \
            SmtpSink() as smtp, FakeLLM(script=[]) as llm:
        w = World(news=news.base, attacker=attacker.base, canary=canary.base, hook=receiver.url)
        for path, (ctype, body) in attacker_routes(w).items():
            attacker.route(path, body, ctype=ctype)
        attacker.redirects.update(attacker_redirects(w))
        base = tmp_path_factory.mktemp("guard-corpus")
        env = base_env(base, llm.base_url)
        write_config(env, "[tools]\nprivate_hosts_allowed = [\"127.0.0.1\"]\ndelivery_backoff_s = 0.05\n"
                          f'duckduckgo_url = "{news.search_url}"\n\n[runs]\nmax_repeated_mistakes = 5\n\n'
                          + smtp.config())
        d = Daemon(base, env).start()
        try:
            yield d, w, llm, {"news": news, "attacker": attacker, "canary": canary, "receiver": receiver,
                              "smtp": smtp}
        finally:
            d.stop(timeout=15)


def script_for(case: Case, w: World) -> list:
    """What the obeying model answers: read the page, obey, then do the goal."""
    turns = [tool_call("fetch_page", {"url": f"{w.news}/news/{case.name}"})]
    turns += [tool_call(o.tool, o.args) for o in case.obey(w)]
    turns += [tool_call("write_file", {"path": f"news-{case.name}.md", "content": "# AI news\n\n- an open model\n"}),
              tool_call("send_webhook", {"url": w.hook, "payload": {"case": case.name, "news": ["an open model"]}}),
              finish_call("Wrote the news and posted it.")]
    return turns


def metric(d: Daemon, name: str) -> float:
    counters = d.call("daemon.metrics", {})["counters"]
    return sum(v for k, v in counters.items() if k.split("{", 1)[0] == name)


def carries_secret(text: str) -> bool:
    decoded = urllib.parse.unquote_plus(text)
    return any(s in decoded for s in (SECRET, B64, HEX))


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_injection_is_contained_and_goal_completes(world, case):
    d, w, llm, srv = world
    srv["news"].route(f"/news/{case.name}", case.page(w), ctype=case.ctype)
    turns = script_for(case, w)
    llm.add(*turns)
    hooks_before = len(srv["receiver"].hooks)
    seen_before = {name: len(s.requests) for name, s in srv.items() if name != "smtp"}
    blocked_before = metric(d, "agentd_guard_blocked_total")
    goal = d.call("goal.create", {"objective": f"Summarise today's AI news from {w.news}/news/{case.name} into "
                                               f"news-{case.name}.md and post it to my webhook (project {SECRET}).",
                                  "webhook_url": w.hook, "params": {"email_to": [ME], "step_budget": 12}})
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert llm.remaining == 0, f"the model's script was not used up: {llm.remaining} turn(s) left"

    # Nothing reached the attacker's canary; no mail went to the thief; no request anywhere carried the secret
    # except to the person's own webhook.
    assert srv["canary"].requests[seen_before["canary"]:] == []
    assert all(THIEF not in m.rcpt_tos for m in srv["smtp"].messages)
    for name in ("news", "attacker"):
        leaked = [r.path for r in srv[name].requests[seen_before[name]:]
                  if carries_secret(r.path) or carries_secret(r.body.decode())]
        assert leaked == [], f"{name} received the secret: {leaked}"

    # The legitimate goal completed: the file, the person's webhook (the tool call and the completion notice).
    assert run["status"] == "completed", run.get("error")
    posted = [h.payload for h in srv["receiver"].hooks[hooks_before:]]
    assert {"case": case.name, "news": ["an open model"]} in posted
    assert any(p.get("type") == "run.completed" for p in posted)

    # The journal: step 1 tainted the run; each obeyed call that sends data away is marked blocked, and the
    # model was told why in its observation.
    steps = d.call("run.steps", {"id": run["id"]})["steps"]
    obeyed = case.obey(w)
    want_blocked = [2 + i for i, o in enumerate(obeyed) if o.blocked]
    assert steps[0]["guard"] == "tainted"
    assert [s["step_no"] for s in steps if s.get("guard") == "blocked"] == want_blocked
    for s in steps:
        if s["step_no"] in want_blocked:
            assert s["status"] == "error" and "BLOCKED by the exfiltration guard" in s["error"], s
        elif s.get("tool_name"):
            assert s["status"] == "ok", s
    told = [m["content"] for r in llm.requests[-(len(turns) - 1):] for m in r["messages"] if m.get("role") == "tool"]
    assert sum("BLOCKED by the exfiltration guard" in t for t in set(told)) == len(want_blocked)

    # Shown: run.get, metrics, goal health.
    assert (run["tainted_at_step"], run["blocked_calls"]) == (1, len(want_blocked))
    assert metric(d, "agentd_guard_blocked_total") - blocked_before == len(want_blocked)
    assert d.call("goal.get", {"id": goal["id"]})["health"]["blocked_calls"] == len(want_blocked)

    if case.name == "multi-step-link":  # a verbatim link is followed; then the data it asks for is not sent
        assert "/step2" in [r.path for r in srv["attacker"].requests[seen_before["attacker"]:]]
    if case.name == "redirect-verbatim":  # the link was fetched, its redirect to the canary was not followed
        assert "/go" in [r.path for r in srv["attacker"].requests[seen_before["attacker"]:]]
        assert "redirected there" in steps[1]["error"]
    if case.name in ("multi-step-link", "direct-webhook"):
        _check_cli(d, run, goal, len(want_blocked))


def _check_cli(d: Daemon, run: dict, goal: dict, blocked: int) -> None:
    """``run logs``, ``run show`` and ``goal show`` as the person sees them."""
    logs = d.ctl("run", "logs", run["id"])
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.splitlines()
    assert "[untrusted content from here on]" in lines[0] and "fetch_page" in lines[0]
    assert sum("[BLOCKED by the exfiltration guard]" in line for line in lines) == blocked
    show = d.ctl("run", "show", run["id"])
    assert "content from outside entered at step 1" in show.stdout
    assert f"{blocked} call(s) blocked by the exfiltration guard" in show.stdout
    listed = show.stdout.split("Blocked by the exfiltration guard:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(listed) == blocked and all(line.lstrip().startswith("#") for line in listed), show.stdout
    gshow = d.ctl("goal", "show", goal["id"])
    assert f"{blocked} call(s) blocked by the exfiltration guard" in gshow.stdout
    md = json.loads(d.ctl("--json", "run", "show", run["id"]).stdout)
    assert md["blocked_calls"] == blocked


def test_a_run_that_reads_nothing_from_outside_stays_clean(world):
    """Our own tools (memories, files) do not taint: a URL the model composes is
    fetched, and nothing is marked."""
    d, w, llm, srv = world
    srv["news"].route("/composed/42", "<html><body><p>fine</p></body></html>")
    llm.add(tool_call("recall", {"query": "news"}),
            tool_call("write_file", {"path": "notes.md", "content": "notes"}),
            tool_call("read_file", {"path": "notes.md"}),
            tool_call("fetch_page", {"url": f"{w.news}/composed/42"}),
            finish_call("done"))
    goal = d.call("goal.create", {"objective": "Keep notes.", "params": {"step_budget": 8}})
    run = d.wait_run(d.call("goal.run", {"id": goal["id"]})["id"])
    assert run["status"] == "completed", run.get("error")
    steps = d.call("run.steps", {"id": run["id"]})["steps"]
    assert [(s["tool_name"], s["status"], s.get("guard")) for s in steps if s.get("tool_name")] == [
        ("recall", "ok", None), ("write_file", "ok", None), ("read_file", "ok", None),
        ("fetch_page", "ok", "tainted"), ("finish", "ok", None)]
    assert run["tainted_at_step"] == 4 and run["blocked_calls"] == 0
