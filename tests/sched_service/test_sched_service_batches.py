"""The scheduler's batches (many ticks due at one wake), on trio's virtual
clock with the real RunManager and Store: small batches forced, several
schedules of one goal due at once, a refused batch retried, next_ticks, and
the run manager's in-memory queue."""

from __future__ import annotations

import trio

import agentd.scheduler as scheduler_mod
from sched_service_helpers import World, iso_utc, run_virtual


def test_sched_service_batches_decide_every_tick_once(tmp_path, monkeypatch):
    monkeypatch.setattr(scheduler_mod, "BATCH", 7)

    async def main():
        async with World(tmp_path, "2026-06-01T09:59:30", max_concurrent=50, run_seconds=30) as w:
            sids = w.goals([("* * * * *", "UTC")] * 40)
            gid, _ = w.goal("* * * * *")
            # two more schedules of that goal, due at the same instants (one schedule per goal per batch)
            w.store.write_sync(lambda c: c.executemany(
                "INSERT INTO schedules (id, goal_id, cron_expr, timezone, active, created_at) VALUES (?, ?, ?, 'UTC', 1, ?)",
                [(f"5c{n:010d}", gid, "* * * * *", w.app.now()) for n in range(2)]))
            w.app.schedules_changed()
            await w.sleep_until("2026-06-01T10:01:30")
            ticks = w.all_ticks()
            keys = [(t["schedule_id"], t["due_at"]) for t in ticks]
            assert len(keys) == len(set(keys)) == 43 * 2
            assert {iso_utc(t["due_at"]) for t in ticks} == {"2026-06-01T10:00", "2026-06-01T10:01"}
            many = [t for t in ticks if t["schedule_id"] in set(sids)]
            assert {t["decision"] for t in many} == {"fired"} and all(t["run_id"] for t in many)
            own = [t for t in ticks if t["goal_id"] == gid]
            for due in {t["due_at"] for t in own}:
                at = [t for t in own if t["due_at"] == due]
                # the first of its schedules fired; the others saw that run (overlap skip)
                assert sorted(t["decision"] for t in at) == ["fired", "skipped", "skipped"], at
            runs = w.store.read(lambda c: c.execute("SELECT id, scheduled_at, schedule_id FROM runs").fetchall())
            assert len(runs) == 41 * 2
            assert {r["id"] for r in runs} == {t["run_id"] for t in ticks if t["run_id"]}
            assert w.sched.fired == 82 and all(x == 0 for x in w.sched.lateness_ms)
            await w.sleep_until("2026-06-01T10:03:00")
            assert w.store.read(lambda c: c.execute(
                "SELECT count(*) FROM runs WHERE status = 'completed'").fetchone()[0]) == 41 * 3
            assert w.runs.queue() == [] and w.runs._queue == {}

    run_virtual(main)


def test_sched_service_a_refused_batch_is_retried_whole(tmp_path, monkeypatch):
    monkeypatch.setattr(scheduler_mod, "BATCH", 4)

    async def main():
        async with World(tmp_path, "2026-06-01T09:59:30") as w:
            w.goals([("*/5 * * * *", "UTC")] * 10)
            await w.sleep_until("2026-06-01T09:59:59")
            w.store.fail_next = 1  # the first batch's transaction fails: nothing of it is written
            await w.sleep_until("2026-06-01T10:00:20")
            ticks = w.all_ticks()
            assert len(ticks) == 10 and {t["decision"] for t in ticks} == {"fired"}
            late = [t["recorded_at"] - t["due_at"] for t in ticks]
            assert set(late) <= {0, 5000} and late.count(5000) >= 4  # the refused batch, retried 5 s later
            assert len({t["run_id"] for t in ticks}) == 10 and len(w.runs_of(ticks[0]["goal_id"])) == 1

    run_virtual(main)


def test_sched_service_next_ticks_are_the_earliest(tmp_path):
    async def main():
        async with World(tmp_path, "2026-06-01T09:59:30") as w:
            specs = [(f"{i % 60} {i % 24} * * *", "UTC") for i in range(300)]
            w.goals(specs)
            await trio.sleep(1)
            for k in (1, 5, 50, 400):
                got = [(t.at, t.schedule_id) for t in w.sched.next_ticks(k)]
                want = sorted((e.next_due, e.schedule_id) for e in w.sched.entries.values())[:k]
                assert [s for _, s in got] == [s for _, s in want]
            assert w.sched.next_ticks(0) == []

    run_virtual(main)


