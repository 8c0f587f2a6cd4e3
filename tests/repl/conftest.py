"""Fixtures for the watch suite: the shared daemon fixtures plus a fake LLM
whose script can hold a turn until the test opens a gate (so a run stays
``running`` exactly as long as a test needs, without sleeps)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from watch_support import GatedLLM  # noqa: E402


@pytest.fixture
def fake_llm():
    with GatedLLM() as llm:
        yield llm


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
