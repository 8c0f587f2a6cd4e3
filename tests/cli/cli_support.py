"""Helpers the agentctl tests import (a module with a unique name: with no
__init__.py in tests/, ``from conftest import ...`` would find whichever
conftest was imported first)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def ctl_env(extra: dict | None = None) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.update(extra or {})
    return env


def run_ctl(*args: str, env: dict | None = None, input: str | None = None,
            timeout: float = 30) -> subprocess.CompletedProcess:
    """``python -m agentctl ARGS`` in a subprocess (stdin not a terminal)."""
    return subprocess.run([sys.executable, "-m", "agentctl", *args], env=ctl_env(env), input=input,
                          capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
