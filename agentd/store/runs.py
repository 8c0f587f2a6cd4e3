"""Runs, their steps and outputs."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ..protocol.errors import NotFound
from ..protocol import methods as m
from ..protocol.events import RunFinished
from ..timeutil import iso
from . import events as events_q
from . import spend as spend_q
from .approvals import waiting_ids
from .ids import new_id

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()

ACTIVE = ("pending", "running")
FINISHED = ("completed", "failed", "cancelled")


def insert_run(
    conn: sqlite3.Connection, now: int, goal_id: str, *, step_budget: int, trigger: str = "manual",
    scheduled_at: int | None = None, schedule_id: str | None = None,
) -> str:
    rid = new_id()
    conn.execute(
        "INSERT INTO runs (id, goal_id, status, scheduled_at, step_budget, created_at, trigger, schedule_id)"
        " VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)",
        (rid, goal_id, scheduled_at, step_budget, now, trigger, schedule_id),
    )
    return rid


def claim(conn: sqlite3.Connection, now: int, run_id: str) -> bool:
    """pending -> running, in one guarded update. False if someone else won."""
    return conn.execute(
        "UPDATE runs SET status = 'running', started_at = coalesce(started_at, ?)"
        " WHERE id = ? AND status = 'pending'", (now, run_id)
    ).rowcount == 1


def finish(conn: sqlite3.Connection, now: int, run_id: str, status: str, *, error: str | None = None,
           summary: str | None = None, budget_exhausted: bool = False, cancel_reason: str | None = None) -> bool:
    return conn.execute(
        "UPDATE runs SET status = ?, ended_at = ?, error = ?, summary = coalesce(?, summary),"
        " budget_exhausted = ?, cancel_reason = coalesce(?, cancel_reason)"
        " WHERE id = ? AND status IN ('pending', 'running')",
        (status, now, error, summary, int(budget_exhausted), cancel_reason, run_id),
    ).rowcount == 1


def finish_journaled(conn: sqlite3.Connection, now: int, run_id: str, status: str, *, error: str | None = None,
                     summary: str | None = None, budget_exhausted: bool = False,
                     cancel_reason: str | None = None) -> tuple[RunFinished, int] | None:
    """``finish`` the run and journal its ``run_finished`` event (totals read
    from the finished row), inside the caller's transaction. Returns (event,
    its seq) for the caller to publish after the commit; None if the run was
    not active (nothing written)."""
    if not finish(conn, now, run_id, status, error=error, summary=summary, budget_exhausted=budget_exhausted,
                  cancel_reason=cancel_reason):
        return None
    row = run_row(conn, run_id)
    ev = RunFinished(status=status, summary=row["summary"], error=error, steps=row["steps_executed"],
                     tokens_in=row["tokens_in"], tokens_out=row["tokens_out"], budget_exhausted=budget_exhausted,
                     cost_usd=spend_q.usd(spend_q.run_usage(conn, run_id)[2]))
    return ev, events_q.append(conn, now, run_id, [ev])


def set_working_memory(conn: sqlite3.Connection, run_id: str, memory: dict[str, Any]) -> None:
    conn.execute("UPDATE runs SET working_memory = ? WHERE id = ?", (_enc.encode(memory).decode(), run_id))


def set_summary(conn: sqlite3.Connection, run_id: str, summary: str) -> None:
    conn.execute("UPDATE runs SET summary = ? WHERE id = ?", (summary, run_id))


def set_pending(conn: sqlite3.Connection, run_id: str) -> bool:
    """running -> pending (a run put back to be resumed). False if it was not running."""
    return conn.execute("UPDATE runs SET status = 'pending' WHERE id = ? AND status = 'running'",
                        (run_id,)).rowcount == 1


def status_and_goal(conn: sqlite3.Connection, run_id: str) -> tuple[str, str] | None:
    """(status, goal id) of the run, or None if there is no such run."""
    row = conn.execute("SELECT status, goal_id FROM runs WHERE id = ?", (run_id,)).fetchone()
    return None if row is None else (row[0], row[1])


def add_usage(conn: sqlite3.Connection, run_id: str, tokens_in: int, tokens_out: int) -> None:
    conn.execute("UPDATE runs SET tokens_in = tokens_in + ?, tokens_out = tokens_out + ? WHERE id = ?",
                 (tokens_in, tokens_out, run_id))


def bump_recoveries(conn: sqlite3.Connection, run_id: str) -> int:
    conn.execute("UPDATE runs SET recoveries = recoveries + 1 WHERE id = ?", (run_id,))
    return conn.execute("SELECT recoveries FROM runs WHERE id = ?", (run_id,)).fetchone()[0]


def _run(conn: sqlite3.Connection, row: sqlite3.Row) -> m.Run:
    return m.Run(
        id=row["id"], goal_id=row["goal_id"], status=row["status"], trigger=row["trigger"],
        created_at=iso(row["created_at"]), step_budget=row["step_budget"], steps_executed=row["steps_executed"],
        started_at=iso(row["started_at"]), ended_at=iso(row["ended_at"]), scheduled_for=iso(row["scheduled_at"]),
        working_memory=_dec.decode(row["working_memory"]), error=row["error"], summary=row["summary"],
        usage=m.Usage(tokens_in=row["tokens_in"], tokens_out=row["tokens_out"]), recoveries=row["recoveries"],
        budget_exhausted=bool(row["budget_exhausted"]),
        awaiting_approval=waiting_ids(conn, row["id"]) if row["status"] == "pending" else [],
    )


def run_row(conn: sqlite3.Connection, run_id: str) -> sqlite3.Row:
    row = conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        raise NotFound(f"no run with id {run_id}", noun="run", id=run_id)
    return row


def get_run(conn: sqlite3.Connection, run_id: str, *, detail: bool = True) -> m.Run:
    run = _run(conn, run_row(conn, run_id))
    if detail:
        from .effects import effects_of
        from .notify import unchanged_since

        tainted_at, blocked = guard_marks(conn, run_id)
        run = msgspec.structs.replace(run, outputs=outputs_of(conn, run_id), side_effects=effects_of(conn, run_id),
                                      tainted_at_step=tainted_at, blocked_calls=blocked,
                                      unchanged_since=unchanged_since(conn, run_id))
    return run


def guard_marks(conn: sqlite3.Connection, run_id: str) -> tuple[int | None, int]:
    """(the step that tainted the run or None, how many calls the guard blocked)."""
    row = conn.execute("SELECT min(CASE WHEN guard = 'tainted' THEN step_no END),"
                       " count(CASE WHEN guard = 'blocked' THEN 1 END) FROM steps"
                       " WHERE run_id = ? AND guard IS NOT NULL", (run_id,)).fetchone()
    return row[0], row[1]


def blocked_calls_of_goal(conn: sqlite3.Connection, goal_id: str, runs: int) -> int:
    """Calls the exfiltration guard blocked in the goal's last ``runs`` runs."""
    return conn.execute(
        "SELECT count(*) FROM steps WHERE guard = 'blocked' AND run_id IN"
        " (SELECT id FROM runs WHERE goal_id = ? ORDER BY created_at DESC LIMIT ?)", (goal_id, runs)).fetchone()[0]


