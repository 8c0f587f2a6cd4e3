"""Fixtures for the watch suite: the shared daemon fixtures (tests/conftest.py)
with the gated fake LLM of tests/watch_support.py in place of the plain one."""

from watch_support import fake_llm  # noqa: F401  (a fixture, used by name)
