"""Catch-up plans, overlap decisions and the on-time test."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _sched_helpers import HOUR, ms
from agentd.shared import cron
from agentd.scheduling.policy import ActiveRun, TickDecision, decide_overlap, on_time, plan_catchup

DAY = 24 * HOUR
NOW = ms("2025-06-15T12:34", "UTC") + 567


def daily_ticks(days: int) -> list[int]:
    return cron.fires_between("0 9 * * *", "UTC", NOW - days * DAY, NOW, 1000)


def test_new_schedule_owes_nothing() -> None:
    assert plan_catchup("* * * * *", "UTC", None, NOW, "all", 10**9) == []


def test_nothing_due_in_the_gap() -> None:
    last = daily_ticks(1)[-1]
    assert plan_catchup("0 9 * * *", "UTC", last, NOW, "latest", 86400) == []
    assert plan_catchup("0 9 * * *", "UTC", NOW, NOW - 5, "latest", 86400) == []


def test_policy_none_records_every_tick_missed() -> None:
    ticks = daily_ticks(5)
    plan = plan_catchup("0 9 * * *", "UTC", NOW - 5 * DAY, NOW, "none", 86400)
    assert [d.due_ms for d in plan] == ticks
    assert {d.decision for d in plan} == {"missed"}
    assert plan[0].reason == "daemon not running at due time; catch-up policy none"


def test_policy_latest_runs_the_latest_and_coalesces_the_rest() -> None:
    ticks = daily_ticks(5)
    plan = plan_catchup("0 9 * * *", "UTC", NOW - 5 * DAY, NOW, "latest", 86400)
    assert [d.due_ms for d in plan] == ticks
    assert [d.decision for d in plan] == ["coalesced"] * 4 + ["caught_up"]
    assert "2025-06-15T09:00:00Z" in plan[0].reason


def test_policy_all_within_window_and_cap() -> None:
    ticks = daily_ticks(10)
    plan = plan_catchup("0 9 * * *", "UTC", NOW - 10 * DAY, NOW, "all", 6 * 86400, max_all=4)
    assert [d.due_ms for d in plan] == ticks
    decisions = [d.decision for d in plan]
    assert decisions == ["missed"] * 6 + ["caught_up"] * 4
    assert "older than the catch-up window" in plan[0].reason
    assert "beyond the cap of 4" in plan[5].reason
    assert all(d.due_ms >= NOW - 6 * DAY for d in plan if d.decision == "caught_up")


def test_policy_all_everything_in_window_runs() -> None:
    plan = plan_catchup("0 9 * * *", "UTC", NOW - 3 * DAY, NOW, "all", 7 * 86400)
    assert [d.decision for d in plan] == ["caught_up"] * 3


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_huge_gap_is_bounded_and_keeps_the_count(policy: str) -> None:
    last = NOW - 5 * 365 * DAY
    plan = plan_catchup("* * * * *", "Europe/Berlin", last, NOW, policy, 3600, max_all=50, max_records=100)
    total = cron.count_between("* * * * *", "Europe/Berlin", last, NOW)
    assert total > 2_600_000
    assert len(plan) == 101
    assert sum(d.ticks for d in plan) == total
    summary = plan[0]
    assert summary.decision == "missed" and summary.ticks == total - 100
    assert f"{total - 100:,} ticks" in summary.reason
    assert summary.due_ms == cron.next_fires("* * * * *", "Europe/Berlin", last, 1)[0]
    dues = [d.due_ms for d in plan]
    assert dues == sorted(set(dues))
    assert dues[1:] == cron.last_fires("* * * * *", "Europe/Berlin", last, NOW, 100)
    expected_last = {"none": "missed", "latest": "caught_up", "all": "caught_up"}[policy]
    assert plan[-1].decision == expected_last
    if policy == "all":
        assert [d.decision for d in plan].count("caught_up") == 50


@settings(derandomize=True, deadline=None, max_examples=60, database=None)
@given(st.sampled_from(["*/5 * * * *", "0 * * * *", "30 2 * * *", "0 9 * * 1-5", "*/20 1-3 * * *"]),
       st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
       st.sampled_from(["none", "latest", "all"]),
       st.integers(1, 20_000), st.integers(0, 200_000), st.integers(0, 60), st.integers(1, 30))
def test_plans_account_for_every_tick(expr: str, tz: str, policy: str, gap_min: int, window_s: int,
                                      max_all: int, max_records: int) -> None:
    last = NOW - gap_min * 60_000
    plan = plan_catchup(expr, tz, last, NOW, policy, window_s, max_all=max_all, max_records=max_records)
    due = cron.fires_between(expr, tz, last, NOW, 100_000)
    assert sum(d.ticks for d in plan) == len(due)
    assert len(plan) <= max(max_records, max_all, 1) + 1
    assert [d.due_ms for d in plan if d.ticks == 1] == due[len(due) - sum(1 for d in plan if d.ticks == 1):]
    caught = [d for d in plan if d.decision == "caught_up"]
    if policy == "none":
        assert not caught
    elif policy == "latest":
        assert len(caught) == (1 if due else 0) and (not due or caught[0].due_ms == due[-1])
    else:
        in_window = [t for t in due if t >= NOW - window_s * 1000]
        assert [d.due_ms for d in caught] == in_window[len(in_window) - min(max_all, len(in_window)):]


def test_tick_decision_is_a_frozen_struct() -> None:
    d = TickDecision(1, "fired", "on time")
    assert d.ticks == 1
    with pytest.raises(AttributeError):
        d.reason = "x"  # type: ignore[misc]


# -- overlap --------------------------------------------------------------------------------

RUNNING = ActiveRun("r1", "running")
PENDING = ActiveRun("r2", "pending")


@pytest.mark.parametrize("policy", ["skip", "queue", "cancel"])
def test_nothing_active_fires(policy: str) -> None:
    assert decide_overlap(policy, []).action == "fire"


def test_skip() -> None:
    assert decide_overlap("skip", [RUNNING]) == ("skip", "overlap: run r1 still running")
    assert decide_overlap("skip", [PENDING]) == ("skip", "overlap: run r2 still pending")


def test_queue_keeps_at_most_one_waiting() -> None:
    action, reason = decide_overlap("queue", [RUNNING])
    assert action == "queue" and "r1 still running" in reason
    action, reason = decide_overlap("queue", [RUNNING, PENDING])
    assert action == "skip" and reason.startswith("overlap: one run already queued")


def test_cancel_previous() -> None:
    action, reason = decide_overlap("cancel", [RUNNING, PENDING])
    assert action == "cancel_previous" and "r1" in reason and "r2" in reason


def test_unknown_policies_are_refused() -> None:
    with pytest.raises(ValueError):
        decide_overlap("sometimes", [RUNNING])  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        plan_catchup("* * * * *", "UTC", 0, 1, "most", 60)  # type: ignore[arg-type]


# -- on time --------------------------------------------------------------------------------

def test_on_time() -> None:
    assert on_time(1_000_000, 1_000_000)
    assert on_time(1_000_000, 1_060_000)
    assert not on_time(1_000_000, 1_060_001)
    assert on_time(1_000_000, 900_000)  # early is not late
    assert not on_time(0, 10 * HOUR, grace_ms=HOUR)  # after a suspend
