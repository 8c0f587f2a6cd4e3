"""Run-result fingerprints (notify on_change) and quiet-goal incidents with
their alert and recovery deliveries (agentd.notify)."""

from __future__ import annotations

import sqlite3

from ..protocol import methods as m
from ..timeutil import iso
from .goals import due_schedules_of
from .ids import new_id

# A success, as goal health counts it: a completed run that did something
# (a run that failed the loop's checks is failed; a completed run without a
# single tool step is a false completion of an older version).
SUCCESS = "status = 'completed' AND steps_executed > 0"


# ---------------------------------------------------------------- run results


def previous_result(conn: sqlite3.Connection, goal_id: str, run_id: str) -> sqlite3.Row | None:
    """The fingerprint of the goal's last successful run before ``run_id``
    (the newest by when it ended), or None."""
    return conn.execute(
        "SELECT rr.run_id, rr.digest, rr.unchanged_since FROM run_results rr JOIN runs r ON r.id = rr.run_id"
        f" WHERE rr.goal_id = ? AND rr.run_id != ? AND r.{SUCCESS}"
        " ORDER BY r.ended_at DESC, rr.created_at DESC LIMIT 1", (goal_id, run_id)).fetchone()


def run_ids_among(conn: sqlite3.Connection, goal_id: str, candidates: set[str]) -> set[str]:
    """Which of ``candidates`` are ids of the goal's runs."""
    marks = ",".join("?" * len(candidates))
    return {r[0] for r in conn.execute(f"SELECT id FROM runs WHERE goal_id = ? AND id IN ({marks})",
                                       (goal_id, *candidates))}


def record_result(conn: sqlite3.Connection, now: int, run_id: str, goal_id: str, digest: str,
                  unchanged_since: str | None) -> None:
    """Record (or, when finalize is resumed after a crash, keep) the run's fingerprint."""
    conn.execute("INSERT OR IGNORE INTO run_results (run_id, goal_id, digest, unchanged_since, created_at)"
                 " VALUES (?, ?, ?, ?, ?)", (run_id, goal_id, digest, unchanged_since, now))


