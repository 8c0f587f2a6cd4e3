"""The first commands a new user runs, through the real agentctl: what init
suggests, `server install --now` without systemd, a goal's label cut at a word."""

from __future__ import annotations

import json
import re
import os
import subprocess
import sys

from daemon_harness import base_env

FAKE_SYSTEMCTL = """#!/bin/sh
case "$*" in
  *is-system-running*) echo running ;;
esac
exit 0
"""


def ctl(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "agentctl", *args], env=env, capture_output=True, text=True,
                          timeout=60, stdin=subprocess.DEVNULL)


def test_install_now_without_a_user_manager_fails_and_says_why(tmp_path):
    env = base_env(tmp_path, None)  # a private XDG_RUNTIME_DIR: no systemd user manager there
    r = ctl(env, "server", "install", "--now")
    assert r.returncode == 1, r
    assert "agentd was not started: no systemd user manager is running" in r.stderr
    assert "`agentctl server start`" in r.stderr
    unit = os.path.join(env["XDG_CONFIG_HOME"], "systemd", "user", "agentd.service")
    assert os.path.isfile(unit)  # the units are written all the same
    r = ctl(env, "--json", "server", "install", "--now")
    assert r.returncode == 1 and json.loads(r.stdout)["started"] is False
    r = ctl(env, "server", "install")  # not asked to start: writing is all it does, and that is fine
    assert r.returncode == 0, r.stderr


def test_init_suggests_what_works_here(tmp_path):
    env = base_env(tmp_path, None)
    r = ctl(env, "init", "--provider", "ollama", "--model", "llama3.1")
    assert r.returncode == 0, r.stderr
    assert "Next: `agentctl server start`" in r.stderr and "systemctl" not in r.stderr
    fake = tmp_path / "systemctl"
    fake.write_text(FAKE_SYSTEMCTL)
    fake.chmod(0o755)
    r = ctl(dict(env, AGENTCTL_SYSTEMCTL=str(fake)), "init", "--provider", "ollama", "--model", "llama3.1", "--force")
    assert r.returncode == 0, r.stderr
    assert "`agentctl server install --now`" in r.stderr and "enable --now agentd" not in r.stderr


def test_a_long_objective_is_cut_at_a_word(daemon):
    objective = ("Collect the week's top AI news, summarise it by category (research, products, policy) "
                 "and save it as summaries/week.md")
    r = ctl(daemon.env, "goal", "create", objective)
    assert r.returncode == 0, r.stderr
    assert "(Collect the week's top AI news, summarise it by category…)" in r.stderr, r.stderr


def test_schedule_times_in_the_goals_zone_and_the_users(daemon):
    env = dict(daemon.env, TZ="America/New_York")  # the user is elsewhere than the goal
    r = ctl(env, "goal", "create", "weekly news", "--name", "berlin-news", "--schedule", "0 16 * * 5",
            "--timezone", "Europe/Berlin")
    assert r.returncode == 0, r.stderr
    assert re.search(r"next \d{4}-\d\d-\d\d 16:00 Europe/Berlin \(local: (\d{4}-\d\d-\d\d )?1[01]:00 E[SD]T\)",
                     r.stderr), r.stderr
    r = ctl(env, "goal", "next", "berlin-news", "-n", "2")
    assert r.returncode == 0, r.stderr
    rows = r.stdout.splitlines()[1:]
    assert len(rows) == 2 and all(re.search(r"16:00 Europe/Berlin\s+\S+ 1[01]:00 E[SD]T", row) for row in rows), r.stdout
    r = ctl(env, "--json", "goal", "next", "berlin-news", "-n", "1")
    assert re.search(r'"at":"\d{4}-\d\d-\d\dT15:00:00\.000Z"', r.stdout) or \
        re.search(r'"at":"\d{4}-\d\d-\d\dT14:00:00\.000Z"', r.stdout), r.stdout  # ISO UTC (CET or CEST)
    r = ctl(env, "goal", "show", "berlin-news")
    assert re.search(r"next \d{4}-\d\d-\d\d 16:00 Europe/Berlin \(local:", r.stdout), r.stdout
