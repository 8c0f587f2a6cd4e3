"""agentd's log lines: human on a terminal (``make run``), JSON under systemd,
when asked and when stderr is a file; a start that fails says so once."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pexpect

from agentd.testing.env import daemon_env

ROOT = Path(__file__).resolve().parent.parent.parent
WAIT = 30


def spawn_agentd(env: dict, *args: str) -> pexpect.spawn:
    """agentd in a real pseudo-terminal, run from the checkout as `make run` does."""
    agentd = str(Path(sys.executable).parent / "agentd")
    return pexpect.spawn(agentd, list(args), env=env, cwd=str(ROOT), encoding="utf-8", timeout=WAIT,
                         dimensions=(40, 200))


def venv_agentctl() -> str:
    rel = os.path.relpath(Path(sys.executable).parent / "agentctl", ROOT)
    return rel if not rel.startswith("..") else str(Path(sys.executable).parent / "agentctl")


def test_on_a_terminal_a_missing_provider_is_one_sentence_naming_the_venv_agentctl(tmp_path):
    env = daemon_env(tmp_path, None, PATH="/usr/bin:/bin")  # the venv is not activated
    child = spawn_agentd(env)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 3
    lines = [line for line in child.before.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("agentd: cannot start: no LLM provider is configured")
    assert f"`{venv_agentctl()} init`" in lines[0] and "LLM_PROVIDER" in lines[0]
    assert "{" not in lines[0] and "stopped" not in lines[0]


def test_on_a_terminal_the_log_lines_are_for_a_person(tmp_path, fake_llm):
    env = daemon_env(tmp_path, fake_llm.base_url)
    child = spawn_agentd(env)
    child.expect(r"\d\d:\d\d:\d\d INFO  agentd ready  socket=\S+  db=\S+  pid=\d+  provider=openai  model=gpt-4o")
    child.kill(signal.SIGTERM)
    child.expect_exact("INFO  agentd stopped")
    child.expect(pexpect.EOF)
    out = child.before
    child.close()
    assert child.exitstatus == 0
    assert '{"ts"' not in out


def test_json_when_asked_and_under_the_journal(tmp_path, fake_llm):
    for extra_env, args, prefix in (({}, ["--log-format", "json"], ""), ({"JOURNAL_STREAM": "8:1234"}, [], "<6>")):
        env = daemon_env(tmp_path / (prefix or "json"), fake_llm.base_url, **extra_env)
        child = spawn_agentd(env, *args)
        child.expect_exact('"msg":"agentd ready"')
        child.kill(signal.SIGTERM)
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        stopped = next(line.strip() for line in child.before.splitlines() if '"agentd stopped"' in line)
        assert stopped.startswith(prefix + "{")
        assert json.loads(stopped[len(prefix):])["level"] == "info"


def test_a_failed_start_logs_one_line_and_no_stopped_line(make_daemon):
    d = make_daemon(llm=None, start=False)  # stderr is a file: JSON
    d.start(expect_ready=False)
    assert d.wait(20) == 3
    records = d.log_records()
    assert [r["msg"] for r in records] == ["cannot start"], records
    assert "no LLM provider" in records[0]["error"] and records[0]["level"] == "error"
    assert "agentd: cannot start" not in d.log()  # not said twice
