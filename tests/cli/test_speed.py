"""A command costs little more than starting Python (STYLE.md 11): the whole
``agentctl goal list --json`` process within 3x ``python -c pass``."""

from __future__ import annotations

import subprocess
import sys
import time

from cli_support import ctl_env

RUNS = 9


def fastest(argv: list[str], env: dict) -> float:
    best = float("inf")
    for _ in range(RUNS):
        t = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True, timeout=30)
        best = min(best, time.perf_counter() - t)
    return best


def test_goal_list_json_is_within_3x_python_startup(fake, tmp_path):
    env = ctl_env({"PYTHONPYCACHEPREFIX": str(tmp_path / "pyc")})  # as installed: with .pyc files
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    ctl = [sys.executable, "-c",
           "import sys; from agentctl.__main__ import main; sys.exit(main(['goal', 'list', '--json']))"]
    subprocess.run(ctl, env=env, stdout=subprocess.DEVNULL, check=True, timeout=30)  # compile once
    base = fastest([sys.executable, "-c", "pass"], env)
    cmd = fastest(ctl, env)
    assert cmd <= 3 * base, f"agentctl goal list --json: {cmd * 1000:.1f} ms, python -c pass: {base * 1000:.1f} ms"
