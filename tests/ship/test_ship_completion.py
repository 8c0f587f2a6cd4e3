"""`agentctl completion bash|zsh|fish`: the scripts parse, and bash
completes commands, options, choices and ids from a real daemon."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from daemon_harness import base_env
from ship_helpers import BIN, ctl


def _script(tmp_path, shell, env):
    r = ctl(env, "completion", shell)
    assert r.returncode == 0, r.stderr
    path = tmp_path / f"agentctl.{shell}"
    path.write_text(r.stdout)
    return path


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_script_parses(tmp_path, shell):
    exe = shutil.which(shell)
    if exe is None:
        pytest.skip(f"{shell} is not installed")
    path = _script(tmp_path, shell, base_env(tmp_path, None))
    r = subprocess.run([exe, "-n", str(path)], capture_output=True, text=True)
    assert r.returncode == 0 and r.stderr == "", r.stderr


def _complete(script, env, *words):
    prog = (f'source "{script}"\n'
            f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
            '_agentctl; printf "%s\\n" "${COMPREPLY[@]}"\n')
    r = subprocess.run(["bash", "-c", prog], capture_output=True, text=True, env=env, timeout=30)
    assert r.stderr == "", r.stderr
    return [l for l in r.stdout.splitlines() if l]


def test_bash_completes_commands_options_choices(tmp_path):
    env = dict(base_env(tmp_path, None), PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    s = _script(tmp_path, "bash", env)
    assert "goal" in _complete(s, env, "agentctl", "")
    assert "completion" in _complete(s, env, "agentctl", "")
    assert _complete(s, env, "agentctl", "se") == ["server"]
    assert {"install", "uninstall", "metrics", "start"} <= set(_complete(s, env, "agentctl", "server", ""))
    assert _complete(s, env, "agentctl", "goal", "create", "--catch") == ["--catchup", "--catchup-window"]
    assert _complete(s, env, "agentctl", "goal", "create", "x", "--overlap", "") == ["skip", "queue", "cancel"]
    assert _complete(s, env, "agentctl", "--socket", "/x", "run", "ls", "--format", "m") == ["md"]
    assert _complete(s, env, "agentctl", "completion", "") == ["bash", "zsh", "fish"]
    # no daemon: no ids, and no error
    assert _complete(s, env, "agentctl", "goal", "show", "") == []


def test_bash_completes_goal_and_run_ids(daemon, tmp_path):
    env = dict(daemon.env, PATH=f"{BIN}:{os.environ.get('PATH', '')}")
    s = _script(tmp_path, "bash", env)
    g1 = daemon.call("goal.create", {"objective": "one"})["id"]
    g2 = daemon.call("goal.create", {"objective": "two"})["id"]
    assert set(_complete(s, env, "agentctl", "goal", "show", "")) == {g1, g2}
    unique = g1[:len(os.path.commonprefix([g1, g2])) + 1]  # a prefix of g1 only
    assert _complete(s, env, "agentctl", "goal", "run", unique) == [g1]
    assert set(_complete(s, env, "agentctl", "run", "list", "--goal", "")) == {g1, g2}
    assert set(_complete(s, env, "agentctl", "memory", "add", "")) == {g1, g2}
