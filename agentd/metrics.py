"""Counters and histograms since start, counter totals persisted across
restarts (``metric_totals``, flushed every 30 s and at shutdown), and gauges
read from the store.

Names follow Prometheus conventions (``agentd_runs_total{status="completed"}``);
``result("prometheus")`` renders the text exposition format (version 0.0.4).
Everything is in memory and cheap to bump: a dict increment per event.

Everything here runs on the daemon's trio loop.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Callable
from typing import TYPE_CHECKING

import trio

from . import log
from .protocol import methods as m
from .store import goals as goals_q
from .store import metrics as metrics_q
from .store import runs as runs_q

if TYPE_CHECKING:
    from .breaker import Board
    from .shared.config import Config
    from .store import Store

DURATION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, math.inf)
RPC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1.0, math.inf)
HEALTH_WINDOW = 20
STALE_PERIODS = 3

_log = log.get("agentd.metrics")

HELP = {
    "agentd_runs_total": ("counter", "Runs finished, by status."),
    "agentd_steps_total": ("counter", "Tool steps executed."),
    "agentd_tool_calls_total": ("counter", "Tool executions, by tool and outcome."),
    "agentd_model_calls_total": ("counter", "Model calls, by model."),
    "agentd_tokens_total": ("counter", "Tokens, by model and direction."),
    "agentd_provider_retries_total": ("counter", "Provider call retries, by error class."),
    "agentd_provider_errors_total": ("counter", "Provider calls that failed after retries, by error class."),
    "agentd_notifications_total": ("counter", "Notification deliveries, by kind and outcome."),
    "agentd_delivery_retries_total": ("counter", "Webhook and email delivery retries, by kind."),
    "agentd_ticks_total": ("counter", "Schedule ticks, by decision."),
    "agentd_runs_tainted_total": ("counter", "Runs into which untrusted content came, by the tool that brought it."),
    "agentd_guard_blocked_total": ("counter", "Tool calls the exfiltration guard blocked, by tool."),
    "agentd_rpc_requests_total": ("counter", "RPC requests, by method and outcome."),
    "agentd_run_duration_seconds": ("histogram", "Run duration from claim to end."),
    "agentd_rpc_duration_seconds": ("histogram", "RPC request handling time."),
    "agentd_runs_in_store": ("gauge", "Runs in the store, by status."),
    "agentd_goals_in_store": ("gauge", "Goals in the store, by status."),
    "agentd_goals_stale": ("gauge", "Scheduled goals without a successful run for several periods."),
    "agentd_loop_lag_milliseconds": ("gauge", "Event-loop lag, current."),
    "agentd_breaker_open": ("gauge", "Circuit breakers currently open, by name."),
    "agentd_cost_usd_total": ("counter", "Cost of model calls in US dollars, by model."),
    "agentd_spend_today_usd": ("gauge", "Cost of every model call this UTC day, in US dollars."),
    "agentd_spend_month_usd": ("gauge", "Cost of every model call this UTC month, in US dollars."),
    "agentd_budget_daily_usd": ("gauge", "The daemon-wide daily budget in US dollars (budgets.daemon_per_day_usd)."),
}


class Histogram:
    __slots__ = ("buckets", "counts", "sum", "count")

    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def as_dict(self) -> dict:
        cumulative, out = 0, {}
        for b, c in zip(self.buckets, self.counts):
            cumulative += c
            out["+Inf" if math.isinf(b) else repr(b)] = cumulative
        return {"buckets": out, "sum": self.sum, "count": self.count}


def _key(name: str, labels: dict[str, str]) -> str:
    if not labels:
        return name
    inner = ",".join(f'{k}="{_escape(str(v))}"' for k, v in sorted(labels.items()))
    return f"{name}{{{inner}}}"


def _escape(v: str) -> str:
    return v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class Metrics:
    """``config`` gives the configuration as it is now (a reload replaces it);
    the daemon's lag monitor sets ``lag_ms`` and ``lag_max_ms``."""

    def __init__(self, store: "Store", clock: Callable[[], int], config: Callable[[], "Config"],
                 breakers: "Board") -> None:
        self.store, self.now, self.config, self.board = store, clock, config, breakers
        self.lag_ms = 0.0  # how late the loop's last timer fired
        self.lag_max_ms = 0.0  # the most over about a minute
        self.counters: dict[str, float] = defaultdict(float)
        self.histograms: dict[str, Histogram] = {
            "agentd_run_duration_seconds": Histogram(DURATION_BUCKETS),
            "agentd_rpc_duration_seconds": Histogram(RPC_BUCKETS),
        }
        self._flushed: dict[str, float] = {}
        self._keys: dict[tuple, str] = {}
        self._rpc_hist = self.histograms["agentd_rpc_duration_seconds"]

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        # Hot (several per step): the label string is built once per name and label set.
        k = (name, *labels.items())
        key = self._keys.get(k)
        if key is None:
            key = self._keys[k] = _key(name, labels)
        self.counters[key] += value

    # -- hooks
    def rpc_request(self, method: str, seconds: float, ok: bool) -> None:
        self.inc("agentd_rpc_requests_total", method=method, outcome="ok" if ok else "error")
        self._rpc_hist.observe(seconds)

    def run_finished(self, status: str, run_id: str) -> None:
        self.inc("agentd_runs_total", status=status)
        row = self.store.read(runs_q.run_row, run_id)
        if row["started_at"] and row["ended_at"]:
            self.histograms["agentd_run_duration_seconds"].observe((row["ended_at"] - row["started_at"]) / 1000)

    def tick(self, decision: str) -> None:
        self.inc("agentd_ticks_total", decision=decision)

    def tool_call(self, tool: str, ok: bool) -> None:
        self.inc("agentd_tool_calls_total", tool=tool, outcome="ok" if ok else "error")
        self.inc("agentd_steps_total")

    def run_tainted(self, tool: str) -> None:
        self.inc("agentd_runs_tainted_total", tool=tool)

    def guard_blocked(self, tool: str) -> None:
        self.inc("agentd_guard_blocked_total", tool=tool)

    def model_call(self, model: str, tokens_in: int, tokens_out: int) -> None:
        self.inc("agentd_model_calls_total", model=model)
        self.inc("agentd_tokens_total", tokens_in, model=model, direction="in")
        self.inc("agentd_tokens_total", tokens_out, model=model, direction="out")

    def provider_retry(self, error_class: str) -> None:
        self.inc("agentd_provider_retries_total", error=error_class)

    def provider_error(self, error_class: str) -> None:
        self.inc("agentd_provider_errors_total", error=error_class)

    def delivery_retry(self, kind: str) -> None:
        self.inc("agentd_delivery_retries_total", kind=kind)

    def notification(self, kind: str, ok: bool) -> None:
        self.inc("agentd_notifications_total", kind=kind, outcome="delivered" if ok else "failed")

    # -- health
    def goal_health(self, goal_id: str) -> m.GoalHealth:
        """Success rate over the last HEALTH_WINDOW finished runs, the last
        success, the calls the exfiltration guard blocked in the goal's last
        HEALTH_WINDOW runs, and ``stale``: an active scheduled goal whose schedules were
        due STALE_PERIODS times or more since its last success (or since they
        were created). Read from the store at each call."""
        from .timeutil import iso

        def q(conn):
            return (runs_q.recent_outcomes(conn, goal_id, HEALTH_WINDOW), runs_q.last_success_at(conn, goal_id),
                    goals_q.due_schedules_of(conn, goal_id),
                    runs_q.blocked_calls_of_goal(conn, goal_id, HEALTH_WINDOW))

        now = self.now()
        outcomes, last_ok, scheds, blocked = self.store.read(q)
        rate = (sum(outcomes) / len(outcomes)) if outcomes else None
        stale = bool(scheds) and owed_periods(scheds, last_ok, now, STALE_PERIODS) >= STALE_PERIODS
        return m.GoalHealth(runs_considered=len(outcomes), success_rate=None if rate is None else round(rate, 3),
                            last_success_at=iso(last_ok), stale=stale, blocked_calls=blocked)

    def _scheduled_active_goals(self) -> list[str]:
        return self.store.read(goals_q.scheduled_active_goals)

    def breakers(self) -> list[m.BreakerState]:
        return self.board.snapshot()

    # -- output
    def _gauges(self) -> dict[str, float]:
        out: dict[str, float] = {}
        runs, goals = self.store.read(lambda c: (goals_q.counts_by_status(c, "runs"),
                                                 goals_q.counts_by_status(c, "goals")))
        for status in ("pending", "running", "completed", "failed", "cancelled"):
            out[_key("agentd_runs_in_store", {"status": status})] = runs.get(status, 0)
        for status in ("active", "paused", "archived"):
            out[_key("agentd_goals_in_store", {"status": status})] = goals.get(status, 0)
        out["agentd_loop_lag_milliseconds"] = self.lag_ms
        out["agentd_goals_stale"] = float(sum(1 for gid in self._scheduled_active_goals()
                                               if self.goal_health(gid).stale))
        for b in self.breakers():
            out[_key("agentd_breaker_open", {"name": b.name})] = 1.0 if b.state == "open" else 0.0
        from .budgets import gauges

        out.update(gauges(self.store, self.config(), self.now()))
        return out

    # -- persisted totals
    def _unflushed(self) -> dict[str, float]:
        return {k: v - self._flushed.get(k, 0.0) for k, v in dict(self.counters).items() if v != self._flushed.get(k, 0.0)}

    async def flush(self) -> None:
        """Add the counters' growth since the last flush to ``metric_totals``."""
        deltas = self._unflushed()
        if not deltas:
            return

        await self.store.write(metrics_q.add_totals, deltas)
        for k, d in deltas.items():
            self._flushed[k] = self._flushed.get(k, 0.0) + d

    async def serve_flush(self, interval_s: float = 30.0) -> None:
        """Flush every ``interval_s`` and once more when cancelled (shutdown)."""
        try:
            while True:
                await trio.sleep(interval_s)
                try:
                    await self.flush()
                except Exception as exc:  # the store may be full: keep counting in memory
                    _log.warning("could not persist metric totals", error=str(exc))
        finally:
            with trio.CancelScope(shield=True):
                try:
                    await self.flush()
                except Exception as exc:
                    _log.warning("could not persist metric totals at shutdown", error=str(exc))

    def totals(self) -> dict[str, float]:
        stored = self.store.read(metrics_q.totals)
        for k, d in self._unflushed().items():
            stored[k] = stored.get(k, 0.0) + d
        return stored

    def result(self, fmt: str) -> m.MetricsResult:
        gauges = self._gauges()
        hists = {k: h.as_dict() for k, h in self.histograms.items()}
        totals = self.totals()
        if fmt == "prometheus":
            return m.MetricsResult(text=self.prometheus({**totals, **gauges}))
        return m.MetricsResult(counters={**dict(self.counters), **gauges}, histograms=hists, totals=totals)

    def prometheus(self, counters: dict[str, float]) -> str:
        by_family: dict[str, list[str]] = defaultdict(list)
        for key, value in sorted(counters.items()):
            family = key.split("{", 1)[0]
            by_family[family].append(f"{key} {_num(value)}")
        lines: list[str] = []
        for family in sorted(set(by_family) | set(self.histograms)):
            kind, help_text = HELP.get(family, ("untyped", family))
            lines.append(f"# HELP {family} {help_text}")
            lines.append(f"# TYPE {family} {kind}")
            if family in self.histograms:
                h = self.histograms[family]
                cumulative = 0
                for b, c in zip(h.buckets, h.counts):
                    cumulative += c
                    le = "+Inf" if math.isinf(b) else repr(b)
                    lines.append(f'{family}_bucket{{le="{le}"}} {cumulative}')
                lines.append(f"{family}_sum {_num(h.sum)}")
                lines.append(f"{family}_count {h.count}")
            else:
                lines.extend(by_family[family])
        return "\n".join(lines) + "\n"


def owed_periods(scheds, last_ok: int | None, now: int, limit: int) -> int:
    """How many times the schedules ((cron expression, timezone, created_at)
    each) were due after the last success ``last_ok`` (or after their
    creation) up to ``now``, counting at most ``limit`` per schedule: the
    periods a goal went without success. Goal health's ``stale`` and the
    quiet-goal alerts (agentd.notify.alerts) both count with it."""
    from .shared import cron

    owed = 0
    for expr, zone, created_at in scheds:
        since = max(last_ok or 0, created_at)
        try:
            owed += len(cron.fires_between(expr, zone, since, now, limit))
        except Exception:  # validated on the way in; an old row may not be: it owes nothing
            continue
    return owed


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))
