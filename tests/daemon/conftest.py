"""Fixtures for the daemon suite: a real agentd shared by a module (starting
one costs ~0.6 s), helpers to read its SQLite file read-only, and a check
that the daemon still answers after each bad input."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from agentd.testing.fakellm import FakeLLM
from daemon_harness import Daemon, base_env, write_config

SHORT_TIMEOUTS = """
[daemon]
partial_line_timeout_s = 0.5
client_idle_timeout_s = 1.0
"""


@pytest.fixture(scope="module")
def module_llm():
    with FakeLLM() as llm:
        yield llm


@pytest.fixture(scope="module")
def shared_daemon(module_llm):
    """One real agentd for the whole module, with short client timeouts."""
    base = Path(tempfile.mkdtemp(prefix="agentd-t-", dir="/tmp"))  # short: AF_UNIX path limit
    env = base_env(base, module_llm.base_url)
    write_config(env, SHORT_TIMEOUTS)
    d = Daemon(base, env)
    d.start()
    yield d
    try:
        d.stop(timeout=15)
    except Exception:
        d.kill()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def alive(shared_daemon):
    """Use in every bad-input test: afterwards the daemon must still answer."""
    yield shared_daemon
    assert shared_daemon.proc.poll() is None, shared_daemon.log()[-3000:]
    st = shared_daemon.call("daemon.status")
    assert st["pid"] == shared_daemon.proc.pid
