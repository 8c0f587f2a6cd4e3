"""Schedule tick records: one row per (schedule, due time), so a tick is never
fired twice — the UNIQUE constraint is the guard, not the code path."""

from __future__ import annotations

import sqlite3
from typing import NamedTuple

import msgspec

from ..protocol import methods as m
from ..timeutil import iso
from . import runs as runs_q

_enc = msgspec.json.Encoder()


class TickWrite(NamedTuple):
    """One decided tick to record, and the run it starts (``run_id`` chosen by
    the scheduler; None when the tick starts no run)."""

    schedule_id: str
    goal_id: str
    due_at: int
    decision: str
    reason: str
    run_id: str | None = None
    trigger: str | None = None
    step_budget: int = 0


def record(conn: sqlite3.Connection, now: int, *, schedule_id: str, goal_id: str, due_at: int, decision: str,
           reason: str = "", run_id: str | None = None) -> bool:
    """Insert the tick; False (and nothing written) if that due time was already recorded."""
    return conn.execute(
        "INSERT OR IGNORE INTO ticks (schedule_id, goal_id, due_at, decision, reason, run_id, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", (schedule_id, goal_id, due_at, decision, reason, run_id, now),
    ).rowcount == 1


def exists(conn: sqlite3.Connection, schedule_id: str, due_at: int) -> bool:
    return conn.execute("SELECT 1 FROM ticks WHERE schedule_id = ? AND due_at = ?", (schedule_id, due_at)).fetchone() is not None


def existing(conn: sqlite3.Connection, schedule_ids: list[str], after: int) -> set[tuple[str, int]]:
    """(schedule id, due time) of the recorded ticks of ``schedule_ids`` due after ``after``, in one query."""
    if not schedule_ids:
        return set()
    return {(r[0], r[1]) for r in conn.execute(
        "SELECT t.schedule_id, t.due_at FROM json_each(?) j JOIN ticks t ON t.schedule_id = j.value AND t.due_at > ?",
        (_enc.encode(schedule_ids).decode(), after))}


def goals_for_ticks(conn: sqlite3.Connection, goal_ids: list[str]) -> dict[str, tuple]:
    """goal id -> (id, status, catchup, catchup_window_s, overlap, params), plain
    tuples: what deciding a tick needs, in one query."""
    if not goal_ids:
        return {}
    cur = conn.cursor()
    cur.row_factory = None
    return {r[0]: r for r in cur.execute(
        "SELECT g.id, g.status, g.catchup, g.catchup_window_s, g.overlap, g.params"
        " FROM json_each(?) j JOIN goals g ON g.id = j.value", (_enc.encode(goal_ids).decode(),))}


def record_batch(conn: sqlite3.Connection, now: int, items: list[TickWrite] | list[tuple]) -> list[bool]:
    """Record many decided ticks and insert their runs, inside the caller's ONE
    transaction. Returns, per item, whether it was recorded: False for a tick
    already recorded (its run is not inserted either) or whose schedule is gone.

    The fast path inserts everything with two statements; if any tick turns out
    to be recorded already or a row is refused (a goal deleted meanwhile), it is
    rolled back to a savepoint and the items are written one by one, checked."""
    n_runs = sum(1 for i in items if i[5])
    conn.execute("SAVEPOINT tick_batch")
    try:
        before = conn.total_changes
        # One statement per table over a JSON array: SQLite does every row
        # without coming back to Python (nor taking the GIL) between rows.
        rows = _enc.encode(items)
        conn.execute(
            "INSERT INTO runs (id, goal_id, status, step_budget, trigger, scheduled_at, schedule_id, created_at)"
            " SELECT json_extract(value, '$[5]'), json_extract(value, '$[1]'), 'pending', json_extract(value, '$[7]'),"
            " json_extract(value, '$[6]'), json_extract(value, '$[2]'), json_extract(value, '$[0]'), ?2"
            " FROM json_each(?1) WHERE json_extract(value, '$[5]') IS NOT NULL ORDER BY key", (rows, now))
        conn.execute(
            "INSERT OR IGNORE INTO ticks (schedule_id, goal_id, due_at, decision, reason, run_id, recorded_at)"
            " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'),"
            " json_extract(value, '$[3]'), json_extract(value, '$[4]'), json_extract(value, '$[5]'), ?2"
            " FROM json_each(?1) ORDER BY key", (rows, now))
        clean = conn.total_changes - before == n_runs + len(items)
    except sqlite3.IntegrityError:
        clean = False
    if clean:
        conn.execute("RELEASE tick_batch")
        return [True] * len(items)
    conn.execute("ROLLBACK TO tick_batch")
    conn.execute("RELEASE tick_batch")
    out = []
    for i in map(TickWrite._make, items):
        if exists(conn, i.schedule_id, i.due_at) or conn.execute(
                "SELECT 1 FROM schedules WHERE id = ?", (i.schedule_id,)).fetchone() is None:
            out.append(False)
            continue
        if i.run_id:
            runs_q.insert_runs(conn, now, [(i.run_id, i.goal_id, i.step_budget, i.trigger, i.due_at, i.schedule_id)])
        out.append(record(conn, now, schedule_id=i.schedule_id, goal_id=i.goal_id, due_at=i.due_at,
                          decision=i.decision, reason=i.reason, run_id=i.run_id))
    return out


def recent(conn: sqlite3.Connection, goal_id: str, limit: int) -> list[m.Tick]:
    return [m.Tick(due_at=iso(r["due_at"]), decision=r["decision"], reason=r["reason"], run_id=r["run_id"],
                   schedule_id=r["schedule_id"], recorded_at=iso(r["recorded_at"]))
            for r in conn.execute("SELECT * FROM ticks WHERE goal_id = ? ORDER BY due_at DESC, id DESC LIMIT ?",
                                  (goal_id, limit))]