def test_sched_service_run_queue_in_memory_keeps_order(tmp_path):
    async def main():
        async with World(tmp_path, "2026-06-01T09:59:30", run_seconds=30, max_concurrent=2) as w:
            w.goals([("* * * * *", "UTC")] * 6)
            await w.sleep_until("2026-06-01T10:00:01")
            pending = w.runs.queue()
            order = list(w.runs._queue)
            assert len(pending) == 4 and set(order) == set(pending)  # what the store says, kept in memory
            assert len(w.runs.active) == 2
            await w.sleep_until("2026-06-01T10:00:31")
            assert set(w.runs.active) == set(order[:2])  # the next two, in order
            assert list(w.runs._queue) == order[2:]
            await w.runs.cancel(order[3], "test")  # a pending run cancelled leaves the queue
            assert list(w.runs._queue) == order[2:3]
            await w.sleep_until("2026-06-01T10:00:59")
            status = w.store.read(lambda c: dict(c.execute("SELECT id, status FROM runs").fetchall()))
            assert status[order[3]] == "cancelled" and status[order[2]] == "pending"
            assert w.runs.queue() == order[2:3]

    run_virtual(main)


def test_sched_service_record_batch_checks_one_by_one_when_a_row_is_refused(tmp_path):
    from agentd.store import Store
    from agentd.store import goals as goals_q
    from agentd.store import ticks as ticks_q
    from agentd.protocol import methods as m

    store = Store(tmp_path / "agentd.db")
    spec = m.GoalCreate(objective="x", schedules=[m.ScheduleSpec(cron="* * * * *")])
    gids = [store.write_sync(goals_q.insert_goal, 1000, spec, "whsec_dGVzdA==") for _ in range(3)]
    sids = [store.read(lambda c, g=g: c.execute("SELECT id FROM schedules WHERE goal_id = ?", (g,)).fetchone()[0])
            for g in gids]
    store.write_sync(ticks_q.record, 1000, schedule_id=sids[0], goal_id=gids[0], due_at=60_000, decision="missed")
    items = [ticks_q.TickWrite(sids[0], gids[0], 60_000, "fired", "on time", "a00000000001", "schedule", 5),
             ticks_q.TickWrite(sids[1], gids[1], 60_000, "fired", "on time", "a00000000002", "schedule", 5),
             ticks_q.TickWrite(sids[2], gids[2], 60_000, "skipped", "goal paused")]
    # the first is recorded already: nothing of it is written, the others are
    assert store.write_sync(ticks_q.record_batch, 2000, items) == [False, True, True]
    runs = store.read(lambda c: c.execute("SELECT id, goal_id, status, step_budget, trigger, scheduled_at,"
                                          " schedule_id, created_at FROM runs").fetchall())
    assert [tuple(r) for r in runs] == [("a00000000002", gids[1], "pending", 5, "schedule", 60_000, sids[1], 2000)]
    ticks = store.read(lambda c: c.execute("SELECT schedule_id, decision, run_id, recorded_at FROM ticks"
                                           " ORDER BY id").fetchall())
    assert [tuple(t) for t in ticks] == [(sids[0], "missed", None, 1000), (sids[1], "fired", "a00000000002", 2000),
                                         (sids[2], "skipped", None, 2000)]
    # the fast path: every row at once, stamped with the batch's time
    more = [ticks_q.TickWrite(s, g, 120_000, "fired", "on time", f"b0000000000{n}", "schedule", 3)
            for n, (s, g) in enumerate(zip(sids, gids))]
    assert store.write_sync(ticks_q.record_batch, 3000, more) == [True] * 3
    assert store.read(lambda c: c.execute("SELECT count(*) FROM ticks WHERE recorded_at = 3000 AND run_id IS NOT NULL"
                                          ).fetchone()[0]) == 3
    store.close()
