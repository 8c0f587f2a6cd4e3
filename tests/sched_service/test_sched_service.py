"""The Scheduler service with the real RunManager and Store, on trio's virtual
clock with an injected wall clock: on-time fires, DST days, catch-up after a
gap, overlap decisions, clock jumps, pause, and many schedules."""

from __future__ import annotations

import pytest
import trio

from agentd.store import ticks as ticks_q
from sched_service_helpers import World, iso_utc, run_virtual, utc_ms

H = 3600


def test_sched_service_due_ticks_fire_on_time_and_wake_on_change(tmp_path):
    async def main():
        async with World(tmp_path, "2026-06-01T10:00:17") as w:
            calls = 0
            fire_due = w.sched._fire_due

            async def counting():
                nonlocal calls
                calls += 1
                await fire_due()

            w.sched._fire_due = counting
            gid, sid = w.goal("*/5 * * * *")
            await trio.sleep(1000)  # 10:16:57: a goal created now wakes the sleeping scheduler
            gid2, sid2 = w.goal("* * * * *")
            await w.sleep_until("2026-06-01T11:00:30")
            ticks = w.ticks(sid)
            assert [iso_utc(t["due_at"]) for t in ticks] == [f"2026-06-01T{h:02d}:{mm:02d}" for h, mm in
                                                               [(10, x) for x in range(5, 60, 5)] + [(11, 0)]]
            assert all(t["decision"] == "fired" and t["reason"] == "on time" for t in ticks)
            assert [t["recorded_at"] - t["due_at"] for t in ticks] == [0] * 12  # lateness 0 on the virtual clock
            runs = w.runs_of(gid)
            assert [r["scheduled_at"] for r in runs] == [t["due_at"] for t in ticks]
            assert {r["status"] for r in runs} == {"completed"} and {r["trigger"] for r in runs} == {"schedule"}
            assert [t["run_id"] for t in ticks] == [r["id"] for r in runs]
            minute = w.ticks(sid2)
            assert iso_utc(minute[0]["due_at"]) == "2026-06-01T10:17" and len(minute) == 44
            assert all(t["recorded_at"] == t["due_at"] for t in minute)
            assert w.sched.lateness_ms and max(w.sched.lateness_ms) == 0
            # No polling loop: one wake per due time, plus the once-a-minute wall-clock check.
            assert calls <= 12 + 44 + 62, calls

    run_virtual(main)


def test_sched_service_dst_days(tmp_path):
    async def main():
        async with World(tmp_path, "2026-03-28T00:00") as w:
            _, berlin = w.goal("30 2 * * *", "Europe/Berlin")
            await w.sleep_until("2026-03-31T00:00")
            # 02:30 CET, then the spring-forward day: 02:30 does not exist -> once at 03:00 CEST, then 02:30 CEST.
            assert [iso_utc(t["due_at"]) for t in w.ticks(berlin)] == [
                "2026-03-28T01:30", "2026-03-29T01:00", "2026-03-30T00:30"]
            assert {t["decision"] for t in w.ticks(berlin)} == {"fired"}
            assert all(t["recorded_at"] == t["due_at"] for t in w.ticks(berlin))

        (tmp_path / "ny").mkdir()
        async with World(tmp_path / "ny", "2026-10-31T00:00") as w:
            _, ny = w.goal("30 1 * * *", "America/New_York")
            _, ny_hourly = w.goal("0 * * * *", "America/New_York")
            await w.sleep_until("2026-11-03T00:00")
            # 01:30 EDT; on the fall-back day 01:30 happens twice: it runs once, at the first (EDT); then EST.
            assert [iso_utc(t["due_at"]) for t in w.ticks(ny)] == [
                "2026-10-31T05:30", "2026-11-01T05:30", "2026-11-02T06:30"]
            day = [t for t in w.ticks(ny_hourly) if utc_ms("2026-11-01T04:00") <= t["due_at"] < utc_ms("2026-11-02T05:00")]
            assert len(day) == 25  # an hourly job runs every real hour: 25 on the fall-back day
            assert {t["decision"] for t in w.ticks(ny) + w.ticks(ny_hourly)} == {"fired"}
            assert len(w.runs_of(w.store.read(lambda c: c.execute(
                "SELECT goal_id FROM schedules WHERE id = ?", (ny,)).fetchone()[0]))) == 3

    run_virtual(main)


