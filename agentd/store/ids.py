"""Ids, id-prefix resolution, and goal references (an id, a prefix or a name)."""

from __future__ import annotations

import secrets
import sqlite3

from ..protocol.errors import AmbiguousId, NotFound, ValidationFailed

ID_CHARS = set("0123456789abcdef")
ID_LEN = 12


def new_id() -> str:
    """12 random hex digits: short enough to type a prefix of, 48 bits."""
    return secrets.token_hex(ID_LEN // 2)


_TABLES = {"goal": "goals", "run": "runs", "memory": "memories"}


def resolve(conn: sqlite3.Connection, noun: str, ref: str) -> str:
    """The full id of the ``noun`` whose id is ``ref`` or starts with it; for
    goals, ``ref`` may also be a goal's name (see :func:`resolve_goal`).

    Raises NotFound (no match), AmbiguousId (several; data.candidates lists up
    to 10), ValidationFailed (not an id-shaped string)."""
    if noun == "goal":
        return resolve_goal(conn, ref)
    return _resolve_id(conn, noun, ref)


def resolve_goal(conn: sqlite3.Connection, ref: str) -> str:
    """The goal that ``ref`` names: a full id, then an exact name, then a
    unique id prefix. So a name wins over an id prefix it happens to spell
    (``cafe``), and a full id always means that goal.

    Raises AmbiguousId when several goals have that name or share that prefix
    (``data.candidates``: their ids; ``data.names``: id -> name), NotFound when
    nothing matches, ValidationFailed when ``ref`` is empty."""
    raw = ref.strip()
    if not raw:
        raise ValidationFailed("a goal id or name is required", field="id", value=ref)
    low = raw.lower()
    id_shaped = set(low) <= ID_CHARS and len(low) <= ID_LEN
    if len(low) == ID_LEN and id_shaped and conn.execute("SELECT 1 FROM goals WHERE id = ?", (low,)).fetchone():
        return low
    named = conn.execute("SELECT id, name FROM goals WHERE name = ? ORDER BY created_at, id LIMIT 11",
                         (raw,)).fetchall()
    if len(named) == 1:
        return named[0][0]
    if named:
        raise AmbiguousId(
            f"{len(named) if len(named) <= 10 else 'more than 10'} goals are named {raw!r}; use the id of the one "
            f"you mean", noun="goal", id=raw, candidates=[r[0] for r in named[:10]],
            names={r[0]: r[1] for r in named[:10]})
    if not id_shaped:
        raise NotFound(f"no goal has the id or name {raw!r} (see `agentctl goal list`)", noun="goal", id=raw)
    try:
        return _resolve_id(conn, "goal", low)
    except AmbiguousId as exc:
        ids = exc.data.get("candidates") or []
        marks = ",".join("?" * len(ids))
        exc.data["names"] = {r[0]: r[1] for r in conn.execute(
            f"SELECT id, name FROM goals WHERE id IN ({marks}) AND name IS NOT NULL", ids)}
        raise
    except NotFound:
        raise NotFound(f"no goal has the id or name {raw!r}, and no goal id starts with it", noun="goal",
                       id=raw) from None


def _resolve_id(conn: sqlite3.Connection, noun: str, ref: str) -> str:
    ref = ref.strip().lower()
    if not ref or not set(ref) <= ID_CHARS or len(ref) > ID_LEN:
        raise ValidationFailed(f"{ref!r} is not a {noun} id (ids are up to {ID_LEN} hex digits)", field="id", value=ref)
    table = _TABLES[noun]
    if len(ref) == ID_LEN:
        if conn.execute(f"SELECT 1 FROM {table} WHERE id = ?", (ref,)).fetchone():
            return ref
        raise NotFound(f"no {noun} with id {ref}", noun=noun, id=ref)
    rows = conn.execute(
        f"SELECT id FROM {table} WHERE id >= ? AND id < ? ORDER BY id LIMIT 11", (ref, ref + "~")
    ).fetchall()
    if not rows:
        raise NotFound(f"no {noun} id starts with {ref!r}", noun=noun, id=ref)
    if len(rows) > 1:
        candidates = [r[0] for r in rows[:10]]
        raise AmbiguousId(
            f"{ref!r} matches {len(rows) if len(rows) <= 10 else 'more than 10'} {noun}s; type more of the id",
            noun=noun, id=ref, candidates=candidates,
        )
    return rows[0][0]