def result_of(conn: sqlite3.Connection, run_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT digest, unchanged_since FROM run_results WHERE run_id = ?", (run_id,)).fetchone()


def unchanged_since(conn: sqlite3.Connection, run_id: str) -> str | None:
    row = result_of(conn, run_id)
    return row["unchanged_since"] if row is not None else None


# ---------------------------------------------------------------- goal state for alerts


def goal_for_alerts(conn: sqlite3.Connection, goal_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT id, name, objective, status, params, webhook_url, webhook_secret FROM goals"
                        " WHERE id = ?", (goal_id,)).fetchone()


def alert_view(conn: sqlite3.Connection, goal: sqlite3.Row, k: int) -> dict:
    """What the alert check needs of one goal (its row ``goal``): its active
    schedules as (cron, zone, created at) (none while the goal is not active), its last success, its last
    ``k`` finished runs (newest first) and whether a run of it is pending or
    running."""
    goal_id = goal["id"]
    scheds = due_schedules_of(conn, goal_id)
    last_ok = conn.execute(f"SELECT id, ended_at FROM runs WHERE goal_id = ? AND {SUCCESS}"
                           " ORDER BY ended_at DESC LIMIT 1", (goal_id,)).fetchone()
    recent = conn.execute(
        f"SELECT id, status, error, ended_at, {SUCCESS} AS ok FROM runs"
        " WHERE goal_id = ? AND status IN ('completed', 'failed') ORDER BY ended_at DESC, created_at DESC LIMIT ?",
        (goal_id, max(k, 1))).fetchall()
    busy = conn.execute("SELECT 1 FROM runs WHERE goal_id = ? AND status IN ('pending', 'running') LIMIT 1",
                        (goal_id,)).fetchone() is not None
    return {"goal": goal, "schedules": scheds, "last_ok": last_ok, "recent": recent, "busy": busy,
            "incident": open_incident(conn, goal_id)}


def scheduled_goal_ids(conn: sqlite3.Connection) -> list[str]:
    """Active goals with an active schedule, and goals with an open incident."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT g.id FROM goals g JOIN schedules s ON s.goal_id = g.id"
        " WHERE g.status = 'active' AND s.active = 1"
        " UNION SELECT goal_id FROM incidents WHERE closed_at IS NULL")]


# ---------------------------------------------------------------- incidents


def open_incident(conn: sqlite3.Connection, goal_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM incidents WHERE goal_id = ? AND closed_at IS NULL", (goal_id,)).fetchone()


def insert_incident(conn: sqlite3.Connection, now: int, iid: str, goal_id: str, kind: str, reason: str,
                    notices: list[tuple[str, str, str, str]]) -> bool:
    """Open incident ``iid`` with the intents of its alert deliveries
    (``notices``: (kind, key, target, summary)), in the caller's transaction.
    False when the goal already has an open one (the partial unique index
    decides)."""
    try:
        conn.execute("INSERT INTO incidents (id, goal_id, kind, reason, opened_at) VALUES (?, ?, ?, ?, ?)",
                     (iid, goal_id, kind, reason, now))
    except sqlite3.IntegrityError:
        return False
    add_notices(conn, now, iid, "alert", notices)
    return True


def close_incident(conn: sqlite3.Connection, now: int, incident_id: str, run_id: str,
                   notices: list[tuple[str, str, str, str]]) -> bool:
    """Close the incident (recovered by ``run_id``) with the intents of its
    recovery notices. False when it was closed already."""
    done = conn.execute("UPDATE incidents SET closed_at = ?, recovered_by = ? WHERE id = ? AND closed_at IS NULL",
                        (now, run_id, incident_id)).rowcount
    if done:
        add_notices(conn, now, incident_id, "recovery", notices)
    return bool(done)


def add_notices(conn: sqlite3.Connection, now: int, incident_id: str, notice: str,
                notices: list[tuple[str, str, str, str]]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO incident_deliveries (id, incident_id, notice, kind, idempotency_key, target, summary,"
        " status, attempts, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 'intent', 0, ?, ?)",
        [(new_id(), incident_id, notice, kind, key, target, summary, now, now)
         for kind, key, target, summary in notices])


def delivery_by_key(conn: sqlite3.Connection, key: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM incident_deliveries WHERE idempotency_key = ?", (key,)).fetchone()


def begin_delivery(conn: sqlite3.Connection, now: int, incident_id: str, notice: str, *, kind: str, key: str,
                   target: str, summary: str) -> sqlite3.Row:
    """The delivery row of ``key``, created as an intent if missing."""
    add_notices(conn, now, incident_id, notice, [(kind, key, target, summary)])
    return delivery_by_key(conn, key)


def finish_delivery(conn: sqlite3.Connection, now: int, delivery_id: str, *, status: str, detail: str,
                    attempts: int) -> None:
    conn.execute("UPDATE incident_deliveries SET status = ?, detail = ?, attempts = ?, updated_at = ? WHERE id = ?",
                 (status, detail, attempts, now, delivery_id))


def refuse_delivery(conn: sqlite3.Connection, now: int, key: str, detail: str) -> None:
    """A delivery refused before it was attempted (its URL, its payload)."""
    conn.execute("UPDATE incident_deliveries SET status = 'refused', detail = ?, updated_at = ?"
                 " WHERE idempotency_key = ? AND status = 'intent'", (detail, now, key))


UNKNOWN_DETAIL = "the daemon stopped before or during the attempt; the receiver may or may not have it; not re-sent"


def mark_unknown(conn: sqlite3.Connection, now: int) -> int:
    """At start: intents left by the daemon's previous life -> unknown (never re-sent)."""
    return conn.execute("UPDATE incident_deliveries SET status = 'unknown', detail = ?, updated_at = ?"
                        " WHERE status = 'intent'", (UNKNOWN_DETAIL, now)).rowcount


def pending_deliveries(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Fresh intents (committed with their incident, not attempted yet)."""
    return conn.execute("SELECT * FROM incident_deliveries WHERE status = 'intent' AND attempts = 0"
                        " ORDER BY created_at").fetchall()


def _incident(conn: sqlite3.Connection, row: sqlite3.Row) -> m.Incident:
    notices = [m.IncidentNotice(notice=d["notice"], kind=d["kind"], target=d["target"], status=d["status"],
                                attempts=d["attempts"], detail=d["detail"])
               for d in conn.execute("SELECT * FROM incident_deliveries WHERE incident_id = ?"
                                     " ORDER BY created_at, rowid", (row["id"],))]
    return m.Incident(id=row["id"], goal_id=row["goal_id"], kind=row["kind"], reason=row["reason"],
                      opened_at=iso(row["opened_at"]), closed_at=iso(row["closed_at"]),
                      recovered_by=row["recovered_by"], notices=notices)


def incident_of(conn: sqlite3.Connection, goal_id: str) -> m.Incident | None:
    """The goal's open incident, else its latest closed one, else None."""
    row = conn.execute("SELECT * FROM incidents WHERE goal_id = ? ORDER BY closed_at IS NULL DESC, opened_at DESC"
                       " LIMIT 1", (goal_id,)).fetchone()
    return _incident(conn, row) if row is not None else None