@pytest.mark.parametrize("policy", ["none", "latest", "all"])
def test_sched_service_catch_up_after_a_gap(tmp_path, policy):
    async def main():
        async with World(tmp_path, "2026-06-01T09:30") as w:
            gid, sid = w.goal("0 * * * *", catchup=policy, catchup_window_s=3 * H)
            await w.sleep_until("2026-06-01T10:10")
            await w.stop_scheduler()  # the daemon is down from 10:10 to 15:30
            await w.sleep_until("2026-06-01T15:30")
            await w.start_scheduler()
            await trio.sleep(1)
            got = [(iso_utc(t["due_at"])[11:], t["decision"]) for t in w.ticks(sid)]
            expected = {
                "none": ["missed"] * 5,
                "latest": ["coalesced"] * 4 + ["caught_up"],
                "all": ["missed", "missed", "caught_up", "caught_up", "caught_up"],
            }[policy]
            assert got == [("10:00", "fired")] + list(zip(["11:00", "12:00", "13:00", "14:00", "15:00"], expected))
            runs = w.runs_of(gid)
            caught = [r for r in runs if r["trigger"] == "catchup"]
            assert len(caught) == expected.count("caught_up")
            assert sorted(r["scheduled_at"] for r in caught) == sorted(
                t["due_at"] for t in w.ticks(sid) if t["decision"] == "caught_up")
            assert all(t["reason"] for t in w.ticks(sid))  # every decision says why
            await w.sleep_until("2026-06-01T16:00:01")
            assert w.ticks(sid)[-1]["decision"] == "fired" and len(w.ticks(sid)) == 7
            assert {r["status"] for r in w.runs_of(gid)} == {"completed"}

    run_virtual(main)


@pytest.mark.parametrize("policy", ["skip", "queue", "cancel"])
def test_sched_service_overlap(tmp_path, policy):
    async def main():
        async with World(tmp_path, "2026-06-01T10:00:30", run_seconds=150) as w:
            gid, sid = w.goal("* * * * *", overlap=policy)
            await w.sleep_until("2026-06-01T10:03:10")
            ticks = w.ticks(sid)
            decisions = [(t["decision"], t["reason"].split(" (")[0].split(" run ")[0]) for t in ticks]
            first = ticks[0]["run_id"]
            runs = {r["id"]: r for r in w.runs_of(gid)}
            if policy == "skip":
                assert decisions == [("fired", "on time"), ("skipped", "overlap:"), ("skipped", "overlap:")]
                assert len(runs) == 1 and runs[first]["status"] == "running"
                assert f"run {first} still running" in ticks[1]["reason"]
            elif policy == "queue":
                assert [d for d, _ in decisions] == ["fired", "queued", "skipped"]
                assert "one run already queued" in ticks[2]["reason"]
                queued = ticks[1]["run_id"]
                assert runs[queued]["status"] == "pending" and w.runs.queue() == [queued]
                await w.sleep_until("2026-06-01T10:03:31")  # the first ends at 10:03:30, the queued one starts
                runs = {r["id"]: r for r in w.runs_of(gid)}
                assert runs[first]["status"] == "completed" and runs[queued]["status"] == "running"
                assert runs[queued]["started_at"] >= runs[first]["ended_at"]
            else:
                assert [d for d, _ in decisions] == ["fired", "fired", "fired"]
                assert len(runs) == 3
                a, b, c = (t["run_id"] for t in ticks)
                assert runs[a]["status"] == runs[b]["status"] == "cancelled"
                assert runs[a]["error"] == "cancelled by the next tick of its schedule (2026-06-01T10:02:00.000Z)"
                assert runs[c]["status"] == "running"
                assert f"cancelling run {a}" in ticks[1]["reason"]

    run_virtual(main)