def list_runs(conn: sqlite3.Connection, goal_id: str | None, status: str | None, limit: int, offset: int) -> tuple[list[m.Run], int]:
    clauses, args = [], []
    if goal_id:
        clauses.append("goal_id = ?")
        args.append(goal_id)
    if status:
        clauses.append("status = ?")
        args.append(status)
    where = ("WHERE " + " AND ".join(clauses)) if clauses else ""
    total = conn.execute(f"SELECT count(*) FROM runs {where}", args).fetchone()[0]
    rows = conn.execute(f"SELECT * FROM runs {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?",
                        [*args, limit, offset]).fetchall()
    return [_run(conn, r) for r in rows], total


def last_run(conn: sqlite3.Connection, goal_id: str) -> m.Run | None:
    row = conn.execute("SELECT * FROM runs WHERE goal_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 1", (goal_id,)).fetchone()
    return _run(conn, row) if row else None


def last_runs(conn: sqlite3.Connection, goal_ids: list[str]) -> dict[str, m.Run]:
    """The newest run of each goal (one indexed lookup per goal)."""
    return {gid: run for gid in goal_ids if (run := last_run(conn, gid)) is not None}


def active_runs_of(conn: sqlite3.Connection, goal_id: str) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, status FROM runs WHERE goal_id = ? AND status IN ('pending', 'running') ORDER BY created_at",
        (goal_id,))]


