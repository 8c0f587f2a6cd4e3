"""A goal's long-term memories."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from ..protocol.errors import NotFound
from ..protocol import methods as m
from ..timeutil import iso
from .ids import new_id

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder()


def insert(conn: sqlite3.Connection, now: int, goal_id: str, type: str, content: str,
           metadata: dict[str, Any] | None) -> str:
    mid = new_id()
    conn.execute("INSERT INTO memories (id, goal_id, type, content, metadata, created_at) VALUES (?, ?, ?, ?, ?, ?)",
                 (mid, goal_id, type, content, None if metadata is None else _enc.encode(metadata).decode(), now))
    return mid


def _memory(r: sqlite3.Row) -> m.Memory:
    return m.Memory(id=r["id"], goal_id=r["goal_id"], type=r["type"], content=r["content"],
                    created_at=iso(r["created_at"]), metadata=_dec.decode(r["metadata"]) if r["metadata"] else None)


def get(conn: sqlite3.Connection, memory_id: str) -> m.Memory:
    r = conn.execute("SELECT * FROM memories WHERE id = ?", (memory_id,)).fetchone()
    if r is None:
        raise NotFound(f"no memory with id {memory_id}", noun="memory", id=memory_id)
    return _memory(r)


def list_(conn: sqlite3.Connection, goal_id: str, type: str | None, limit: int) -> list[m.Memory]:
    where, args = "goal_id = ?", [goal_id]
    if type:
        where += " AND type = ?"
        args.append(type)
    return [_memory(r) for r in conn.execute(
        f"SELECT * FROM memories WHERE {where} ORDER BY created_at DESC, id LIMIT ?", [*args, limit])]


def search(conn: sqlite3.Connection, goal_id: str, query: str, limit: int) -> list[m.Memory]:
    """Memories ranked by how many of the query's words they contain, newest
    first among equals. Plain and predictable; no embeddings here."""
    words = [w for w in {w.lower() for w in query.split()} if len(w) > 2][:12]
    rows = conn.execute("SELECT * FROM memories WHERE goal_id = ? ORDER BY created_at DESC LIMIT 2000", (goal_id,)).fetchall()
    if not words:
        return [_memory(r) for r in rows[:limit]]
    scored = []
    for i, r in enumerate(rows):
        text = r["content"].lower()
        score = sum(1 for w in words if w in text)
        if score:
            scored.append((-score, i, r))
    scored.sort(key=lambda t: (t[0], t[1]))
    return [_memory(r) for _, _, r in scored[:limit]]


def delete(conn: sqlite3.Connection, memory_id: str) -> bool:
    return conn.execute("DELETE FROM memories WHERE id = ?", (memory_id,)).rowcount > 0
