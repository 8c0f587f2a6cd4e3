"""The side-effect ledger: an intent is committed before an attempt, the
outcome after. An intent found without an outcome after a crash is marked
``unknown`` and never re-sent automatically."""

from __future__ import annotations

import sqlite3

from ..protocol import methods as m
from ..timeutil import iso
from .ids import new_id


def by_key(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    """The ledger row of idempotency ``key``, or None."""
    return conn.execute("SELECT * FROM side_effects WHERE idempotency_key = ?", (key,)).fetchone()


def by_id(conn: sqlite3.Connection, effect_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM side_effects WHERE id = ?", (effect_id,)).fetchone()


def begin(conn: sqlite3.Connection, now: int, *, run_id: str, goal_id: str, kind: str, target: str,
          key: str, summary: str, source: str) -> tuple[sqlite3.Row, bool]:
    """Insert the intent for ``key`` unless it exists. Returns (row, created)."""
    row = by_key(conn, key)
    if row is not None:
        return row, False
    conn.execute(
        "INSERT INTO side_effects (id, run_id, goal_id, kind, idempotency_key, target, summary, source, status,"
        " attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'intent', 0, ?, ?)",
        (new_id(), run_id, goal_id, kind, key, target, summary, source, now, now),
    )
    return by_key(conn, key), True


def finish(conn: sqlite3.Connection, now: int, effect_id: str, *, status: str, detail: str, attempts: int) -> None:
    conn.execute("UPDATE side_effects SET status = ?, detail = ?, attempts = ?, updated_at = ? WHERE id = ?",
                 (status, detail, attempts, now, effect_id))


UNKNOWN_DETAIL = "the daemon stopped during the attempt; the receiver may or may not have it; not re-sent"


def mark_one_unknown(conn: sqlite3.Connection, now: int, effect_id: str) -> None:
    conn.execute("UPDATE side_effects SET status = 'unknown', detail = ?, updated_at = ? WHERE id = ? AND status = 'intent'",
                 (UNKNOWN_DETAIL, now, effect_id))


def mark_unknown(conn: sqlite3.Connection, now: int, run_id: str | None = None) -> int:
    """Intents without an outcome (the daemon died mid-attempt) -> unknown."""
    sql = "UPDATE side_effects SET status = 'unknown', updated_at = ?, detail = ? WHERE status = 'intent'"
    args: list = [now, UNKNOWN_DETAIL]
    if run_id:
        sql += " AND run_id = ?"
        args.append(run_id)
    return conn.execute(sql, args).rowcount


def _effect(r: sqlite3.Row) -> m.SideEffect:
    return m.SideEffect(id=r["id"], run_id=r["run_id"], kind=r["kind"], idempotency_key=r["idempotency_key"],
                        target=r["target"], status=r["status"], attempts=r["attempts"], created_at=iso(r["created_at"]),
                        updated_at=iso(r["updated_at"]), detail=r["detail"], source=r["source"])


def effects_of(conn: sqlite3.Connection, run_id: str) -> list[m.SideEffect]:
    return [_effect(r) for r in conn.execute(
        "SELECT * FROM side_effects WHERE run_id = ? ORDER BY created_at, id", (run_id,))]
