"""`agentctl completion bash|zsh|fish`: the scripts parse. What they complete,
in each real shell, is tested in tests/completion."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from daemon_harness import base_env
from ship_helpers import ctl


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
