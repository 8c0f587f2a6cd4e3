"""Fixtures of the notify tests: the real daemon on a wall clock the test moves."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from agentd.testing.ready import spawn_ready
from daemon_harness import Daemon, base_env, write_config

CLOCKD = Path(__file__).resolve().parent / "clockd.py"


class ClockDaemon(Daemon):
    """The real agentd (tests/notify/clockd.py: agentd.cli.main on a movable
    clock); ``move(seconds)`` moves its wall clock forward."""

    def __init__(self, base: Path, env: dict[str, str]) -> None:
        super().__init__(base, env)
        self.clock_file = Path(env["AGENTD_TEST_CLOCK_FILE"])
        self.clock_file.write_text("0")

    def start(self, timeout: float = 20.0, expect_ready: bool = True) -> "ClockDaemon":
        self.proc, _ = spawn_ready([sys.executable, str(CLOCKD), *self.args], env=self.env, cwd=self.base,
                                   log_path=self.log_path, timeout=timeout, wait=expect_ready)
        return self

    def move(self, seconds: float) -> None:
        offset = int(self.clock_file.read_text() or 0) + round(seconds * 1000)
        tmp = self.clock_file.with_suffix(".tmp")
        tmp.write_text(str(offset))
        tmp.replace(self.clock_file)  # never half-written for the daemon reading it


@pytest.fixture
def clock_daemon(tmp_path, fake_llm):
    """Factory: ``clock_daemon(config="...")`` -> a started ClockDaemon; stopped at the end."""
    made: list[ClockDaemon] = []

    def factory(config: str | None = None) -> ClockDaemon:
        base = tmp_path / f"c{len(made)}"
        base.mkdir()
        env = base_env(base, fake_llm.base_url, AGENTD_TEST_CLOCK_FILE=str(base / "clock-offset-ms"))
        if config is not None:
            write_config(env, config)
        d = ClockDaemon(base, env)
        made.append(d)
        return d.start()

    yield factory
    for d in made:
        try:
            d.stop(timeout=15)
        except Exception:
            d.kill()
