"""Approvals: tool calls that wait for a person's decision.

One row per call that needed approval (``UNIQUE (run_id, step_no)``): its
exact arguments and their digest, why it was asked, when it expires, and the
decision (``approved``, ``denied``, ``expired``) with who made it, when and
why. ``executed_at`` is set in the same transaction that hands an approved
call to its tool (the step goes back to ``pending`` then), so a call is never
handed over twice: after a crash the step is resumed like any call left in
flight (the side-effect ledger decides, never a second attempt).

A run is *parked* while it has a ``pending`` approval and is itself
``pending`` (it holds no task and no slot).
"""

from __future__ import annotations

import hashlib
import sqlite3

from ..protocol.errors import InvalidState, NotFound
from ..protocol import methods as m
from ..timeutil import iso

DECIDED = ("approved", "denied", "expired")


def digest(tool_name: str, arguments: str) -> str:
    """What an approval applies to: the tool and its arguments, exactly as the
    model wrote them (sha256, hex; a client shows the call and sends this back)."""
    return hashlib.sha256(f"{tool_name}\n{arguments}".encode()).hexdigest()


def insert(conn: sqlite3.Connection, now: int, *, approval_id: str, run_id: str, goal_id: str, step_no: int,
           tool_call_id: str | None, tool_name: str, arguments: str, reason: str, expires_at: int) -> str:
    aid = approval_id
    conn.execute(
        "INSERT INTO approvals (id, run_id, goal_id, step_no, tool_call_id, tool_name, arguments, digest, reason,"
        " status, requested_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
        (aid, run_id, goal_id, step_no, tool_call_id, tool_name, arguments, digest(tool_name, arguments), reason,
         now, expires_at))
    return aid


def of_step(conn: sqlite3.Connection, run_id: str, step_no: int) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM approvals WHERE run_id = ? AND step_no = ?", (run_id, step_no)).fetchone()


def row(conn: sqlite3.Connection, approval_id: str) -> sqlite3.Row:
    r = conn.execute("SELECT * FROM approvals WHERE id = ?", (approval_id,)).fetchone()
    if r is None:
        raise NotFound(f"no approval request with id {approval_id}", noun="approval", id=approval_id)
    return r


def waiting(conn: sqlite3.Connection, run_id: str | None = None, goal_id: str | None = None) -> list[sqlite3.Row]:
    """Pending approvals of runs that are still waiting (not cancelled or
    deleted meanwhile), oldest first; of one run or one goal if given."""
    sql = ("SELECT a.* FROM approvals a JOIN runs r ON r.id = a.run_id"
           " WHERE a.status = 'pending' AND r.status = 'pending'")
    args: list = []
    if run_id is not None:
        sql += " AND a.run_id = ?"
        args.append(run_id)
    if goal_id is not None:
        sql += " AND a.goal_id = ?"
        args.append(goal_id)
    return conn.execute(sql + " ORDER BY a.requested_at, a.id", args).fetchall()


def waiting_ids(conn: sqlite3.Connection, run_id: str) -> list[str]:
    """The ids of the run's calls waiting for a decision (none unless it is parked)."""
    return [r["id"] for r in waiting(conn, run_id)]


def parked_runs(conn: sqlite3.Connection) -> dict[str, str]:
    """run id -> goal id of every parked run."""
    return {r["run_id"]: r["goal_id"] for r in waiting(conn)}


def next_expiry(conn: sqlite3.Connection) -> int | None:
    r = conn.execute("SELECT min(a.expires_at) FROM approvals a JOIN runs r ON r.id = a.run_id"
                     " WHERE a.status = 'pending' AND r.status = 'pending'").fetchone()
    return r[0]


def due(conn: sqlite3.Connection, now: int) -> list[sqlite3.Row]:
    return [r for r in waiting(conn) if r["expires_at"] <= now]


def unnotified(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    return [r for r in waiting(conn) if r["notified_at"] is None]


def mark_notified(conn: sqlite3.Connection, now: int, approval_id: str) -> None:
    conn.execute("UPDATE approvals SET notified_at = ? WHERE id = ?", (now, approval_id))


def decide(conn: sqlite3.Connection, now: int, approval_id: str, status: str, *, by: str, note: str | None) -> None:
    """pending -> ``status`` in one guarded update; InvalidState if it was decided already."""
    if conn.execute("UPDATE approvals SET status = ?, decided_at = ?, decided_by = ?, note = ?"
                    " WHERE id = ? AND status = 'pending'", (status, now, by, note, approval_id)).rowcount != 1:
        r = row(conn, approval_id)
        raise InvalidState(f"the call {approval_id} was already {r['status']} (by {r['decided_by']} at "
                           f"{iso(r['decided_at'])})", status=r["status"])


def mark_executed(conn: sqlite3.Connection, now: int, approval_id: str) -> bool:
    """Hand an approved call over once: True the first time only."""
    return conn.execute("UPDATE approvals SET executed_at = ? WHERE id = ? AND status = 'approved'"
                        " AND executed_at IS NULL", (now, approval_id)).rowcount == 1


def hand_over(conn: sqlite3.Connection, now: int, approval_id: str) -> None:
    """An approved call goes to its tool: executed, and its step in flight
    (``pending``) again, in the caller's transaction."""
    r = row(conn, approval_id)
    mark_executed(conn, now, approval_id)
    conn.execute("UPDATE steps SET status = 'pending' WHERE run_id = ? AND step_no = ? AND status = 'awaiting_approval'",
                 (r["run_id"], r["step_no"]))


def park(conn: sqlite3.Connection, now: int, run_id: str, step_nos: list[int]) -> bool:
    """The run gives up its slot: its waiting steps -> ``awaiting_approval``,
    the run ``running`` -> ``pending`` (guarded: False if it is not running)."""
    for step_no in step_nos:
        conn.execute("UPDATE steps SET status = 'awaiting_approval' WHERE run_id = ? AND step_no = ?",
                     (run_id, step_no))
    return conn.execute("UPDATE runs SET status = 'pending' WHERE id = ? AND status = 'running'",
                        (run_id,)).rowcount == 1


def still_waiting(conn: sqlite3.Connection, run_id: str) -> bool:
    return conn.execute("SELECT 1 FROM approvals WHERE run_id = ? AND status = 'pending' LIMIT 1",
                        (run_id,)).fetchone() is not None


def to_struct(r: sqlite3.Row) -> m.Approval:
    return m.Approval(id=r["id"], run_id=r["run_id"], goal_id=r["goal_id"], step_no=r["step_no"],
                      tool=r["tool_name"], arguments=r["arguments"], digest=r["digest"], reason=r["reason"],
                      status=r["status"], requested_at=iso(r["requested_at"]), expires_at=iso(r["expires_at"]),
                      decided_at=iso(r["decided_at"]), decided_by=r["decided_by"], note=r["note"],
                      executed=r["executed_at"] is not None)


def of_run(conn: sqlite3.Connection, run_id: str) -> list[m.Approval]:
    return [to_struct(r) for r in conn.execute(
        "SELECT * FROM approvals WHERE run_id = ? ORDER BY step_no", (run_id,))]
