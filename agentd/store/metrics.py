"""The metric counters' totals that survive restarts (``metric_totals``)."""

from __future__ import annotations

import sqlite3


def add_totals(conn: sqlite3.Connection, deltas: dict[str, float]) -> None:
    """Add each counter's growth to its stored total (a new name starts at 0)."""
    conn.executemany("INSERT INTO metric_totals (name, value) VALUES (?, ?)"
                     " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value", list(deltas.items()))


def totals(conn: sqlite3.Connection) -> dict[str, float]:
    return {r[0]: r[1] for r in conn.execute("SELECT name, value FROM metric_totals")}
