"""Schedule tick records: one row per (schedule, due time), so a tick is never
fired twice — the UNIQUE constraint is the guard, not the code path."""

from __future__ import annotations

import sqlite3

from ..protocol import methods as m
from ..timeutil import iso


def record(conn: sqlite3.Connection, now: int, *, schedule_id: str, goal_id: str, due_at: int, decision: str,
           reason: str = "", run_id: str | None = None) -> bool:
    """Insert the tick; False (and nothing written) if that due time was already recorded."""
    return conn.execute(
        "INSERT OR IGNORE INTO ticks (schedule_id, goal_id, due_at, decision, reason, run_id, recorded_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)", (schedule_id, goal_id, due_at, decision, reason, run_id, now),
    ).rowcount == 1


def exists(conn: sqlite3.Connection, schedule_id: str, due_at: int) -> bool:
    return conn.execute("SELECT 1 FROM ticks WHERE schedule_id = ? AND due_at = ?", (schedule_id, due_at)).fetchone() is not None


def recent(conn: sqlite3.Connection, goal_id: str, limit: int) -> list[m.Tick]:
    return [m.Tick(due_at=iso(r["due_at"]), decision=r["decision"], reason=r["reason"], run_id=r["run_id"],
                   schedule_id=r["schedule_id"], recorded_at=iso(r["recorded_at"]))
            for r in conn.execute("SELECT * FROM ticks WHERE goal_id = ? ORDER BY due_at DESC, id DESC LIMIT ?",
                                  (goal_id, limit))]


def counts_by_decision(conn: sqlite3.Connection) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute("SELECT decision, count(*) FROM ticks GROUP BY decision")}
