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
