"""The SQLite store: one file, one writer.

- ``journal_mode=WAL``, ``foreign_keys=ON``, ``busy_timeout``.
- Durability: ``synchronous=NORMAL`` by default. In WAL mode a commit is then
  durable across a crash of the daemon (SIGKILL, OOM, a bug): the WAL is in
  the OS page cache and is replayed at the next open. On power loss or a
  kernel crash the last commits may roll back (the file stays consistent, it
  is never corrupted); a run then resumes from an earlier committed step.
  Ledger intents are the exception: they are always committed with
  ``synchronous=FULL`` (``write(..., durable=True)``), so an intent survives
  power loss too and a webhook or email is never attempted twice.
  ``FULL`` for everything also syncs the WAL on every commit, so nothing committed is lost
  even on power loss, at the cost of an fsync per write: set it with
  ``[daemon] synchronous = "full"`` in config.toml.
- WAL checkpoints every ``WAL_CHECKPOINT_PAGES`` pages of WAL (~40 MB),
  not SQLite's default 1,000: a checkpoint fsyncs the WAL and the database
  (at ``NORMAL`` too) and stalls the write that triggers it for milliseconds
  to tens of milliseconds; a run writes ~20 pages per tool step, so at the
  default every run of a few dozen steps met one. The WAL file keeps its
  size between checkpoints and is removed when the daemon closes the store.
- Every write is a function ``fn(conn, *args)`` run inside ``BEGIN IMMEDIATE``
  on the one writer connection, in a worker thread (``await store.write``), so
  a slow commit or a WAL checkpoint never blocks the trio loop. One write at
  a time, in the order they were submitted, never interleaved.
- Reads use a second connection on the loop thread (``store.read``): WAL lets
  them run beside the writer, and small indexed reads cost less than a thread
  hop. A read always sees every write whose ``await`` has returned.

Failure: a write that fails rolls back entirely and raises; "disk full" and
"read-only" become ``StoreUnavailable`` and flip ``store.writable`` to False
(reported by daemon.status) until a later write succeeds.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from .. import log
from ..protocol.errors import ConfigError, StoreError, StoreUnavailable
from .schema import LATEST, MIGRATIONS

T = TypeVar("T")
_log = log.get("agentd.store")

WAL_CHECKPOINT_PAGES = 10_000  # see the module docstring; figures in bench/README.md
_UNAVAILABLE_HINTS = ("disk is full", "readonly", "read-only", "disk i/o error", "unable to open")


def _connect(path: Path, *, synchronous: str, readonly: bool = False) -> sqlite3.Connection:
    if readonly:  # immutable: the file (or its directory) cannot be written, not even a -shm beside it
        conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False)
    else:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA busy_timeout = 5000")
    conn.execute("PRAGMA foreign_keys = ON")
    if not readonly:
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if mode.lower() != "wal":
            raise StoreError(f"{path}: could not switch the database to WAL mode (got {mode})")
    conn.execute(f"PRAGMA synchronous = {synchronous.upper()}")
    if not readonly:
        conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_CHECKPOINT_PAGES}")
    return conn


def _split(script: str) -> list[str]:
    statements, buf = [], ""
    for line in script.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                statements.append(buf.strip())
            buf = ""
    if buf.strip():
        raise ValueError(f"incomplete SQL statement in migration: {buf[:80]!r}")
    return statements


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


def migrate(conn: sqlite3.Connection, *, target: int = LATEST) -> list[int]:
    """Apply the migrations from the file's version up to ``target``, each in
    its own transaction with its user_version bump. Returns the versions
    reached. Raises ConfigError if the file is newer than this code (a
    configuration problem: the daemon exits 3 and systemd does not restart it)."""
    current = schema_version(conn)
    if current > LATEST:
        raise ConfigError(
            f"the database is at schema version {current}, newer than this agentd "
            f"understands ({LATEST}); upgrade agentd or point --db at another file",
            version=current,
        )
    applied = []
    for version in range(current, target):
        name, script = MIGRATIONS[version]
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _split(script):
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version + 1}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        applied.append(version + 1)
    return applied


def _classify(exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if isinstance(exc, sqlite3.OperationalError) and any(h in text.lower() for h in _UNAVAILABLE_HINTS):
        return StoreUnavailable(f"the database cannot be written: {text}", reason=text)
    return StoreError(f"database error: {text}", reason=text)


class Store:
    """The daemon's one SQLite file. See the module docstring."""

    def __init__(self, path: Path, *, synchronous: str = "normal") -> None:
        self.path = Path(path)
        self.synchronous = synchronous
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fresh = not self.path.exists()
        self._lock = threading.Lock()  # the writer connection: never used by two threads at once
        self._turn: Any = None  # trio.Lock: whose write runs next, first come first served (``write``)
        self.writable = True
        self.last_write_error: str | None = None
        self.read_only = False
        self._writer = None
        try:
            self._writer = _connect(self.path, synchronous=synchronous)
            if fresh:
                os.chmod(self.path, 0o600)
            migrate(self._writer)
        except BaseException as exc:
            if self._writer is not None:
                self._writer.close()
                self._writer = None
            if not isinstance(exc, sqlite3.OperationalError):
                raise
            if fresh or not any(h in str(exc).lower() for h in ("readonly", "read-only", "unable to open")):
                raise _classify(exc) from exc
            self._open_read_only(str(exc))
            return
        self._reader = _connect(self.path, synchronous=synchronous)

    def _new_reader(self) -> sqlite3.Connection:
        return _connect(self.path, synchronous=self.synchronous, readonly=self.read_only)

    def _open_read_only(self, why: str) -> None:
        """The file (or its filesystem) cannot be written: serve reads only.
        Every write raises StoreUnavailable; daemon.status says why."""
        self._writer = None
        self.read_only = True
        conn = self._new_reader()
        version = schema_version(conn)
        if version != LATEST:
            conn.close()
            raise StoreError(f"{self.path} is read-only and at schema version {version}, not {LATEST}; "
                             f"it cannot be migrated. Make it writable, then start agentd again")
        self._reader = conn
        self.writable = False
        self.last_write_error = f"the database is read-only ({why}); make {self.path} and its directory writable"

    # -- reads: on the calling thread, second connection
    def read(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        try:
            return fn(self._reader, *args, **kwargs)
        except sqlite3.Error as exc:
            raise _classify(exc) from exc

    # -- writes: BEGIN IMMEDIATE on the writer connection
    def write_sync(self, fn: Callable[..., T], *args: Any, durable: bool = False, **kwargs: Any) -> T:
        """Run ``fn(conn, *args)`` in one IMMEDIATE transaction, here and now.
        For start-up, recovery and tests; the daemon's loop uses ``write``.

        ``durable=True`` commits this one transaction with ``synchronous=FULL``
        (the WAL is fsync'd before COMMIT returns), whatever the store's
        setting: for ledger intents, which must survive even a power loss
        because the send that follows cannot be taken back."""
        with self._writing(durable) as conn:
            return self._transaction(conn, fn, args, kwargs)

    @contextlib.contextmanager
    def _writing(self, durable: bool) -> Iterator[sqlite3.Connection]:
        """The writer connection, held; with ``synchronous=FULL`` for the time
        being if ``durable``. StoreUnavailable if the store is read-only."""
        with self._lock:
            conn = self._writer
            if conn is None:
                raise StoreUnavailable(self.last_write_error or "the database is read-only", reason="read-only")
            full = durable and self.synchronous.lower() != "full"
            if full:
                conn.execute("PRAGMA synchronous = FULL")
            try:
                yield conn
            finally:
                if full:
                    conn.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")

    def _transaction(self, conn: sqlite3.Connection, fn: Callable[..., T], args: tuple, kwargs: dict) -> T:
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise self._failed(exc) from exc
        try:
            result = fn(conn, *args, **kwargs)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            self._rollback()
            raise self._failed(exc) from exc
        except BaseException:
            self._rollback()
            raise
        if not self.writable:
            self.writable, self.last_write_error = True, None
        return result

    async def write(self, fn: Callable[..., T], *args: Any, durable: bool = False,
                    after: Callable[[T], None] | None = None, **kwargs: Any) -> T:
        """Run ``fn(conn, *args)`` in one IMMEDIATE transaction in a worker
        thread (``write_sync`` there), and return its result once committed.

        One write at a time, in the order they were submitted (trio's Lock is
        fair). ``after(result)``, if given, runs on the trio thread right after
        the commit and before the next write starts, so what must follow
        commits in their order -- events published to watchers -- goes there,
        not after the ``await``. A failing ``after`` is logged, never raised:
        the write is committed.

        Cancellation: a write still waiting for its turn can be cancelled (it
        is then never run); once its thread started, it runs to its end (and
        its ``after``), and the cancellation takes effect after.
        """
        import trio

        if kwargs:
            fn = functools.partial(fn, **kwargs)
        if self._turn is None:
            self._turn = trio.Lock()
        async with self._turn:
            result = await trio.to_thread.run_sync(functools.partial(self.write_sync, fn, *args, durable=durable))
            if after is not None:
                try:
                    after(result)
                except Exception as exc:  # a bug in a callback must not stall the store
                    _log.error("after-commit callback failed", exc_info=exc)
        return result

    def _rollback(self) -> None:
        if self._writer is None:
            return
        try:
            self._writer.execute("ROLLBACK")
        except sqlite3.Error:
            pass

    def _failed(self, exc: sqlite3.Error) -> StoreError:
        err = _classify(exc)
        if isinstance(err, StoreUnavailable):
            self.writable = False
            self.last_write_error = err.message
        return err

    def integrity_check(self) -> str:
        return self._reader.execute("PRAGMA integrity_check").fetchone()[0]

    def close(self) -> None:
        for conn in (self._reader, self._writer):
            if conn is None:
                continue
            try:
                conn.close()
            except sqlite3.Error:
                pass
