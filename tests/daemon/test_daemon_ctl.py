"""The real ``agentctl`` against the real daemon: outputs, ``--json`` shapes
and exit codes (0 ok, 1 failed, 2 usage, 3 daemon not reachable)."""

from __future__ import annotations

import json
import re
import socket
import stat
import tomllib

import pytest

from daemon_dbutil import count, counts, integrity_ok

pytestmark = pytest.mark.timeout(90)

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def ok(p, code: int = 0):
    assert p.returncode == code, f"exit {p.returncode}\nstdout: {p.stdout}\nstderr: {p.stderr}"
    return p


def js(p):
    ok(p)
    return json.loads(p.stdout)


def test_goal_commands(alive):
    d = alive
    g = js(d.ctl("goal", "create", "collect the week's AI news", "--schedule", "0 16 * * 5",
                 "--schedule", "30 8 * * 1-5", "--timezone", "Europe/Paris", "--webhook", "https://example.com/h",
                 "--step-budget", "5", "--tools", "web_search,finish", "--allow-domain", "example.com",
                 "--constraint", "be brief", "--json"))
    gid = g["id"]
    assert g == d.call("goal.get", {"id": gid}) | {"health": g["health"]}  # --json is the RPC result
    assert g["params"]["step_budget"] == 5 and g["params"]["allowed_tools"] == ["web_search", "finish"]
    assert g["params"]["allowed_domains"] == ["example.com"] and g["params"]["constraints"] == ["be brief"]
    assert [(s["cron"], s["timezone"]) for s in g["schedules"]] == [("0 16 * * 5", "Europe/Paris"),
                                                                   ("30 8 * * 1-5", "Europe/Paris")]
    assert ISO.match(g["created_at"]) and all(ISO.match(s["next_fire"]) for s in g["schedules"])

    # without --json: the id on stdout, a sentence on stderr
    p = ok(d.ctl("goal", "create", "a second goal"))
    gid2 = p.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", gid2) and "Created goal" in p.stderr

    lst = js(d.ctl("goal", "list", "--json"))
    assert set(lst) == {"goals", "total"} and {gid, gid2} <= {x["id"] for x in lst["goals"]}
    assert js(d.ctl("goal", "list", "--format", "json", "--limit", "1"))["goals"][0]["id"] == gid2  # newest first
    table = ok(d.ctl("goal", "list")).stdout
    assert gid in table and "ID" in table and "\x1b[" not in table
    md = ok(d.ctl("goal", "ls", "--format", "md")).stdout
    assert md.startswith("| ID") and f"| {gid} |" in md

    show = ok(d.ctl("goal", "show", gid[:7])).stdout
    assert gid in show and "collect the week's AI news" in show and "0 16 * * 5" in show
    assert js(d.ctl("goal", "show", gid, "--json"))["id"] == gid
    assert js(d.ctl("goal", "show", gid, "--secrets", "--json"))["webhook_secret"]

    e = js(d.ctl("goal", "edit", gid, "--step-budget", "9", "--no-webhook", "--name", "news", "--json"))
    assert e["params"]["step_budget"] == 9 and e["webhook_url"] is None and e["name"] == "news"
    assert e["params"]["allowed_tools"] == ["web_search", "finish"]  # untouched
    assert js(d.ctl("goal", "pause", gid, "--json"))["status"] == "paused"
    paused = js(d.ctl("goal", "list", "--status", "paused", "--json"))["goals"]
    assert [x["id"] for x in paused] == [gid]
    assert js(d.ctl("goal", "resume", gid, "--json"))["status"] == "active"

    # goal run -> a run that completes; the run commands
    p = ok(d.ctl("goal", "run", gid2))
    rid = p.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{12}", rid) and rid in p.stderr
    assert d.wait_run(rid)["status"] == "completed"
    run = js(d.ctl("run", "show", rid, "--json"))
    assert run["id"] == rid and run["status"] == "completed" and ISO.match(run["ended_at"])
    assert run == d.call("run.get", {"id": rid})
    assert rid in ok(d.ctl("run", "show", rid[:8])).stdout
    runs = js(d.ctl("run", "list", "--goal", gid2[:8], "--json"))
    assert set(runs) == {"runs", "total"} and [r["id"] for r in runs["runs"]] == [rid]
    assert rid in [r["id"] for r in js(d.ctl("run", "list", "--status", "completed", "--json"))["runs"]]
    assert rid in ok(d.ctl("run", "list")).stdout
    assert js(d.ctl("run", "list", "--goal", gid, "--json")) == {"runs": [], "total": 0}
    logs = js(d.ctl("run", "logs", rid, "--json"))
    assert logs["run_id"] == rid and logs["run_status"] == "completed" and logs["steps"]
    assert ok(d.ctl("run", "logs", rid)).stdout.strip()
    follow = d.ctl("run", "logs", "-f", rid)  # an ended run: prints and exits 0
    assert follow.returncode == 0 and "completed" in follow.stderr
    # a second run to delete
    rid2 = ok(d.ctl("goal", "run", gid2, "-q")).stdout.strip()
    d.wait_run(rid2)
    assert js(d.ctl("run", "delete", rid2, "--json")) == {"id": rid2, "deleted": True, "runs_cancelled": 0}
    assert ok(d.ctl("run", "show", rid2), 1).stderr.startswith("agentctl: ")

    # delete: refused without --yes off a terminal (usage), then done
    before = count(d.db, "goals")
    p = d.ctl("goal", "delete", gid2, input="")
    assert p.returncode == 2 and "--yes" in p.stderr
    assert count(d.db, "goals") == before
    assert js(d.ctl("goal", "delete", gid2, "-y", "--json")) == {"id": gid2, "deleted": True, "runs_cancelled": 0}
    p = ok(d.ctl("goal", "rm", gid, "--yes"))
    assert "Deleted goal" in p.stderr
    assert count(d.db, "goals") == before - 2
    assert count(d.db, "runs", "WHERE goal_id IN (?, ?)", (gid, gid2)) == 0


