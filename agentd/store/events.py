"""The per-run event journal (gap-free sequence numbers)."""

from __future__ import annotations

import sqlite3

import msgspec

from ..protocol.events import Event

_enc = msgspec.json.Encoder()
_dec = msgspec.json.Decoder(Event)


def append(conn: sqlite3.Connection, now: int, run_id: str, events: list[Event]) -> int:
    """Journal ``events`` for the run; returns the seq of the first one."""
    row = conn.execute("SELECT last_seq FROM runs WHERE id = ?", (run_id,)).fetchone()
    if row is None:
        return 0
    first = row[0] + 1
    conn.executemany(
        "INSERT INTO events (run_id, seq, at, type, data) VALUES (?, ?, ?, ?, ?)",
        [(run_id, first + i, now, type(ev).__struct_config__.tag, _enc.encode(ev)) for i, ev in enumerate(events)],
    )
    conn.execute("UPDATE runs SET last_seq = ? WHERE id = ?", (first + len(events) - 1, run_id))
    return first


def after(conn: sqlite3.Connection, run_id: str, since: int, limit: int = 100000) -> list[tuple[int, int, Event]]:
    return [(r[0], r[1], _dec.decode(r[2])) for r in conn.execute(
        "SELECT seq, at, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?", (run_id, since, limit))]

