"""The cost ledger: one row per model call (``model_calls``), and the sums
budgets are checked against.

Money is counted in integer nano-dollars (1e-9 USD), so sums are exact; a
call with no known price has ``cost_nusd`` NULL (it adds nothing to a sum,
and says "unknown" where it is shown). Rows are never deleted with their run
or goal: what was spent stays spent.
"""

from __future__ import annotations

import sqlite3

from ..protocol import methods as m
from ..timeutil import iso

NANO = 1_000_000_000


def usd(nusd: int | None) -> float | None:
    """Nano-dollars as dollars (exact to the nano-dollar in its repr)."""
    return None if nusd is None else nusd / NANO


def insert_call(conn: sqlite3.Connection, now: int, *, run_id: str, goal_id: str, turn: int, model: str,
                tokens_in: int, cached_in: int, tokens_out: int, reasoning: int, cost_nusd: int | None,
                estimated: bool = False) -> None:
    """One model call. ``estimated``: the server reported no usage, so the
    call was charged its worst case."""
    conn.execute(
        "INSERT INTO model_calls (run_id, goal_id, turn, at, model, tokens_in, cached_in, tokens_out, reasoning,"
        " cost_nusd, estimated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (run_id, goal_id, turn, now, model, tokens_in, cached_in, tokens_out, reasoning, cost_nusd, int(estimated)))


def run_spent(conn: sqlite3.Connection, run_id: str) -> int:
    return conn.execute("SELECT coalesce(sum(cost_nusd), 0) FROM model_calls WHERE run_id = ?",
                        (run_id,)).fetchone()[0]


def goal_spent_since(conn: sqlite3.Connection, goal_id: str, since_ms: int) -> int:
    return conn.execute("SELECT coalesce(sum(cost_nusd), 0) FROM model_calls WHERE goal_id = ? AND at >= ?",
                        (goal_id, since_ms)).fetchone()[0]


def all_spent_since(conn: sqlite3.Connection, since_ms: int) -> int:
    return conn.execute("SELECT coalesce(sum(cost_nusd), 0) FROM model_calls WHERE at >= ?",
                        (since_ms,)).fetchone()[0]


def goals_spent_since(conn: sqlite3.Connection, goal_ids: list[str], day_ms: int, month_ms: int
                      ) -> dict[str, tuple[int, int]]:
    """goal id -> (spent since ``day_ms``, spent since ``month_ms``), for
    the goals that spent anything this month (``month_ms <= day_ms``)."""
    out: dict[str, tuple[int, int]] = {}
    for gid in goal_ids:
        day, month = conn.execute(
            "SELECT coalesce(sum(CASE WHEN at >= ? THEN cost_nusd END), 0), coalesce(sum(cost_nusd), 0)"
            " FROM model_calls WHERE goal_id = ? AND at >= ?", (day_ms, gid, month_ms)).fetchone()
        if month:
            out[gid] = (day, month)
    return out


def calls_of(conn: sqlite3.Connection, run_id: str) -> list[m.ModelCall]:
    return [m.ModelCall(turn=r["turn"], at=iso(r["at"]), model=r["model"], tokens_in=r["tokens_in"],
                        cached_in=r["cached_in"], tokens_out=r["tokens_out"], reasoning=r["reasoning"],
                        cost_usd=usd(r["cost_nusd"]), estimated=bool(r["estimated"]))
            for r in conn.execute("SELECT * FROM model_calls WHERE run_id = ? ORDER BY id", (run_id,))]


def run_usage(conn: sqlite3.Connection, run_id: str) -> tuple[int, int, int | None]:
    """(cached prompt tokens, reasoning tokens, cost in nano-dollars or None
    when a call of the run had no price) of a run."""
    cached, reasoning, cost, unpriced = conn.execute(
        "SELECT coalesce(sum(cached_in), 0), coalesce(sum(reasoning), 0), coalesce(sum(cost_nusd), 0),"
        " count(*) - count(cost_nusd) FROM model_calls WHERE run_id = ?", (run_id,)).fetchone()
    return cached, reasoning, (None if unpriced else cost)


def turn_costs(conn: sqlite3.Connection, run_id: str) -> dict[int, int | None]:
    """turn -> the cost of the model call(s) of that turn (None: unpriced)."""
    out: dict[int, int | None] = {}
    for turn, cost, unpriced in conn.execute(
            "SELECT turn, coalesce(sum(cost_nusd), 0), count(*) - count(cost_nusd) FROM model_calls"
            " WHERE run_id = ? GROUP BY turn", (run_id,)):
        out[turn] = None if unpriced else cost
    return out
