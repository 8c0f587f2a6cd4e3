"""Fixtures for the agentctl tests that need no daemon: a fake JSON-RPC server
in a thread and a private set of XDG directories (running agentctl in a
subprocess: cli_support.py).

(The ``daemon`` fixture, a real agentd on temporary dirs, is in tests/conftest.py.)
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
if str(ROOT) not in sys.path:  # agentd may not be installed in the venv yet
    sys.path.insert(0, str(ROOT))

from fakeserver import FakeServer  # noqa: E402


@pytest.fixture
def short_dir():
    """A short directory: AF_UNIX paths are limited to 108 bytes."""
    d = tempfile.mkdtemp(prefix="actl-", dir="/tmp")
    yield Path(d)
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def xdg(short_dir, monkeypatch):
    """Private XDG dirs for this test, set in os.environ and returned as a dict."""
    env = {}
    for var in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR"):
        path = short_dir / var.split("_")[1].lower()
        path.mkdir(mode=0o700)
        env[var] = str(path)
        monkeypatch.setenv(var, str(path))
    for var in ("AGENTD_SOCKET", "AGENTD_CONFIG", "NO_COLOR", "COLUMNS", "LLM_PROVIDER", "OPENAI_API_KEY"):
        monkeypatch.delenv(var, raising=False)
    return env


@pytest.fixture
def fake(short_dir, xdg, monkeypatch):
    """A FakeServer at the default socket path of the private XDG dirs."""
    sock = Path(xdg["XDG_RUNTIME_DIR"]) / "agentd" / "agentd.sock"
    sock.parent.mkdir(mode=0o700)
    server = FakeServer(str(sock))
    yield server
    server.close()
