"""Fixtures for the REPL suite: the shared daemon fixtures (tests/conftest.py)
with the gated fake LLM of tests/watch_support.py, and agentctl in a real
pseudo-terminal (``spawn_ctl``)."""

from __future__ import annotations

import sys

import pytest

from watch_support import fake_llm  # noqa: F401  (a fixture, used by name)


CPR_REQUEST = "\x1b[6n"


def _terminal_class():
    import pexpect

    class Terminal(pexpect.spawn):
        """A pexpect child that answers what a terminal answers: prompt_toolkit
        asks where the cursor is (CPR, ``ESC [6n``) before it draws a prompt,
        and shows the bottom toolbar only once it knows."""

        def expect_exact(self, pattern_list, timeout=-1, searchwindowsize=-1, async_=False, **kw):
            if isinstance(pattern_list, (str, bytes)) or pattern_list in (pexpect.EOF, pexpect.TIMEOUT):
                pattern_list = [pattern_list]
            patterns = list(pattern_list) + [CPR_REQUEST]
            while True:
                i = super().expect_exact(patterns, timeout=timeout, searchwindowsize=searchwindowsize)
                if i < len(pattern_list):
                    return i
                self.send("\x1b[1;1R")

    return Terminal


@pytest.fixture
def spawn_ctl(daemon):
    """``spawn_ctl(*args)``: agentctl in a real pseudo-terminal (pexpect), with
    the daemon's environment, TERM=xterm and a fixed 40x120 window."""
    Terminal = _terminal_class()
    children = []

    def spawn(*args: str, env: dict | None = None):
        e = dict(daemon.env if env is None else env, TERM="xterm", COLUMNS="120", LINES="40")
        e.pop("COLUMNS")  # the pty's size, not the variable, is what a terminal program reads
        e.pop("LINES")
        child = Terminal(sys.executable, ["-m", "agentctl", *args], env=e, cwd=str(daemon.base),
                         dimensions=(40, 120), encoding="utf-8", codec_errors="replace", timeout=20)
        children.append(child)
        return child

    yield spawn
    for child in children:
        if child.isalive():
            child.terminate(force=True)
