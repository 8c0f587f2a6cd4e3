"""The interactive ``goal create`` in a pseudo-terminal: a schedule typo is
caught as it is typed (the parser's message, Enter refused), then fixed and
accepted with its plain-English description and next fire times."""

from __future__ import annotations

import pexpect

from watch_support import WAIT


def answer(child, prompt: str, reply: str) -> None:
    """Wait for ``prompt``, then type ``reply`` and Enter."""
    child.expect_exact(prompt, timeout=WAIT)
    child.send(reply + "\r")


def test_goal_create_prompt_catches_a_schedule_typo(daemon, spawn_ctl):
    child = spawn_ctl("goal", "create", "--name", "news")
    answer(child, "Objective:", "collect the week's AI news")
    child.expect_exact("Schedule", timeout=WAIT)
    child.send("0 25 * * *")
    child.expect_exact("hour", timeout=WAIT)  # "'25' is not a valid hour value …", shown while typing
    child.send("\r")  # refused: still on the schedule (else what follows lands in the next question)
    child.sendcontrol("u")  # clear the line, type it right
    child.send("0 16 * * 5")
    # The toolbar: "at 16:00 on Friday — next: …" (prompt_toolkit draws some
    # spaces as cursor moves, so look for single words).
    child.expect_exact("16:00", timeout=WAIT)
    child.expect_exact("Friday", timeout=WAIT)
    child.expect_exact("next:", timeout=WAIT)
    child.send("\r")
    answer(child, "Timezone", "Europe/Pariss")  # a zone typo is caught too
    child.expect_exact("Europe/Paris?", timeout=WAIT)
    child.sendcontrol("u")
    child.send("Europe/Paris\r")
    answer(child, "Webhook", "")
    answer(child, "Email", "me@example.org")
    answer(child, "Step budget", "5")
    answer(child, "toggles", "")  # the default tools
    child.expect_exact("Created goal", timeout=WAIT)
    child.expect_exact(pexpect.EOF, timeout=WAIT)
    child.close()
    assert child.exitstatus == 0
    (goal,) = daemon.call("goal.list", {})["goals"]
    goal = daemon.call("goal.get", {"id": goal["id"]})
    assert goal["name"] == "news" and goal["objective"] == "collect the week's AI news"
    assert [(s["cron"], s["timezone"]) for s in goal["schedules"]] == [("0 16 * * 5", "Europe/Paris")]
    assert goal["params"]["step_budget"] == 5 and goal["params"]["email_to"] == ["me@example.org"]
    assert goal["params"].get("allowed_tools") is None  # the default set


def test_goal_create_without_objective_off_a_terminal_is_a_usage_error(daemon):
    r = daemon.ctl("goal", "create")
    assert r.returncode == 2 and "objective is required" in r.stderr


def test_init_asks_writes_0600_checks_tool_calling_and_offers_the_unit(daemon, spawn_ctl):
    import os
    import stat

    child = spawn_ctl("init")
    answer(child, "Provider", "openai")
    answer(child, "Model", "gpt-4o")
    answer(child, "API", "sk-secret-123")
    child.expect_exact("mode 0600", timeout=WAIT)
    child.expect_exact("can call tools", timeout=WAIT)
    answer(child, "systemd", "n")
    child.expect_exact("server start", timeout=WAIT)
    child.expect_exact(pexpect.EOF, timeout=WAIT)
    child.close()
    assert child.exitstatus == 0
    path = os.path.join(daemon.env["XDG_CONFIG_HOME"], "agentd", "config.toml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    body = open(path).read()
    assert 'name = "openai"' in body and "sk-secret-123" in body and "gpt-4o" in body
    assert "sk-secret-123" not in child.before