def ids_with_status(conn: sqlite3.Connection, status: str) -> list[str]:
    return [r[0] for r in conn.execute(
        "SELECT id FROM runs WHERE status = ? ORDER BY created_at, id", (status,))]


def pending_queue(conn: sqlite3.Connection) -> list[tuple[str, str]]:
    """(run id, goal id) of every pending run, in creation order (the run
    manager's queue at start; index runs_status_created)."""
    return [(r[0], r[1]) for r in conn.execute(
        "SELECT id, goal_id FROM runs WHERE status = 'pending' ORDER BY created_at, id")]


def active_runs_of_goals(conn: sqlite3.Connection, goal_ids: list[str]) -> dict[str, list[tuple[str, str]]]:
    """Like ``active_runs_of`` for many goals in one query: goal id -> [(run id,
    status)] in creation order; goals without active runs are absent."""
    out: dict[str, list[tuple[str, str]]] = {}
    if not goal_ids:
        return out
    for rid, gid, status in conn.execute(
            "SELECT id, goal_id, status FROM runs WHERE goal_id IN (SELECT value FROM json_each(?))"
            " AND status IN ('pending', 'running') ORDER BY created_at, rowid", (_enc.encode(goal_ids).decode(),)):
        out.setdefault(gid, []).append((rid, status))
    return out


class _Limit(msgspec.Struct):
    max_concurrent: int | None = None


_limit_dec = msgspec.json.Decoder(_Limit)


def goal_run_limit(conn: sqlite3.Connection, goal_id: str) -> tuple[bool, int | None]:
    """(exists, how many runs of the goal may run at once: its ``max_concurrent``,
    else 1 for overlap policy ``queue``, else None: no per-goal limit)."""
    row = conn.execute("SELECT params, overlap FROM goals WHERE id = ?", (goal_id,)).fetchone()
    if row is None:
        return False, None
    limit = _limit_dec.decode(row[0]).max_concurrent
    return True, limit or (1 if row[1] == "queue" else None)


def insert_runs(conn: sqlite3.Connection, now: int, rows: list[tuple[str, str, int, str, int | None, str | None]]) -> None:
    """Pending runs with ids chosen by the caller, in one statement:
    rows of (run id, goal id, step budget, trigger, scheduled_at, schedule id)."""
    conn.executemany(
        "INSERT INTO runs (id, goal_id, status, step_budget, trigger, scheduled_at, schedule_id, created_at)"
        " VALUES (?, ?, 'pending', ?, ?, ?, ?, ?)", [(*r, now) for r in rows])


def delete_run(conn: sqlite3.Connection, run_id: str) -> bool:
    return conn.execute("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0


# ---------------------------------------------------------------- steps


def insert_step(conn: sqlite3.Connection, now: int, run_id: str, *, step_no: int, turn: int, kind: str = "tool",
                status: str, thought: str | None = None, tool_name: str | None = None, tool_input: Any = None,
                tool_call_id: str | None = None, observation: str | None = None, error: str | None = None,
                duration_ms: float = 0.0, tokens_in: int = 0, tokens_out: int = 0, recovered: bool = False) -> None:
    """One step. ``recovered``: a tool call the model wrote as text, not as a native call."""
    conn.execute(
        "INSERT INTO steps (id, run_id, step_no, thought, tool_name, tool_input, observation, duration_ms, error,"
        " created_at, turn, kind, tool_call_id, status, tokens_in, tokens_out, recovered)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (new_id(), run_id, step_no, thought, tool_name,
         None if tool_input is None else (tool_input if isinstance(tool_input, str) else _enc.encode(tool_input).decode()),
         observation, duration_ms, error, now, turn, kind, tool_call_id, status, tokens_in, tokens_out,
         int(recovered)),
    )


