"""agentctl's commands against the fake server: the params every command
sends are checked against the real Params structs, the output and the exit
statuses against the documented ones."""

from __future__ import annotations

import json
import os
import sys

import msgspec
import pytest
from cli_support import run_ctl
from fakeserver import NOW, Fail, goal, run

from agentctl import cli, parser
from agentctl.__main__ import main
from agentd.protocol import methods as m


def step(n: int, **kw):
    fields = dict(run_id="r_0123456789", step_no=n, turn=n, status="ok", created_at=NOW,
                  tool_name="fetch_page", tool_input={"url": f"https://example.org/{n}"},
                  observation=f"page {n}", duration_ms=1200.0)
    fields.update(kw)
    return m.Step(**fields)


def full_handlers():
    g = goal(schedules=[m.Schedule(id="s_1", cron="0 16 * * 5", timezone="Europe/Berlin", active=True,
                                   created_at=NOW, next_fire="2026-11-27T15:00:00.000Z")],
             last_run=run(), recent_ticks=[m.Tick(due_at=NOW, decision="fired", run_id="r_0123456789")])
    r = run(outputs=[m.Output(id="o1", run_id="r_0123456789", kind="file", path_or_payload="news.md",
                              created_at=NOW)],
            summary="# News\n\n- one", started_at=NOW, ended_at="2026-11-21T16:01:03.000Z")
    mem = m.Memory(id="m_1", goal_id=g.id, type="note", content="remember this", created_at=NOW)
    deleted = lambda p: m.Deleted(id=p.id)  # noqa: E731
    return {
        "goal.create": lambda p: goal(objective=p.objective, name=p.name, params=p.params),
        "goal.list": lambda p: m.GoalListResult(goals=[g], total=1),
        "goal.get": lambda p: g,
        "goal.update": lambda p: g,
        "goal.delete": deleted,
        "goal.pause": lambda p: goal(status="paused"),
        "goal.resume": lambda p: g,
        "goal.run": lambda p: run(status="pending"),
        "goal.next": lambda p: m.GoalNextResult(goal_id=g.id, times=[m.FireTime(
            schedule_id="s_1", cron="0 16 * * 5", timezone="Europe/Berlin", at="2026-11-27T15:00:00.000Z",
            local="2026-11-27T16:00:00+01:00", system_local="2026-11-27T15:00:00+00:00")] * p.count),
        "run.list": lambda p: m.RunListResult(runs=[r, run("r_2", status="failed", error="boom")], total=2),
        "run.get": lambda p: r,
        "run.steps": lambda p: m.RunStepsResult(run_id=r.id, steps=[step(1), step(2, error="HTTP 404")],
                                                run_status="completed"),
        "run.cancel": lambda p: run(status="cancelled"),
        "run.delete": deleted,
        "memory.list": lambda p: m.MemoryListResult(memories=[mem]),
        "memory.add": lambda p: mem,
        "memory.delete": deleted,
        "tool.list": lambda p: m.ToolListResult(tools=[m.ToolInfo(
            name="fetch_page", description="Fetch a page", parameters={}, timeout_s=30.0)]),
        "provider.check": lambda p: m.ProviderStatus(provider="openai", model="gpt-4o-mini", ok=True, state="ok"),
        "daemon.status": lambda p: m.DaemonStatus(
            version="0.1.0", pid=os.getpid(), started_at=NOW, uptime_s=5.0,
            paths=m.Paths(socket="s", db="d", config="c", data_dir="dd", artifacts_dir="a", state_dir="st"),
            goals={"active": 1}, runs={"completed": 1}),
        "daemon.reload": lambda p: m.ReloadResult(config="c", log_level=getattr(p, "log_level", None) or "info"),
    }


@pytest.fixture
def full(fake):
    fake.handlers = full_handlers()
    return fake


