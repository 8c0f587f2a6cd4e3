"""The REPL driven for real in a pseudo-terminal: completion of a goal id,
history across two sessions, a run event above the prompt, Ctrl-C during
``watch``, the model's answer arriving in ``watch``. Every expect has a timeout; nothing sleeps to wait for readiness."""

from __future__ import annotations

import pexpect

from agentd.testing.fakellm import finish_call, text, tool_call
from watch_support import WAIT

PROMPT = "agentd>"  # the space after it is drawn as a cursor move


def start_shell(spawn_ctl, *args: str):
    child = spawn_ctl(*args)
    child.expect_exact("Ctrl-D leaves", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    return child


def test_completes_a_goal_id_from_the_daemon(daemon, spawn_ctl):
    goal = daemon.call("goal.create", {"objective": "collect the news", "name": "news"})
    child = start_shell(spawn_ctl)
    child.send("goal show " + goal["id"][:4])
    child.send("\t")
    child.expect_exact(goal["id"][4:], timeout=WAIT)  # the rest of the id, inserted by the completion
    child.send("\r")
    child.expect_exact(f"Goal {goal['id']}", timeout=WAIT)
    child.expect_exact("collect the news", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    # Nested completion of an option's choices.
    child.send("goal list --status pa")
    child.send("\t")
    child.expect_exact("used", timeout=WAIT)  # "pa" completed to "paused"
    child.send("\r")
    child.expect_exact("No goals", timeout=WAIT)  # ran: "--status pa" would be a usage error
    child.expect_exact(PROMPT, timeout=WAIT)
    child.sendcontrol("d")
    child.expect_exact(pexpect.EOF, timeout=WAIT)


def test_history_is_kept_across_sessions(daemon, spawn_ctl):
    import os

    first = start_shell(spawn_ctl, "shell")
    first.send("tool list\r")
    first.expect_exact("write_file", timeout=WAIT)
    first.expect_exact(PROMPT, timeout=WAIT)
    first.sendcontrol("d")
    first.expect_exact(pexpect.EOF, timeout=WAIT)
    first.close()
    assert first.exitstatus == 0
    history = os.path.join(daemon.env["XDG_STATE_HOME"], "agentd", "repl_history")
    assert "tool list" in open(history).read()

    second = start_shell(spawn_ctl)
    second.send("\x1b[A")  # Up: the last line of the previous session
    second.expect_exact("tool list", timeout=WAIT)
    second.send("\r")
    second.expect_exact("write_file", timeout=WAIT)
    second.expect_exact(PROMPT, timeout=WAIT)
    second.sendcontrol("d")
    second.expect_exact(pexpect.EOF, timeout=WAIT)


def test_a_run_event_appears_above_the_prompt_while_idle(daemon, fake_llm, spawn_ctl):
    fake_llm.add(finish_call("nothing to do"))
    goal = daemon.call("goal.create", {"objective": "x", "name": "news"})
    child = start_shell(spawn_ctl)
    child.expect_exact("live", timeout=WAIT)  # the toolbar's "events live": the daemon-wide subscription is up
    child.send("goal li")  # a half-typed line stays where it is
    with daemon.client() as c:
        run = c.call("goal.run", {"id": goal["id"]})
    child.expect_exact(f"run {run['id']} of goal 'news' finished: completed", timeout=WAIT)
    child.send("st\r")
    child.expect_exact(goal["id"], timeout=WAIT)  # `goal list` ran: the line survived the event
    child.expect_exact(PROMPT, timeout=WAIT)
    child.sendcontrol("d")


def test_ctrl_c_during_watch_returns_to_the_prompt_and_the_run_goes_on(daemon, fake_llm, spawn_ctl):
    fake_llm.add(tool_call("recall", {"query": "a"}))
    gate = fake_llm.gate(tool_call("recall", {"query": "b"}))
    fake_llm.add(text("done"))
    goal = daemon.call("goal.create", {"objective": "x", "name": "news"})
    run = daemon.call("goal.run", {"id": goal["id"]})
    gate.wait_reached()
    child = start_shell(spawn_ctl)
    child.send(f"watch {run['id']}\r")
    child.expect_exact("#1 recall", timeout=WAIT)
    child.sendintr()
    child.expect_exact("Stopped watching", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    assert daemon.call("run.get", {"id": run["id"]})["status"] == "running"
    gate.open()
    assert daemon.wait_run(run["id"], timeout=WAIT)["status"] == "completed"
    child.send("run show " + run["id"] + "\r")
    # "Status  completed" of `run show` (the run_finished event printed above
    # the prompt says "completed" too).
    child.expect_exact("Status", timeout=WAIT)
    child.expect_exact("completed", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    child.sendcontrol("d")


def test_watch_in_the_shell_shows_the_answer_arriving(daemon, fake_llm, spawn_ctl):
    first = fake_llm.gate(tool_call("recall", {"query": "a"}))
    (rest,) = fake_llm.hold(text("the answer arrives in pieces"), 2)  # held after "the answer"
    goal = daemon.call("goal.create", {"objective": "x", "name": "news"})
    run = daemon.call("goal.run", {"id": goal["id"]})
    first.wait_reached()
    child = start_shell(spawn_ctl)
    child.send(f"watch {run['id']}\r")
    child.expect_exact("turn 1: model thinking", timeout=WAIT)  # began before anyone asked for its text
    first.open()
    child.expect_exact("#1 recall", timeout=WAIT)
    child.expect_exact("│ the answer", timeout=WAIT)
    child.expect(r"turn 2: model answering [^,·]+, ~1 token · 15 tokens", timeout=WAIT)
    rest.open()
    child.expect_exact(f"Run {run['id']} completed: 1 steps, 20 in / 10 out tokens", timeout=WAIT)
    child.expect_exact(PROMPT, timeout=WAIT)
    child.sendcontrol("d")


def test_the_shell_says_when_agentd_goes_away_and_reconnects(daemon, fake_llm, spawn_ctl):
    fake_llm.add(finish_call("ok"))
    goal = daemon.call("goal.create", {"objective": "x", "name": "news"})
    child = start_shell(spawn_ctl)
    child.expect_exact("live", timeout=WAIT)
    daemon.stop()
    child.expect_exact("agentd went away", timeout=WAIT)
    child.expect_exact("reachable", timeout=WAIT)  # the toolbar: "not reachable (reconnecting)"
    daemon.start()
    child.expect_exact("agentd is back", timeout=WAIT)
    child.expect_exact("live", timeout=WAIT)  # the daemon-wide subscription again
    run = daemon.call("goal.run", {"id": goal["id"]})
    child.expect_exact(f"run {run['id']} of goal 'news' finished: completed", timeout=WAIT)
    child.sendcontrol("d")
    child.expect_exact(pexpect.EOF, timeout=WAIT)