def complete_step(conn: sqlite3.Connection, run_id: str, step_no: int, *, status: str,
                  observation: str | None, error: str | None, duration_ms: float, guard: str | None = None) -> None:
    """Record a step's outcome; ``guard``: the exfiltration guard's mark (tainted, blocked), if any."""
    conn.execute(
        "UPDATE steps SET status = ?, observation = ?, error = ?, duration_ms = ?, guard = coalesce(?, guard)"
        " WHERE run_id = ? AND step_no = ?",
        (status, observation, error, duration_ms, guard, run_id, step_no),
    )
    conn.execute("UPDATE runs SET steps_executed = (SELECT count(*) FROM steps WHERE run_id = ? AND kind = 'tool'"
                 " AND status NOT IN ('pending', 'awaiting_approval')) WHERE id = ?", (run_id, run_id))


def _step(row: sqlite3.Row) -> m.Step:
    raw = row["tool_input"]
    try:
        tool_input = _dec.decode(raw) if raw is not None else None
    except msgspec.DecodeError:
        tool_input = raw  # the model's malformed JSON, kept verbatim
    return m.Step(
        run_id=row["run_id"], step_no=row["step_no"], turn=row["turn"], status=row["status"],
        created_at=iso(row["created_at"]), thought=row["thought"], tool_name=row["tool_name"],
        tool_input=tool_input, tool_call_id=row["tool_call_id"], observation=row["observation"],
        error=row["error"], duration_ms=row["duration_ms"], tokens_in=row["tokens_in"], tokens_out=row["tokens_out"],
        recovered=bool(row["recovered"]),
        kind=row["kind"], guard=row["guard"],
    )


def steps_of(conn: sqlite3.Connection, run_id: str, after: int = 0, limit: int = 100000) -> list[m.Step]:
    return [_step(r) for r in conn.execute(
        "SELECT * FROM steps WHERE run_id = ? AND step_no > ? ORDER BY step_no LIMIT ?", (run_id, after, limit))]


def unfinished_tool_steps(conn: sqlite3.Connection, run_id: str) -> list[tuple[int, str | None, str]]:
    """(step number, tool name, status) of the run's tool calls in flight or waiting for approval."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT step_no, tool_name, status FROM steps WHERE run_id = ? AND status IN ('pending', 'awaiting_approval')",
        (run_id,))]


def step_rows(conn: sqlite3.Connection, run_id: str) -> list[sqlite3.Row]:
    return conn.execute("SELECT * FROM steps WHERE run_id = ? ORDER BY step_no", (run_id,)).fetchall()


# ---------------------------------------------------------------- health


def recent_outcomes(conn: sqlite3.Connection, goal_id: str, window: int) -> list[bool]:
    """For the goal's last ``window`` finished runs (newest first): whether each
    succeeded, i.e. completed after at least one tool step. A completed run
    without any tool step is a false completion of an older version."""
    return [bool(r[0]) for r in conn.execute(
        "SELECT status = 'completed' AND steps_executed > 0 FROM runs"
        " WHERE goal_id = ? AND status IN ('completed', 'failed')"
        " ORDER BY created_at DESC LIMIT ?", (goal_id, window))]


def last_success_at(conn: sqlite3.Connection, goal_id: str) -> int | None:
    """When the goal's last successful run (as in ``recent_outcomes``) ended."""
    return conn.execute("SELECT max(ended_at) FROM runs WHERE goal_id = ? AND status = 'completed'"
                        " AND steps_executed > 0", (goal_id,)).fetchone()[0]


# ---------------------------------------------------------------- outputs


def insert_output(conn: sqlite3.Connection, now: int, run_id: str, kind: str, path_or_payload: str) -> str:
    oid = new_id()
    conn.execute("INSERT INTO outputs (id, run_id, kind, path_or_payload, created_at) VALUES (?, ?, ?, ?, ?)",
                 (oid, run_id, kind, path_or_payload, now))
    return oid


def outputs_of(conn: sqlite3.Connection, run_id: str) -> list[m.Output]:
    return [m.Output(id=r["id"], run_id=r["run_id"], kind=r["kind"], path_or_payload=r["path_or_payload"],
                     created_at=iso(r["created_at"]))
            for r in conn.execute("SELECT * FROM outputs WHERE run_id = ? ORDER BY created_at, id", (run_id,))]
