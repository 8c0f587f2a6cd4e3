"""Tick decisions: what to do with ticks missed while the daemon was down, and with a tick that
comes due while an earlier run of the same goal is still active. Pure functions; times are epoch ms.

Every tick ends up as a record saying what was decided and why, so nothing is skipped silently.
After a very long gap the records are bounded: at most ``max_records`` are listed one by one (the
latest ones) and all earlier ticks are folded into ONE ``missed`` record whose ``ticks`` field and
reason carry their count.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Literal, NamedTuple

import msgspec

from ..shared import cron

Decision = Literal["fired", "skipped", "missed", "coalesced", "caught_up", "queued"]
CatchupPolicy = Literal["none", "latest", "all"]
OverlapPolicy = Literal["skip", "queue", "cancel"]

NOT_RUNNING = "daemon not running at due time"


class TickDecision(msgspec.Struct, frozen=True):
    """What was decided for the tick due at ``due_ms``. ``ticks`` > 1 only on a summary record,
    which stands for that many ticks starting at ``due_ms``."""

    due_ms: int
    decision: Decision
    reason: str
    ticks: int = 1


class ActiveRun(msgspec.Struct, frozen=True):
    id: str
    state: Literal["pending", "running", "awaiting_approval"]  # awaiting_approval: parked, in progress


class OverlapDecision(NamedTuple):
    action: Literal["fire", "skip", "queue", "cancel_previous"]
    reason: str


def on_time(due_ms: int, now_ms: int, grace_ms: int = 60_000) -> bool:
    """Whether a tick noticed at ``now_ms`` is on time. A tick more than ``grace_ms`` late (the
    machine was suspended, the clock jumped forward) is a catch-up, subject to the catch-up policy."""
    return now_ms - due_ms <= grace_ms


def plan_catchup(expr: str, tz: str, last_ms: int | None, now_ms: int, policy: CatchupPolicy,
                 window_s: int, max_all: int = 50, max_records: int = 100) -> list[TickDecision]:
    """Decisions for the ticks due in (last_ms, now_ms], oldest first.

    ``last_ms`` is the due time of the schedule's last recorded tick; None means the schedule is new
    and owes nothing (returns []). Policies: ``none`` records every tick ``missed``; ``latest`` runs
    the latest (``caught_up``) and folds the others into it (``coalesced``); ``all`` runs each tick
    due within the last ``window_s`` seconds, at most the latest ``max_all`` of them, and records
    the rest ``missed``. At most ``max(max_records, max_all)`` ticks get records of their own; any
    earlier ones share one ``missed`` summary record (see the module docstring).

    Raises:
        ValidationFailed: the expression or timezone is invalid.
        ValueError: unknown policy.
    """
    if policy not in ("none", "latest", "all"):
        raise ValueError(f"unknown catch-up policy {policy!r}")
    if last_ms is None or now_ms <= last_ms:
        return []
    total = cron.count_between(expr, tz, last_ms, now_ms)
    if total == 0:
        return []
    shown = max(max_records, max_all, 1)
    tail = cron.last_fires(expr, tz, last_ms, now_ms, min(total, shown + 1))
    if total > shown:  # tail[0] is the latest of the summarised ticks
        folded_last, tail = tail[0], tail[1:]
    window_start = now_ms - window_s * 1000
    in_window = [t for t in tail if t >= window_start]
    cutoff = in_window[-max_all:][0] if max_all > 0 and in_window else None  # earliest tick policy all runs
    records = [_decide(policy, due, tail[-1], window_start, cutoff, max_all) for due in tail]
    if total > len(tail):
        records.insert(0, _summary(expr, tz, last_ms, folded_last, total - len(tail), policy, tail, window_start,
                                    max_all))
    return records


def _decide(policy: CatchupPolicy, due: int, latest: int, window_start: int, cutoff: int | None,
            max_all: int) -> TickDecision:
    if policy == "none":
        return TickDecision(due, "missed", f"{NOT_RUNNING}; catch-up policy none")
    if policy == "latest":
        if due == latest:
            return TickDecision(due, "caught_up", "latest missed tick, run late (catch-up policy latest)")
        return TickDecision(due, "coalesced", f"{NOT_RUNNING}; folded into the catch-up run for the tick due "
                                              f"{_iso(latest)} (catch-up policy latest)")
    if due < window_start:
        return TickDecision(due, "missed", f"{NOT_RUNNING}; older than the catch-up window (catch-up policy all)")
    if cutoff is not None and due >= cutoff:
        return TickDecision(due, "caught_up", "missed tick within the catch-up window, run late (catch-up policy all)")
    return TickDecision(due, "missed", f"{NOT_RUNNING}; beyond the cap of {max_all} catch-up runs (catch-up policy all)")


def _summary(expr: str, tz: str, last_ms: int, folded_last: int, count: int, policy: CatchupPolicy,
             tail: list[int], window_start: int, max_all: int) -> TickDecision:
    first = cron.next_fires(expr, tz, last_ms, 1)[0]
    span = f"{count:,} ticks due from {_iso(first)} to {_iso(folded_last)}"
    if policy == "none":
        why = "catch-up policy none"
    elif policy == "latest":
        why = f"folded into the catch-up run for the tick due {_iso(tail[-1])} (catch-up policy latest)"
    else:
        older = cron.count_between(expr, tz, last_ms, min(window_start - 1, folded_last))
        parts = [f"{older:,} older than the catch-up window" if older else "",
                 f"{count - older:,} beyond the cap of {max_all} catch-up runs" if count > older else ""]
        why = ", ".join(filter(None, parts)) + " (catch-up policy all)"
    return TickDecision(first, "missed", f"{NOT_RUNNING}; this record stands for {span}; {why}", ticks=count)


def decide_overlap(policy: OverlapPolicy, active_runs: Sequence[ActiveRun]) -> OverlapDecision:
    """What to do with a tick that is due now, given the goal's pending and running runs.

    skip: fire only if nothing is active. queue: fire if nothing is active, else queue it, but
    keep at most one waiting. cancel: cancel the active runs, then fire. A run parked for
    approval (``awaiting_approval``) is in progress like a running one: not a queued run.

    Raises:
        ValueError: unknown policy.
    """
    if policy not in ("skip", "queue", "cancel"):
        raise ValueError(f"unknown overlap policy {policy!r}")
    if not active_runs:
        return OverlapDecision("fire", "no run active")
    ids = ", ".join(r.id for r in active_runs)
    if policy == "skip":
        run = next((r for r in active_runs if r.state != "pending"), active_runs[0])
        return OverlapDecision("skip", f"overlap: run {run.id} still {_STATE_TEXT.get(run.state, run.state)}")
    if policy == "queue":
        waiting = [r for r in active_runs if r.state == "pending"]
        if waiting:
            return OverlapDecision("skip", f"overlap: one run already queued ({waiting[0].id})")
        state = "waiting for approval" if all(r.state == "awaiting_approval" for r in active_runs) else "running"
        return OverlapDecision("queue", f"overlap: run {ids} still {state}; queued to start when it ends")
    return OverlapDecision("cancel_previous", f"overlap: cancelling run {ids} (overlap policy cancel)")


_STATE_TEXT = {"awaiting_approval": "waiting for approval"}


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