@pytest.mark.parametrize("args, needle", [
    (["--schedule", "not a cron"], "schedule"),
    (["--schedule", "0 9 * * *", "--timezone", "Mars/Olympus"], "Mars/Olympus"),
    (["--webhook", "ftp://example.com/x"], "webhook"),
    (["--tools", "web_search,launch_missiles"], "launch_missiles"),
    (["--email", "not-an-email"], "not-an-email"),
    (["--allow-domain", "bad domain!"], "domain"),
])
def test_invalid_create_fails_with_reason_and_writes_nothing(alive, args, needle):
    before = counts(alive.db)
    p = alive.ctl("goal", "create", "x", *args)
    assert p.returncode == 1, p
    assert p.stdout == ""
    assert p.stderr.startswith("agentctl: error: ") and needle in p.stderr
    assert counts(alive.db) == before
    assert integrity_ok(alive.db)


@pytest.mark.parametrize("args", [
    ["goal", "create"],  # no objective
    ["goal", "list", "--limit", "x"],
    ["goal", "list", "--limit", "0"],
    ["goal", "list", "--status", "sleeping"],
    ["goal", "frobnicate"],
    ["run", "list", "--format", "xml"],
    ["goal", "create", "x", "--timezone", "UTC"],  # a timezone without a schedule
    ["goal", "edit", "0123"],  # nothing to change
    ["nonsense"],
    [],
])
def test_usage_errors_exit_2(alive, args):
    p = alive.ctl(*args)
    assert p.returncode == 2, p
    assert p.stdout == "" and p.stderr


def test_unknown_and_ambiguous_prefix_exit_1(alive):
    ids = set()
    shared = None
    while shared is None:
        gid = alive.call("goal.create", {"objective": "p"})["id"]
        shared = next((i for i in ids if i[0] == gid[0]), None)
        ids.add(gid)
    prefix = gid[0]
    p = alive.ctl("goal", "show", prefix)
    assert p.returncode == 1 and p.stdout == ""
    assert "candidates" in p.stderr and gid in p.stderr and shared in p.stderr
    taken = {g["id"][:2] for g in alive.call("goal.list", {"limit": 1000})["goals"]}
    free = next(a + b for a in "0123456789abcdef" for b in "0123456789abcdef" if a + b not in taken)
    p = alive.ctl("goal", "show", free)
    assert p.returncode == 1 and "agentctl: error:" in p.stderr and free in p.stderr
    p = alive.ctl("goal", "run", "not-hex")
    assert p.returncode == 1 and "no goal has the id or name 'not-hex'" in p.stderr


