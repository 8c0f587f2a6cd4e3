"""Goals and their schedules."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ..protocol import methods as m
from ..timeutil import iso
from .ids import new_id

_params_dec = msgspec.json.Decoder(m.GoalParams)
_enc = msgspec.json.Encoder()


def insert_goal(conn: sqlite3.Connection, now: int, spec: m.GoalCreate, secret: str) -> str:
    gid = new_id()
    conn.execute(
        "INSERT INTO goals (id, objective, params, webhook_url, status, created_at, updated_at,"
        " name, catchup, catchup_window_s, overlap, webhook_secret)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (gid, spec.objective, _enc.encode(spec.params).decode(), spec.webhook_url,
         "paused" if spec.paused else "active", now, now, spec.name, spec.catchup,
         spec.catchup_window_s, spec.overlap, secret),
    )
    for s in spec.schedules:
        insert_schedule(conn, now, gid, s)
    return gid


def webhook_credentials(conn: sqlite3.Connection) -> list[tuple[str, str | None, str | None]]:
    """(goal id, webhook secret, webhook URL) of every goal: the secrets the
    redactor hides from foreign text."""
    return [(r["id"], r["webhook_secret"], r["webhook_url"])
            for r in conn.execute("SELECT id, webhook_secret, webhook_url FROM goals")]


def insert_schedule(conn: sqlite3.Connection, now: int, goal_id: str, s: m.ScheduleSpec) -> str:
    sid = new_id()
    conn.execute(
        "INSERT INTO schedules (id, goal_id, cron_expr, timezone, active, created_at) VALUES (?, ?, ?, ?, 1, ?)",
        (sid, goal_id, s.cron, s.timezone, now),
    )
    return sid


def replace_schedules(conn: sqlite3.Connection, now: int, goal_id: str, specs: list[m.ScheduleSpec]) -> None:
    """Make the goal's schedules exactly ``specs``. A schedule whose cron and
    timezone are unchanged keeps its id, and with it its tick history (so a
    goal edit does not reset catch-up)."""
    existing = {(r["cron_expr"], r["timezone"]): r["id"] for r in conn.execute(
        "SELECT id, cron_expr, timezone FROM schedules WHERE goal_id = ?", (goal_id,))}
    wanted = {(s.cron, s.timezone): s for s in specs}
    for key, sid in existing.items():
        if key not in wanted:
            conn.execute("DELETE FROM schedules WHERE id = ?", (sid,))
    for key, s in wanted.items():
        if key not in existing:
            insert_schedule(conn, now, goal_id, s)


def _schedule(row: sqlite3.Row) -> m.Schedule:
    return m.Schedule(id=row["id"], cron=row["cron_expr"], timezone=row["timezone"],
                      active=bool(row["active"]), created_at=iso(row["created_at"]))


def schedules_of(conn: sqlite3.Connection, goal_id: str) -> list[m.Schedule]:
    return [_schedule(r) for r in conn.execute(
        "SELECT * FROM schedules WHERE goal_id = ? ORDER BY created_at, rowid", (goal_id,))]


def _goal(row: sqlite3.Row, schedules: list[m.Schedule], *, secrets: bool = False) -> m.Goal:
    return m.Goal(
        id=row["id"], objective=row["objective"], status=row["status"],
        params=_params_dec.decode(row["params"]), created_at=iso(row["created_at"]),
        updated_at=iso(row["updated_at"]), name=row["name"], webhook_url=row["webhook_url"],
        schedules=schedules, catchup=row["catchup"], catchup_window_s=row["catchup_window_s"],
        overlap=row["overlap"], webhook_secret=row["webhook_secret"] if secrets else None,
    )


def get_goal(conn: sqlite3.Connection, goal_id: str, *, secrets: bool = False) -> m.Goal:
    row = conn.execute("SELECT * FROM goals WHERE id = ?", (goal_id,)).fetchone()
    if row is None:
        from ..protocol.errors import NotFound

        raise NotFound(f"no goal with id {goal_id}", noun="goal", id=goal_id)
    return _goal(row, schedules_of(conn, goal_id), secrets=secrets)


def goal_row(conn: sqlite3.Connection, goal_id: str) -> sqlite3.Row | None:
    return conn.execute("SELECT * FROM goals WHERE id = ?", (goal_id,)).fetchone()


def list_goals(conn: sqlite3.Connection, status: str | None, limit: int, offset: int) -> tuple[list[m.Goal], int]:
    where, args = ("WHERE status = ?", [status]) if status else ("", [])
    total = conn.execute(f"SELECT count(*) FROM goals {where}", args).fetchone()[0]
    rows = conn.execute(
        f"SELECT * FROM goals {where} ORDER BY created_at DESC, rowid DESC LIMIT ? OFFSET ?", [*args, limit, offset]
    ).fetchall()
    by_goal: dict[str, list[m.Schedule]] = {r["id"]: [] for r in rows}
    if rows:
        marks = ",".join("?" * len(rows))
        for s in conn.execute(
            f"SELECT * FROM schedules WHERE goal_id IN ({marks}) ORDER BY created_at, rowid", list(by_goal)
        ):
            by_goal[s["goal_id"]].append(_schedule(s))
    return [_goal(r, by_goal[r["id"]]) for r in rows], total


_PARAM_FIELDS = {f for f in m.GoalParams.__struct_fields__}
_COLUMN_FIELDS = {"objective", "name", "webhook_url", "catchup", "catchup_window_s", "overlap"}


def update_goal(conn: sqlite3.Connection, now: int, goal_id: str, patch: m.GoalUpdate) -> None:
    row = conn.execute("SELECT params FROM goals WHERE id = ?", (goal_id,)).fetchone()
    params = msgspec.to_builtins(_params_dec.decode(row["params"]))
    sets: dict[str, Any] = {}
    for field in patch.__struct_fields__:
        value = getattr(patch, field)
        if value is msgspec.UNSET or field == "id":
            continue
        if field in _PARAM_FIELDS:
            params[field] = value
        elif field in _COLUMN_FIELDS:
            sets[field] = value
    sets["params"] = _enc.encode(msgspec.convert(params, m.GoalParams)).decode()
    sets["updated_at"] = now
    assignments = ", ".join(f"{k} = ?" for k in sets)
    conn.execute(f"UPDATE goals SET {assignments} WHERE id = ?", [*sets.values(), goal_id])
    if patch.schedules is not msgspec.UNSET:
        replace_schedules(conn, now, goal_id, patch.schedules)


def set_status(conn: sqlite3.Connection, now: int, goal_id: str, status: str) -> None:
    conn.execute("UPDATE goals SET status = ?, updated_at = ? WHERE id = ?", (status, now, goal_id))


def delete_goal(conn: sqlite3.Connection, goal_id: str) -> bool:
    return conn.execute("DELETE FROM goals WHERE id = ?", (goal_id,)).rowcount > 0


def counts_by_status(conn: sqlite3.Connection, table: str) -> dict[str, int]:
    return {r[0]: r[1] for r in conn.execute(f"SELECT status, count(*) FROM {table} GROUP BY status")}


def active_schedules(conn: sqlite3.Connection) -> list[sqlite3.Row]:
    """Every active schedule of an active or paused goal, with the goal's
    policies and the due time of its last recorded tick."""
    return conn.execute(
        "SELECT s.id AS schedule_id, s.goal_id, s.cron_expr, s.timezone, s.created_at,"
        " g.status AS goal_status, g.catchup, g.catchup_window_s, g.overlap,"
        " (SELECT max(due_at) FROM ticks t WHERE t.schedule_id = s.id) AS last_due"
        " FROM schedules s JOIN goals g ON g.id = s.goal_id"
        " WHERE s.active = 1 AND g.status IN ('active', 'paused')"
    ).fetchall()


def due_schedules_of(conn: sqlite3.Connection, goal_id: str) -> list[tuple[str, str, int]]:
    """(cron, zone, created at) of the goal's active schedules; none when the
    goal itself is not active."""
    return [(r[0], r[1], r[2]) for r in conn.execute(
        "SELECT s.cron_expr, s.timezone, s.created_at FROM schedules s JOIN goals g ON g.id = s.goal_id"
        " WHERE s.goal_id = ? AND s.active = 1 AND g.status = 'active'", (goal_id,))]


def scheduled_active_goals(conn: sqlite3.Connection) -> list[str]:
    """Ids of the active goals with at least one active schedule."""
    return [r[0] for r in conn.execute(
        "SELECT DISTINCT g.id FROM goals g JOIN schedules s ON s.goal_id = g.id"
        " WHERE g.status = 'active' AND s.active = 1")]
