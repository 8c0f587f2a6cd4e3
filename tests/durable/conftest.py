"""Fixtures of the durability fault tests: the plan-following fake LLM, loopback
web pages and webhook receivers, an SMTP server, and daemons on the same dirs."""

from __future__ import annotations

import pytest

from durable_helpers import PlanLLM, Smtp, start_web


@pytest.fixture
def plan_llm():
    llm = PlanLLM()
    with llm:
        yield llm
        llm.release_all()


@pytest.fixture
def web():
    w = start_web()
    yield w
    w.close()


@pytest.fixture
def smtp():
    s = Smtp()
    yield s
    s.close()


@pytest.fixture
def durable_daemon(make_daemon, plan_llm, tmp_path):
    """``durable_daemon(config)``: a started daemon talking to ``plan_llm``, on
    fixed directories (so ``d.start()`` after ``d.kill()`` is a restart on the same files)."""

    def factory(config: str, args=None):
        return make_daemon(config=config, llm=plan_llm, args=args, base=tmp_path / "d")

    return factory
