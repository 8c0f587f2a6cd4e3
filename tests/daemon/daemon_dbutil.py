"""Helpers for the daemon suite: read a daemon's SQLite file read-only."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path


def ro(db: Path) -> sqlite3.Connection:
    """A read-only connection to a daemon's database file (close it)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    conn.row_factory = sqlite3.Row
    return conn


def count(db: Path, table: str, where: str = "", args: tuple = ()) -> int:
    with closing(ro(db)) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} {where}", args).fetchone()[0]


def counts(db: Path, tables=("goals", "schedules", "runs", "steps", "outputs", "memories", "ticks",
                             "side_effects", "events")) -> dict[str, int]:
    return {t: count(db, t) for t in tables}


def integrity_ok(db: Path) -> bool:
    with closing(ro(db)) as conn:
        return conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
