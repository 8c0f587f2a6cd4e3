"""The daemon's parts, wired together: what the services share (``Core``:
store, journal, metrics, tools, provider...) and the services that run on it
(run manager, scheduler, approvals, alerts), every one built here, in
``App.__init__``; only the provider comes later (``provider_life.make``:
building it can fail with a configuration error the daemon reports).
Handlers reach everything through this object; the services and a run's loop
get the parts they need (``agent.loop.LoopParts``). Nothing here is global.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import trio

from . import __version__, log
from .agent.executor import make_executor
from .approvals.service import Approvals
from .core import Core
from .notify.alerts import Alerts
from .protocol import methods as m
from .protocol.errors import StoreUnavailable
from .runs import Executor, RunManager
from .scheduler import Scheduler
from .shared.config import Config
from .store import Store
from .store import goals as goals_q
from .store import runs as runs_q
from .timeutil import iso

_log = log.get("agentd")


class App(Core):
    """``load_config``: how ``daemon.reload`` reads the configuration again
    (default: file and environment; the CLI's re-applies its flags).
    ``executor``: how a claimed run is run (default: the agent loop)."""

    def __init__(self, config: Config, store: Store, *, clock: Callable[[], int] | None = None,
                 load_config: Callable[[], Config] | None = None, executor: Executor | None = None) -> None:
        super().__init__(config, store, clock=clock)
        self.load_config = load_config or (lambda: _config_from_file(self.config))
        self.started_at = self.now()
        self.started_mono = time.monotonic()
        self.pid = os.getpid()
        self.reload_lock = trio.Lock()  # daemon.reload: one at a time (agentd.reload)
        self.stopping = False
        self.stop_requested = trio.Event()
        self.stop_deadline_s = config.daemon.shutdown_grace_s
        self.stop_reason = ""
        self.approvals = Approvals(self, lambda run_id, goal_id: self.runs.resume(run_id, goal_id))
        self.approvals.load()
        self.runs = RunManager(self, executor or make_executor(self, self.approvals, self.finish_run),
                               self.approvals, self.run_ended, max_concurrent=config.daemon.max_concurrent_runs)
        self.alerts = Alerts(self)
        self.scheduler = Scheduler(self, self.runs, self.approvals, self.alerts, stopping=lambda: self.stopping)

    # ---------------------------------------------------------------- journal
    async def finish_run(self, run_id: str, goal_id: str, status: str, *, error: str | None = None,
                         summary: str | None = None, budget_exhausted: bool = False) -> bool:
        now = self.now()
        error, summary = self.redactor.redact(error), self.redactor.redact(summary)

        def tx(conn):
            return runs_q.finish_journaled(conn, now, run_id, status, error=error, summary=summary,
                                           budget_exhausted=budget_exhausted)

        def publish(done) -> None:  # right after the commit, in commit (= seq) order
            if done is not None:
                ev, first = done
                self.events.publish(run_id, goal_id, first, now, [ev])

        if await self.store.write(tx, after=publish) is None:
            return False
        self.run_ended(run_id, goal_id, status, error)
        return True

    def run_ended(self, run_id: str, goal_id: str | None, status: str, error: str | None) -> None:
        """Log and count a run's end (after its ``run_finished`` was committed)."""
        _log.info("run finished", run_id=run_id, goal_id=goal_id, status=status, error=error)
        self.approvals.forget(run_id)
        self.metrics.run_finished(status, run_id)
        self.alerts.goal_changed(goal_id)

    # ---------------------------------------------------------------- schedules
    def schedules_changed(self) -> None:
        self.scheduler.wake()
        self.alerts.forget()  # what a goal owes may have changed with it

    def describe_cron(self, expr: str) -> str:
        from .shared.describe import describe

        try:
            return describe(expr)
        except Exception:  # a description is a nicety; never fail a request over it
            return ""

    def next_fire_iso(self, s: m.Schedule) -> str | None:
        """The schedule's next fire time from now; None when it cannot be
        evaluated (a row older than today's validation rules) or never fires."""
        from .shared.cron import next_fires

        try:
            times = next_fires(s.cron, s.timezone, self.now(), 1)
        except Exception:  # a view of the goal must not fail over one bad schedule
            return None
        return iso(times[0]) if times else None

    def next_fires(self, goal: m.Goal, count: int) -> list[m.FireTime]:
        from .shared.cron import next_fires

        out: list[m.FireTime] = []
        now = self.now()
        for s in goal.schedules:
            if not s.active:
                continue
            zone = ZoneInfo(s.timezone)
            for at in next_fires(s.cron, s.timezone, now, count):
                dt = datetime.fromtimestamp(at / 1000, tz=timezone.utc)
                out.append(m.FireTime(schedule_id=s.id, cron=s.cron, timezone=s.timezone, at=iso(at),
                                      local=dt.astimezone(zone).isoformat(timespec="minutes"),
                                      system_local=dt.astimezone().isoformat(timespec="minutes")))
        out.sort(key=lambda f: f.at)
        return out[:count]

    # ---------------------------------------------------------------- goals
    def new_webhook_secret(self) -> str:
        from .tools.webhook import generate_secret

        return generate_secret()

    def remove_goal_artifacts(self, goal_id: str) -> None:
        path = self.config.artifacts_root / goal_id
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)

    def require_store_writable(self) -> None:
        if not self.store.writable:
            raise StoreUnavailable(
                f"the database cannot be written ({self.store.last_write_error}); free disk space or fix "
                f"permissions on {self.store.path}, then retry", path=str(self.store.path))

    # ---------------------------------------------------------------- daemon
    def request_stop(self, *, deadline_s: float | None = None, reason: str = "") -> None:
        if deadline_s is not None:
            self.stop_deadline_s = deadline_s
        self.stop_reason = reason
        self.stop_requested.set()

    def status(self) -> m.DaemonStatus:
        cfg = self.config

        def q(conn):
            return (goals_q.counts_by_status(conn, "goals"), goals_q.counts_by_status(conn, "runs"))

        goals, runs = self.store.read(q)
        reasons: list[str] = []
        ready = True
        if not self.store.writable:
            ready = False
            reasons.append(f"store not writable: {self.store.last_write_error}")
        sched_alive = self.scheduler.alive()
        if not sched_alive:
            ready = False
            reasons.append("the scheduler task is not running")
        st = self.provider_status
        if st is not None and not st.ok:
            reasons.append(f"provider {st.provider}/{st.model}: {st.message}")
        state = "stopping" if self.stopping else ("degraded" if reasons else "ok")
        return m.DaemonStatus(
            version=__version__, pid=self.pid, started_at=iso(self.started_at),
            uptime_s=round(time.monotonic() - self.started_mono, 3),
            paths=m.Paths(socket=str(cfg.socket_path), db=str(self.store.path), config=cfg.config_file,
                          data_dir=str(self.store.path.parent), artifacts_dir=str(cfg.artifacts_root),
                          state_dir=str(cfg.state_dir)),
            goals=goals, runs=runs, state=state, ready=ready and not self.stopping, reasons=reasons,
            provider=st, queue=self.runs.queue(), running=sorted(self.runs.active),
            next_ticks=self.scheduler.next_ticks(5),
            loop_lag_ms=round(self.metrics.lag_ms, 3), loop_lag_max_ms=round(self.metrics.lag_max_ms, 3),
            store_writable=self.store.writable, scheduler_alive=sched_alive,
            breakers=self.metrics.breakers(), log_level=log.get_level(), mcp_servers=self.mcp.states(),
        )


def _config_from_file(config: Config) -> Config:
    """The configuration as it is now (file and environment)."""
    from .shared import config as config_mod

    return config_mod.load(Path(config.config_file))