def test_sched_service_clock_jumps_forward_and_back(tmp_path):
    async def main():
        async with World(tmp_path, "2026-06-01T10:05") as w:
            gid, sid = w.goal("*/10 * * * *")
            await w.sleep_until("2026-06-01T10:15")
            assert [t["decision"] for t in w.ticks(sid)] == ["fired"]
            w.wall.jump(2 * H)  # 12:15: noticed within a minute, handled by the catch-up policy (latest)
            await trio.sleep(61)
            ticks = w.ticks(sid)
            assert len(ticks) == 13 and [t["decision"] for t in ticks[1:]] == ["coalesced"] * 11 + ["caught_up"]
            assert iso_utc(ticks[-1]["due_at"]) == "2026-06-01T12:10"
            w.wall.jump(-3 * H)  # ~09:16: the ticks 09:20 ... 12:10 come due again on the wall clock
            await trio.sleep(2 * H)  # until ~11:16
            assert len(w.ticks(sid)) == 13  # nothing fired twice, nothing new recorded
            await w.sleep_until("2026-06-01T12:20:01")
            ticks = w.ticks(sid)
            assert len(ticks) == 14 and iso_utc(ticks[-1]["due_at"]) == "2026-06-01T12:20"
            assert ticks[-1]["decision"] == "fired"
            dues = [t["due_at"] for t in ticks]
            assert len(dues) == len(set(dues))
            runs = w.runs_of(gid)
            assert len(runs) == 3 and len({r["scheduled_at"] for r in runs}) == 3
            # A restart (a new scheduler loading its cursor from the store) with the clock back again.
            await w.stop_scheduler()
            w.wall.jump(-H)
            await w.start_scheduler()
            await trio.sleep(H + 30)
            assert len(w.ticks(sid)) == 14
            # The guard is the UNIQUE (schedule, due_at), not only the code path.
            assert w.store.write_sync(ticks_q.record, w.app.now(), schedule_id=sid, goal_id=gid,
                                      due_at=dues[-1], decision="fired") is False

    run_virtual(main)


def test_sched_service_paused_goal_records_skipped_ticks(tmp_path):
    async def main():
        async with World(tmp_path, "2026-06-01T10:00:05") as w:
            gid, sid = w.goal("*/15 * * * *", paused=True)
            await w.sleep_until("2026-06-01T11:00:05")
            ticks = w.ticks(sid)
            assert [(t["decision"], t["reason"], t["run_id"]) for t in ticks] == [("skipped", "goal paused", None)] * 4
            assert w.runs_of(gid) == []
            w.set_status(gid, "active")
            await w.sleep_until("2026-06-01T11:15:01")
            ticks = w.ticks(sid)
            assert len(ticks) == 5 and ticks[-1]["decision"] == "fired"  # resumed: no catch-up of paused ticks
            assert len(w.runs_of(gid)) == 1

    run_virtual(main)


def test_sched_service_a_thousand_schedules(tmp_path):
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Adelaide"]

    async def main():
        async with World(tmp_path, "2026-06-01T09:59:30", max_concurrent=16) as w:
            specs = [(f"{i % 60} * * * *", zones[i % len(zones)]) for i in range(1000)]
            sids = w.goals(specs)
            await w.sleep_until("2026-06-01T12:00:00")
            ticks = w.all_ticks()
            per = {}
            for t in ticks:
                per.setdefault(t["schedule_id"], []).append(t)
            assert set(per) == set(sids)
            assert all(len(v) == 2 for v in per.values())  # hourly at its minute, in any zone
            assert {t["decision"] for t in ticks} == {"fired"}
            assert max(t["recorded_at"] - t["due_at"] for t in ticks) == 0
            assert w.store.read(lambda c: c.execute(
                "SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0]) == 2000
            assert w.sched.fired == 2000

    run_virtual(main)


def test_sched_service_a_failed_fire_is_retried_and_a_restart_mid_fire_decides_it_once(tmp_path):
    async def main():
        async with World(tmp_path, "2026-06-01T10:00:30") as w:
            gid, sid = w.goal("*/5 * * * *")
            await w.sleep_until("2026-06-01T10:04:59")
            w.store.fail_next = 1  # the 10:05 tick's transaction fails (disk full): nothing written
            await w.sleep_until("2026-06-01T10:05:10")
            ticks = w.ticks(sid)
            assert [(t["decision"], t["recorded_at"] - t["due_at"]) for t in ticks] == [("fired", 5000)]  # retried
            assert len(w.runs_of(gid)) == 1 and w.sched.alive()

            await w.sleep_until("2026-06-01T10:09:59")
            w.store.fail_next = 1
            await w.sleep_until("2026-06-01T10:10:01")
            await w.stop_scheduler()  # the daemon dies before the retry
            await w.sleep_until("2026-06-01T10:12:00")
            await w.start_scheduler()
            await trio.sleep(1)
            ticks = w.ticks(sid)
            assert [(iso_utc(t["due_at"])[11:], t["decision"]) for t in ticks] == [("10:05", "fired"),
                                                                                   ("10:10", "caught_up")]
            await w.sleep_until("2026-06-01T10:15:01")
            assert [t["decision"] for t in w.ticks(sid)] == ["fired", "caught_up", "fired"]
            assert len(w.runs_of(gid)) == 3

    run_virtual(main)