def ctl(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


COMMANDS = [
    ["goal", "create", "Collect AI news", "--name", "news", "--schedule", "0 16 * * 5", "--timezone",
     "Europe/Berlin", "--webhook", "https://example.org/h", "--step-budget", "30", "--tools", "web_search,fetch_page",
     "--allow-domain", "example.org", "--constraint", "be brief", "--email", "me@example.org", "--token-budget",
     "5000", "--time-limit", "600", "--catchup", "all", "--catchup-window", "3600", "--overlap", "queue",
     "--paused", "--max-concurrent", "2"],
    ["goal", "create", "minimal"],
    ["goal", "list"], ["goal", "list", "--status", "paused", "--limit", "3"], ["goal", "ls", "--format", "md"],
    ["goal", "show", "g_0"], ["goal", "show", "g_0", "--secrets"],
    ["goal", "edit", "g_0", "--objective", "new", "--schedule", "0 9 * * *", "--no-webhook", "--tools", "default",
     "--no-time-limit", "--no-constraints", "--catchup", "none"],
    ["goal", "edit", "g_0", "--timezone", "Asia/Tokyo"],
    ["goal", "edit", "g_0", "--no-schedule", "--email", "a@b.c"],
    ["goal", "delete", "g_0", "--yes"], ["goal", "pause", "g_0"], ["goal", "resume", "g_0"],
    ["goal", "run", "g_0"], ["goal", "next", "g_0", "-n", "3"],
    ["run", "list"], ["run", "list", "--goal", "g_0", "--status", "failed", "--limit", "5", "--format", "md"],
    ["run", "show", "r_0"], ["run", "show", "r_0", "--format", "md"], ["run", "logs", "r_0"],
    ["run", "logs", "r_0", "-f"], ["run", "cancel", "r_0", "--reason", "enough"], ["run", "delete", "r_0"],
    ["memory", "list", "g_0", "--type", "fact", "--query", "x"], ["memory", "add", "g_0", "note", "--type", "fact"],
    ["memory", "delete", "m_1"], ["tool", "list"], ["provider", "check"], ["server", "status"],
    ["server", "reload", "--log-level", "debug"],
]


@pytest.mark.parametrize("argv", COMMANDS, ids=lambda a: " ".join(a[:3]))
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_every_command_sends_valid_params(full, capsys, argv, as_json):
    argv = argv + (["--json"] if as_json else [])
    code, out, err = ctl(capsys, *argv)
    assert code == 0, err
    assert full.requests, "no request sent"
    for method, params in full.requests:
        msgspec.convert(params, m.METHODS[method].params)  # the fake checked it too
    if as_json and "-f" in argv:
        assert [json.loads(line)["step_no"] for line in out.splitlines()] == [1, 2]  # one Step per line
    elif as_json:
        json.loads(out)


def test_create_sends_what_the_options_say(full, capsys):
    code, out, _ = ctl(capsys, *COMMANDS[0])
    assert code == 0
    method, params = full.requests[0]
    assert method == "goal.create"
    assert params == {
        "objective": "Collect AI news", "name": "news",
        "schedules": [{"cron": "0 16 * * 5", "timezone": "Europe/Berlin"}],
        "webhook_url": "https://example.org/h",
        "params": {"step_budget": 30, "allowed_tools": ["web_search", "fetch_page"], "constraints": ["be brief"],
                   "allowed_domains": ["example.org"], "email_to": ["me@example.org"], "token_budget": 5000,
                   "time_limit_s": 600.0, "max_concurrent": 2},
        "catchup": "all", "catchup_window_s": 3600, "overlap": "queue", "paused": True,
    }
    assert out.strip() == "g_0123456789"  # the new id on stdout, the rest on stderr


def test_edit_with_only_a_timezone_moves_the_existing_schedules(full, capsys):
    code, _, _ = ctl(capsys, "goal", "edit", "g_0", "--timezone", "Asia/Tokyo")
    assert code == 0
    assert full.requests[-1] == ("goal.update", {"id": "g_0123456789",
                                                 "schedules": [{"cron": "0 16 * * 5", "timezone": "Asia/Tokyo"}]})


def test_edit_clears_with_no_flags(full, capsys):
    ctl(capsys, "goal", "edit", "g_0", "--no-webhook", "--no-schedule", "--no-token-budget", "--tools", "default")
    assert full.requests[-1] == ("goal.update", {"id": "g_0", "webhook_url": None, "schedules": [],
                                                 "token_budget": None, "allowed_tools": None})


def test_json_output_is_the_result_as_msgspec_encodes_it(full, capsys):
    code, out, _ = ctl(capsys, "--json", "goal", "list")
    assert code == 0
    expected = msgspec.json.encode(full.handlers["goal.list"](m.GoalList()))
    assert out.encode() == expected + b"\n"


def test_json_goes_before_or_after_the_command(full, capsys):
    a = ctl(capsys, "--json", "goal", "show", "g_0")[1]
    b = ctl(capsys, "goal", "show", "g_0", "--json")[1]
    assert a == b and json.loads(a)["id"] == "g_0123456789"


def test_quiet_create_prints_only_the_id(full, capsys):
    code, out, err = ctl(capsys, "-q", "goal", "create", "x")
    assert (code, out, err) == (0, "g_0123456789\n", "")


def test_ambiguous_id_prints_candidates_and_exits_1(fake, capsys):
    code, out, err = ctl(capsys, "goal", "show", "g_")
    assert code == 1 and out == ""
    assert "g_0123456789" in err and "g_abcdef" in err and "candidates" in err


def test_not_found_exits_1(fake, capsys):
    code, _, err = ctl(capsys, "goal", "show", "zzz")
    assert code == 1 and "no goal" in err


def test_validation_error_names_the_field(full, capsys):
    def refuse(p):
        raise Fail(-32004, "not a valid cron expression: 'x'", {"kind": "validation_failed", "field": "schedules[0].cron"})

    full.handlers["goal.create"] = refuse
    code, _, err = ctl(capsys, "goal", "create", "o", "--schedule", "x")
    assert code == 1 and "schedules[0].cron" in err


def test_run_logs_lines(full, capsys):
    code, out, _ = ctl(capsys, "run", "logs", "r_0")
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == '#1 fetch_page {"url": "https://example.org/1"} → page 1 (1.2s)'
    assert lines[1].startswith("#2 fetch_page") and "error: HTTP 404" in lines[1]


def test_run_logs_follow_falls_back_to_polling_without_run_watch(full, capsys, monkeypatch):
    """Against a daemon without run.watch (the fake answers "method not found"),
    ``logs -f`` polls run.steps until the run ends."""
    from agentctl.commands import run as run_cmd

    monkeypatch.setattr(run_cmd, "FOLLOW_INTERVAL_S", 0.01)
    calls = []

    def steps(p):
        calls.append(p.after)
        if len(calls) == 1:
            return m.RunStepsResult(run_id="r_0123456789", steps=[step(1), step(2, status="pending")],
                                    run_status="running")
        return m.RunStepsResult(run_id="r_0123456789", steps=[s for s in (step(2), step(3)) if s.step_no > p.after],
                                run_status="completed" if len(calls) > 2 else "running")

    full.handlers["run.steps"] = steps
    code, out, _ = ctl(capsys, "run", "logs", "r_0", "-f")
    assert code == 0
    assert [line.split()[0] for line in out.splitlines()] == ["#1", "#2", "#3"]
    assert calls == [0, 1, 3]
    polls = [p for meth, p in full.requests if meth == "run.steps"]
    assert all(p["id"] == "r_0123456789" for p in polls[1:])  # the full id after the first poll


def test_goal_delete_refuses_without_yes_when_not_interactive(full, capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", open(os.devnull))
    code, _, err = ctl(capsys, "goal", "delete", "g_0")
    assert code == 2 and "--yes" in err
    assert not any(meth == "goal.delete" for meth, _ in full.requests)


def test_server_status_exit_4_when_degraded(full, capsys):
    ok = full.handlers["daemon.status"](None)
    full.handlers["daemon.status"] = lambda p: msgspec.structs.replace(ok, state="degraded", reasons=["provider down"])
    code, out, _ = ctl(capsys, "server", "status")
    assert code == 4 and "provider down" in out
    full.handlers["daemon.status"] = lambda p: msgspec.structs.replace(ok, ready=False)
    assert ctl(capsys, "server", "status", "--json")[0] == 4


def test_provider_check_failure_exits_1(full, capsys):
    full.handlers["provider.check"] = lambda p: m.ProviderStatus(provider="ollama", model="tiny", ok=False,
                                                                 state="incompatible", message="no tool calling")
    code, _, err = ctl(capsys, "provider", "check")
    assert code == 1 and "no tool calling" in err


def test_socket_flag_and_env(fake, capsys, monkeypatch, short_dir):
    monkeypatch.setenv("AGENTD_SOCKET", str(short_dir / "nope.sock"))
    assert ctl(capsys, "goal", "list")[0] == 3
    assert ctl(capsys, "--socket", fake.path, "goal", "list")[0] == 0
    assert ctl(capsys, "goal", "list", "--socket", fake.path)[0] == 0


def test_no_daemon_exits_3_with_the_message(xdg):
    r = run_ctl("goal", "list", "--json")
    sock = os.path.join(xdg["XDG_RUNTIME_DIR"], "agentd", "agentd.sock")
    assert r.returncode == 3 and r.stdout == ""
    assert r.stderr.strip() == (f"agentctl: agentd is not running (no socket at {sock}). Start it with "
                                "`agentctl server start` or `systemctl --user start agentd`.")


@pytest.mark.parametrize("argv", [["goal"], ["goal", "bogus"], ["goal", "list", "--limit", "0"], ["nope"],
                                  ["goal", "create"], ["run", "list", "--status", "weird"],
                                  ["goal", "edit", "g_1"], ["goal", "edit", "g_1", "--webhook", "u", "--no-webhook"],
                                  []])
def test_usage_errors_exit_2(xdg, argv):
    r = run_ctl(*argv)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert r.stdout == ""


def test_version_and_help(xdg):
    r = run_ctl("--version")
    assert r.returncode == 0 and r.stdout.startswith("agentctl ")
    r = run_ctl("--help")
    assert r.returncode == 0
    for text in ("exit status:", "3    agentd is not reachable", "4    agentd is not ready"):
        assert text in r.stdout
    nouns = next(a for a in parser.build_parser()._actions if a.dest == "noun").choices
    for noun in nouns:
        assert noun in r.stdout


def test_exit_codes_are_documented_in_the_module():
    for code in ("0    ok", "1    the operation failed", "2    usage error", "3    agentd is not reachable",
                 "4    agentd answered but is not ready"):
        assert code in cli.__doc__


HEAVY = ["trio", "httpx", "openai", "ollama", "croniter", "prompt_toolkit"]


def test_a_command_imports_nothing_heavy(fake):
    code = (
        "import sys, io\n"
        "from agentctl.__main__ import main\n"
        "sys.stdout = io.StringIO()\n"
        "rc = main(['goal', 'list', '--json'])\n"
        "out = sys.stdout.getvalue(); sys.stdout = sys.__stdout__\n"
        "assert rc == 0 and out.startswith('{'), (rc, out)\n"
        f"heavy = [m for m in {HEAVY!r} + ['msgspec', 'agentd.shared.config', 'platformdirs'] if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "main(['goal', 'show', 'g_a'])\n"
        "main(['server', 'status'])\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    import subprocess

    from cli_support import ctl_env

    r = subprocess.run([sys.executable, "-c", code], env=ctl_env(), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
