"""The daemon's parts, wired together: store, events, run manager, scheduler,
provider state, tools. Handlers reach everything through this object; a
run's loop gets the few parts it needs (``agent.loop.LoopParts``). Nothing
here is global. ``journal`` (agentd.journal) is how a run records anything.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import trio

from . import __version__, log
from .budgets import Money
from .shared.config import Config
from .protocol.errors import ProviderUnavailable, StoreUnavailable
from .events import EventHub
from .journal import Journal
from .protocol import methods as m
from .protocol.events import Event
from .redact import Redactor
from .store import Store
from .store import goals as goals_q
from .store import runs as runs_q
from .timeutil import iso

_log = log.get("agentd")


class App:
    def __init__(self, config: Config, store: Store, *, clock: Callable[[], int] | None = None) -> None:
        self.config = config
        self.store = store
        # Every secret agentd holds, hidden from the foreign text runs record;
        # goals' webhook secrets are added as goals are loaded and created.
        self.redactor = Redactor.from_config(config, os.environ)
        self._clock = clock or (lambda: time.time_ns() // 1_000_000)
        self.started_at = self.now()
        self.started_mono = time.monotonic()
        self.pid = os.getpid()
        self.events = EventHub(store)
        self.journal = Journal(store, self.events, self.redactor, self.now)
        self.runs: Any = None  # RunManager, set by the daemon
        self.scheduler: Any = None  # Scheduler, set by the daemon
        self.approvals: Any = None  # approvals.service.Approvals, set by the daemon
        self.alerts: Any = None  # notify.alerts.Alerts, set by the daemon
        self.provider: Any = None  # providers.base.Provider
        self.provider_status: m.ProviderStatus | None = None
        self.provider_ready = trio.Event()
        self.provider_pinged = 0.0  # monotonic time of the last reachability check (providers.lifecycle)
        self.retired_providers: list[Any] = []  # replaced by a reload, still held by runs
        self.reload_lock = trio.Lock()  # daemon.reload: one at a time (agentd.reload)
        self.metrics: Any = None
        self.breakers: Any = None  # breaker.Board
        self.tools: Any = None  # tools.registry.ToolRegistry
        self.mcp: Any = None  # mcp.manager.McpManager (MCP servers as tool sources)
        self.stopping = False
        self.stop_requested = trio.Event()
        self.stop_deadline_s = config.daemon.shutdown_grace_s
        self.stop_reason = ""
        self.lag_ms = 0.0
        self.lag_max_ms = 0.0
        self.money = Money()  # model prices as looked up, holds of the calls in flight (agentd.budgets)

    def now(self) -> int:
        return self._clock()

    # ---------------------------------------------------------------- journal
    async def emit(self, run_id: str, goal_id: str, *events: Event) -> None:
        await self.journal.emit(run_id, goal_id, *events)

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
        if self.approvals is not None:
            self.approvals.forget(run_id)
        if self.metrics is not None:
            self.metrics.run_finished(status, run_id)
        if self.alerts is not None:
            self.alerts.goal_changed(goal_id)

    # ---------------------------------------------------------------- schedules
    def schedules_changed(self) -> None:
        if self.scheduler is not None:
            self.scheduler.wake()
        if self.alerts is not None:  # what a goal owes may have changed with it
            self.alerts.forget()

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
    def goal_health(self, goal_id: str) -> m.GoalHealth | None:
        if self.metrics is None:
            return None
        return self.metrics.goal_health(goal_id)

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

    # ---------------------------------------------------------------- tools
    def tool_names(self) -> set[str]:
        return set(self.tools.names()) if self.tools is not None else set()

    def tool_infos(self) -> list[m.ToolInfo]:
        return self.tools.infos(self.config.tools) if self.tools is not None else []

    # ---------------------------------------------------------------- provider
    async def wait_for_provider(self) -> None:
        """Wait (bounded) until the provider validated; raise its reason otherwise."""
        if self.provider_ready.is_set():
            return
        with trio.move_on_after(self.config.provider.wait_for_provider_s):
            await self.provider_ready.wait()
            return
        st = self.provider_status
        raise ProviderUnavailable(
            f"the provider is not available ({st.message if st else 'not checked'}); waited "
            f"{self.config.provider.wait_for_provider_s:.0f}s")

    # ---------------------------------------------------------------- daemon
    def request_stop(self, *, deadline_s: float | None = None, reason: str = "") -> None:
        if deadline_s is not None:
            self.stop_deadline_s = deadline_s
        self.stop_reason = reason
        self.stop_requested.set()

    def load_config(self) -> Config:
        """The configuration as it is now (file and environment). The daemon
        replaces this with one that also applies its command-line flags."""
        from .shared import config as config_mod

        return config_mod.load(Path(self.config.config_file))

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
        sched_alive = self.scheduler is None or self.scheduler.alive()
        if not sched_alive:
            ready = False
            reasons.append("the scheduler task is not running")
        st = self.provider_status
        if st is not None and not st.ok:
            reasons.append(f"provider {st.provider}/{st.model}: {st.message}")
        state = "stopping" if self.stopping else ("degraded" if reasons else "ok")
        next_ticks = self.scheduler.next_ticks(5) if self.scheduler is not None else []
        return m.DaemonStatus(
            version=__version__, pid=self.pid, started_at=iso(self.started_at),
            uptime_s=round(time.monotonic() - self.started_mono, 3),
            paths=m.Paths(socket=str(cfg.socket_path), db=str(self.store.path), config=cfg.config_file,
                          data_dir=str(self.store.path.parent), artifacts_dir=str(cfg.artifacts_root),
                          state_dir=str(cfg.state_dir)),
            goals=goals, runs=runs, state=state, ready=ready and not self.stopping, reasons=reasons,
            provider=st, queue=self.runs.queue() if self.runs else [],
            running=sorted(self.runs.active) if self.runs else [], next_ticks=next_ticks,
            loop_lag_ms=round(self.lag_ms, 3), loop_lag_max_ms=round(self.lag_max_ms, 3),
            store_writable=self.store.writable, scheduler_alive=sched_alive,
            breakers=self.metrics.breakers() if self.metrics is not None else [], log_level=log.get_level(),
            mcp_servers=self.mcp.states() if self.mcp is not None else [],
        )

    def metrics_result(self, fmt: str) -> m.MetricsResult:
        if self.metrics is None:
            return m.MetricsResult()
        return self.metrics.result(fmt)
