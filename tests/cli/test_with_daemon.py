"""agentctl against the real agentd (the ``daemon`` fixture of tests/conftest.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from agentd.testing.fakellm import text, tool_call

ROOT = str(Path(__file__).resolve().parents[2])


def ctl(daemon, *args, input=None, timeout=30.0, env=None):
    e = dict(daemon.env)
    e["PYTHONPATH"] = ROOT + os.pathsep + e.get("PYTHONPATH", "")
    e.update(env or {})
    return daemon.ctl(*args, input=input, timeout=timeout, env=e)


def ok(r):
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    return r


def test_goal_lifecycle(daemon):
    gid = ok(ctl(daemon, "-q", "goal", "create", "Collect AI news", "--name", "news", "--schedule", "0 16 * * 5",
                 "--timezone", "Europe/Berlin", "--step-budget", "5", "--constraint", "be brief")).stdout.strip()
    assert gid and "\n" not in gid
    listed = json.loads(ok(ctl(daemon, "goal", "list", "--json")).stdout)
    assert [g["id"] for g in listed["goals"]] == [gid] and listed["total"] == 1
    table = ok(ctl(daemon, "goal", "list")).stdout
    assert gid in table and "0 16 * * 5" in table
    shown = json.loads(ok(ctl(daemon, "goal", "show", gid[:6], "--json")).stdout)
    assert shown["id"] == gid and shown["params"]["constraints"] == ["be brief"]
    assert shown["schedules"][0]["timezone"] == "Europe/Berlin"
    ok(ctl(daemon, "goal", "edit", gid, "--timezone", "Asia/Tokyo", "--step-budget", "7"))
    shown = json.loads(ok(ctl(daemon, "goal", "show", gid, "--json")).stdout)
    assert shown["schedules"][0]["timezone"] == "Asia/Tokyo" and shown["params"]["step_budget"] == 7
    nxt = json.loads(ok(ctl(daemon, "goal", "next", gid, "-n", "3", "--json")).stdout)
    assert len(nxt["times"]) == 3
    assert json.loads(ok(ctl(daemon, "goal", "pause", gid, "--json")).stdout)["status"] == "paused"
    assert json.loads(ok(ctl(daemon, "goal", "resume", gid, "--json")).stdout)["status"] == "active"
    r = ctl(daemon, "goal", "delete", gid)
    assert r.returncode == 2 and "--yes" in r.stderr  # stdin is not a terminal
    ok(ctl(daemon, "goal", "delete", gid, "--yes"))
    r = ctl(daemon, "goal", "show", gid)
    assert r.returncode == 1


def test_bad_cron_is_a_validation_error(daemon):
    r = ctl(daemon, "goal", "create", "x", "--schedule", "not a cron")
    assert r.returncode == 1 and r.stderr.startswith("agentctl: error:")


def test_run_and_logs(daemon, fake_llm):
    fake_llm.add(tool_call("remember", {"content": "hello"}), text("All done."))
    gid = ok(ctl(daemon, "-q", "goal", "create", "Say hello")).stdout.strip()
    rid = ok(ctl(daemon, "-q", "goal", "run", gid)).stdout.strip()
    r = ok(ctl(daemon, "run", "logs", rid, "-f", timeout=60))
    assert r.stdout.startswith("#1 ")
    run = json.loads(ok(ctl(daemon, "run", "show", rid, "--json")).stdout)
    assert run["status"] == "completed"
    assert rid in ok(ctl(daemon, "run", "list")).stdout
    assert ok(ctl(daemon, "run", "show", rid, "--format", "md")).stdout.startswith(f"# Run {rid}")


def test_memory_commands(daemon):
    gid = ok(ctl(daemon, "-q", "goal", "create", "Remember things")).stdout.strip()
    mid = ok(ctl(daemon, "-q", "memory", "add", gid, "the sky is blue", "--type", "fact")).stdout.strip()
    mems = json.loads(ok(ctl(daemon, "memory", "list", gid, "--json")).stdout)["memories"]
    assert [m["id"] for m in mems] == [mid]
    ok(ctl(daemon, "memory", "delete", mid))
    assert json.loads(ok(ctl(daemon, "memory", "list", gid, "--json")).stdout)["memories"] == []


def test_tools_and_status(daemon):
    tools = json.loads(ok(ctl(daemon, "tool", "list", "--json")).stdout)["tools"]
    assert "fetch_page" in {t["name"] for t in tools}
    st = json.loads(ok(ctl(daemon, "server", "status", "--json")).stdout)
    assert st["pid"] > 0
    r = ok(ctl(daemon, "server", "status"))
    assert "agentd" in r.stdout


def test_ambiguous_prefix_lists_candidates(daemon):
    seen: dict[str, str] = {}
    for i in range(17):  # hex ids: two share a first digit within 17
        gid = daemon.call("goal.create", {"objective": f"g{i}"})["id"]
        if gid[0] in seen:
            ids = [seen[gid[0]], gid]
            break
        seen[gid[0]] = gid
    common = os.path.commonprefix(ids)
    r = ctl(daemon, "goal", "show", common)
    assert r.returncode == 1
    assert all(i in r.stderr for i in ids), (ids, common, r.stderr)


def test_server_stop_and_start(daemon):
    ok(ctl(daemon, "server", "stop"))
    assert daemon.proc.wait(timeout=20) == 0
    r = ctl(daemon, "server", "status")
    assert r.returncode == 3 and "agentd is not running" in r.stderr
    try:
        r = ok(ctl(daemon, "server", "start", timeout=60))
        st = json.loads(ok(ctl(daemon, "server", "status", "--json")).stdout)
        assert st["pid"] != daemon.proc.pid
        assert "already running" in ok(ctl(daemon, "server", "start")).stderr
    finally:
        ctl(daemon, "server", "stop", timeout=60)