def test_daemon_not_reachable_exit_3(alive, tmp_path):
    missing = str(tmp_path / "nope.sock")
    for args in (["goal", "list"], ["server", "status"], ["run", "list", "--json"]):
        p = alive.ctl("--socket", missing, *args)
        assert p.returncode == 3, p
        assert "agentctl server start" in p.stderr and "not running" in p.stderr
        assert p.stdout == ""
    p = alive.ctl("goal", "list", env=dict(alive.env, AGENTD_SOCKET=missing))
    assert p.returncode == 3 and missing in p.stderr
    # a socket file with nobody listening (a dead daemon's) is "not running" too
    dead = tmp_path / "dead.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(dead))
    s.close()
    p = alive.ctl("--socket", str(dead), "goal", "list")
    assert p.returncode == 3 and "agentctl server start" in p.stderr


def test_server_status(alive):
    st = js(alive.ctl("server", "status", "--json"))
    assert st["pid"] == alive.proc.pid and st["paths"]["socket"] == str(alive.socket)
    assert set(st["goals"]) <= {"active", "paused", "archived"} and isinstance(st["runs"], dict)
    text = ok(alive.ctl("server", "status")).stdout
    assert str(alive.proc.pid) in text


def test_config_and_init(alive, tmp_path):
    env = dict(alive.env, XDG_CONFIG_HOME=str(tmp_path / "cfg"))
    path = tmp_path / "cfg" / "agentd" / "config.toml"
    assert ok(alive.ctl("config", "path", env=env)).stdout.strip() == str(path)
    info = js(alive.ctl("config", "path", "--json", env=env))
    assert info["config"] == str(path) and info["exists"] is False and info["socket"] == str(alive.socket)

    init = js(alive.ctl("init", "--provider", "openai", "--model", "gpt-4o-mini", "--json", env=env))
    assert init == {"file": str(path), "provider": "openai", "model": "gpt-4o-mini"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["provider"] == {"name": "openai", "model": "gpt-4o-mini"}
    again = alive.ctl("init", "--provider", "openai", env=env)
    assert again.returncode == 1 and "--force" in again.stderr
    assert ok(alive.ctl("init", "--provider", "ollama", "--force", env=env))
    assert alive.ctl("init", env=dict(env, XDG_CONFIG_HOME=str(tmp_path / "c2"))).returncode == 2

    s = js(alive.ctl("config", "set", "daemon.client_idle_timeout_s", "2.5", "--json", env=env))
    assert s == {"file": str(path), "key": "daemon.client_idle_timeout_s", "value": 2.5}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert tomllib.loads(path.read_text())["daemon"]["client_idle_timeout_s"] == 2.5
    shown = js(alive.ctl("config", "show", "--json", env=env))
    assert shown["file"] == str(path) and shown["exists"] is True
    assert shown["values"]["daemon"]["client_idle_timeout_s"] == 2.5
    assert shown["sources"]["daemon.client_idle_timeout_s"] == "file"
    assert shown["values"]["provider"]["name"] == "openai"  # the environment beats the file
    assert shown["sources"]["provider.name"] == "env LLM_PROVIDER"
    no_env = {k: v for k, v in env.items() if k != "LLM_PROVIDER"}
    assert js(alive.ctl("config", "show", "--json", env=no_env))["values"]["provider"]["name"] == "ollama"
    assert "client_idle_timeout_s" in ok(alive.ctl("config", "show", env=env)).stdout
    # a secret is redacted unless asked for
    ok(alive.ctl("config", "set", "openai.api_key", "sk-very-secret-1", env=env))
    no_key = {k: v for k, v in env.items() if k != "OPENAI_API_KEY"}
    assert "sk-very-secret-1" not in ok(alive.ctl("config", "show", "--json", env=no_key)).stdout
    assert "sk-very-secret-1" in ok(alive.ctl("config", "show", "--json", "--secrets", env=no_key)).stdout
    # bad keys and values are refused and the file is left alone
    text = path.read_text()
    for args in (["nosuch.key", "1"], ["daemon.max_connections", "many"], ["daemon", "1"]):
        p = alive.ctl("config", "set", *args, env=env)
        assert p.returncode == 2 and p.stderr.startswith("agentctl: error: "), p
    assert path.read_text() == text


def test_server_stop(make_daemon):
    d = make_daemon()
    pid = d.proc.pid
    assert js(d.ctl("server", "stop", "--json")) == {"stopped": True, "pid": pid}
    assert d.wait(10) == 0
    assert not d.socket.exists()
    p = d.ctl("server", "status")
    assert p.returncode == 3 and "agentctl server start" in p.stderr
    assert ok(d.ctl("server", "stop")).returncode == 0  # not running: nothing to do
