"""Ids and id-prefix resolution."""

from __future__ import annotations

import secrets
import sqlite3

from ..errors import AmbiguousId, NotFound, ValidationFailed

ID_CHARS = set("0123456789abcdef")
ID_LEN = 12


def new_id() -> str:
    """12 random hex digits: short enough to type a prefix of, 48 bits."""
    return secrets.token_hex(ID_LEN // 2)


_TABLES = {"goal": "goals", "run": "runs", "memory": "memories"}


def resolve(conn: sqlite3.Connection, noun: str, ref: str) -> str:
    """The full id of the ``noun`` whose id is ``ref`` or starts with it.

    Raises NotFound (no match), AmbiguousId (several; data.candidates lists up
    to 10), ValidationFailed (not an id-shaped string)."""
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
