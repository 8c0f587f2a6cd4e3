"""Shared fixtures: a fake LLM on loopback and the real daemon on private XDG dirs."""

from __future__ import annotations

import pytest

from agentd.testing.fakellm import FakeLLM
from daemon_harness import Daemon, base_env, write_config


@pytest.fixture
def fake_llm():
    with FakeLLM() as llm:
        yield llm


@pytest.fixture
def make_daemon(tmp_path, fake_llm):
    """Factory: ``make_daemon(config="...", env={...}, start=True)``. Every daemon is stopped at the end."""
    made: list[Daemon] = []

    def factory(config: str | None = None, env: dict | None = None, start: bool = True, args=None,
                llm=fake_llm, base=None) -> Daemon:
        d_base = base or tmp_path / f"d{len(made)}"
        d_base.mkdir(exist_ok=True)
        e = base_env(d_base, llm.base_url if llm is not None else None, **(env or {}))
        if config is not None:
            write_config(e, config)
        d = Daemon(d_base, e, args)
        made.append(d)
        if start:
            d.start()
        return d

    yield factory
    for d in made:
        try:
            d.stop(timeout=15)
        except Exception:
            d.kill()


@pytest.fixture
def daemon(make_daemon):
    return make_daemon()
