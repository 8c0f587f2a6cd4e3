"""A connection that stores text without the secrets agentd holds."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any


class RedactingConnection:
    """A sqlite3 connection whose ``execute``/``executemany`` pass every
    string parameter through ``redact``: what a run journals (steps,
    summaries, errors, outputs, events, working memory) is stored without the
    secrets, whatever store function wrote it. Everything else is the
    connection's own."""

    __slots__ = ("_conn", "_redact")

    def __init__(self, conn: Any, redact: Callable[[str], str]) -> None:
        self._conn = conn
        self._redact = redact

    def _params(self, params: Any) -> Any:
        r = self._redact
        if isinstance(params, dict):
            return {k: r(v) if isinstance(v, str) else v for k, v in params.items()}
        return [r(v) if isinstance(v, str) else v for v in params]

    def execute(self, sql: str, params: Any = ()) -> Any:
        return self._conn.execute(sql, self._params(params))

    def executemany(self, sql: str, rows: Iterable[Any]) -> Any:
        return self._conn.executemany(sql, (self._params(p) for p in rows))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)
