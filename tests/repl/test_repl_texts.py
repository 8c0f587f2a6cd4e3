"""The REPL in a real pseudo-terminal: goal names complete like ids, `help`
lists what the REPL takes, and its hints name commands as the REPL types them."""

from __future__ import annotations

import re

import pexpect

from agentd.testing.fakellm import finish_call, tool_call
from watch_support import WAIT

PROMPT = "agentd>"


def start_shell(spawn_ctl):
    child = spawn_ctl()
    child.expect_exact("Ctrl-D leaves", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    return child


def test_a_goal_name_completes_and_runs_the_command(daemon, spawn_ctl):
    goal = daemon.call("goal.create", {"objective": "collect the news", "name": "ai-news",
                                       "schedules": [{"cron": "0 16 * * 5", "timezone": "Europe/Berlin"}]})
    daemon.call("goal.create", {"objective": "a twin", "name": "twin"})
    daemon.call("goal.create", {"objective": "the other twin", "name": "twin"})
    child = start_shell(spawn_ctl)
    child.send("goal next ai-n")
    for attempt in range(3):  # a daemon slow to answer goal.list (a loaded machine): Tab again, ids refetched
        child.send("\t")
        if child.expect_exact(["ews", pexpect.TIMEOUT], timeout=WAIT / 3) == 0:
            break  # "ai-n" completed to the goal's name
    else:
        raise AssertionError("the goal's name was not completed")
    child.send("\r")
    child.expect_exact("Europe/Berlin", timeout=WAIT)  # goal next ran on the name
    child.expect_exact(PROMPT, timeout=WAIT)
    # A name two goals share is not offered (it names neither): Tab leaves "tw" as it is.
    child.send("goal show tw\t")
    child.send("\r")
    child.expect_exact("no goal has the id or name 'tw'", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    child.send("goal show " + goal["id"][:3] + "\t")
    child.expect_exact(goal["id"][3:], timeout=WAIT)
    child.send("\r")
    child.expect_exact("ai-news", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    child.sendcontrol("d")
    child.expect_exact(pexpect.EOF, timeout=WAIT)


def test_help_lists_repl_commands_and_refuses_the_others(daemon, spawn_ctl):
    child = start_shell(spawn_ctl)
    child.send("help\r")
    child.expect_exact("Commands (agentctl's", timeout=WAIT)
    child.expect_exact("In this shell:", timeout=WAIT)
    commands = child.before
    for word in ("goal", "run", "server", "config"):
        assert re.search(rf"^\s+{word}\s", commands, re.M), commands
    for word in ("shell", "init", "completion"):
        assert not re.search(rf"^\s+{word}\s", commands, re.M), commands
    child.expect_exact("watch RUN", timeout=WAIT)
    child.expect_exact("exit, quit", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    child.send("init --provider ollama\r")
    child.expect_exact("`init` is not a shell command", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    child.send("help goal next\r")  # a command's own options
    child.expect_exact("--count", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    child.sendcontrol("d")
    child.expect_exact(pexpect.EOF, timeout=WAIT)


def test_the_ctrl_c_hint_speaks_repl(daemon, fake_llm, spawn_ctl):
    fake_llm.add(tool_call("recall", {"query": "a"}))
    gate = fake_llm.gate(tool_call("recall", {"query": "b"}))
    fake_llm.add(finish_call("done"))
    goal = daemon.call("goal.create", {"objective": "x", "name": "news"})
    child = start_shell(spawn_ctl)
    child.send("goal run news\r")
    child.expect(r"Watch it with `run watch ([0-9a-f]{12})`", timeout=WAIT)
    rid = child.match.group(1)
    child.expect_exact(PROMPT, timeout=WAIT)
    gate.wait_reached()
    child.send(f"watch {rid}\r")
    child.expect_exact("#1 recall", timeout=WAIT)
    child.sendintr()
    child.expect_exact(f"(`run watch {rid}` to watch again)", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    gate.open()
    assert daemon.wait_run(rid, timeout=WAIT)["goal_id"] == goal["id"]
    child.sendcontrol("d")
    child.expect_exact(pexpect.EOF, timeout=WAIT)
