"""Store migrations (agentd.store.schema.MIGRATIONS applied by
agentd.store.db.migrate/Store): from an empty file, from every older version
with rows in it, a file newer than the code, a migration failing midway; and
the connection settings (WAL, foreign keys, busy_timeout)."""

from __future__ import annotations

import sqlite3
import stat
from contextlib import closing
from pathlib import Path

import pytest

from agentd.store import db as dbmod
from agentd.store import goals as goals_q
from agentd.store import runs as runs_q
from agentd.store.db import WAL_CHECKPOINT_PAGES, Store, migrate, schema_version
from agentd.store.schema import LATEST, MIGRATIONS
from agentd.protocol.errors import ConfigError, StoreError

pytestmark = pytest.mark.timeout(30)

NOW = 1_763_740_800_000  # epoch ms


def raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def schema_of(path: Path) -> list[tuple]:
    with closing(sqlite3.connect(path)) as conn:
        return sorted(conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"))


def seed(conn: sqlite3.Connection, version: int) -> None:
    """Rows that are valid at ``version``: every table that exists then."""
    ex = conn.execute
    ex("BEGIN")
    ex("INSERT INTO goals (id, objective, params, webhook_url, status, created_at, updated_at)"
       " VALUES ('a00000000001', 'old goal', '{\"step_budget\": 7}', 'https://example.com/h', 'paused', ?, ?)",
       (NOW, NOW))
    ex("INSERT INTO schedules (id, goal_id, cron_expr, timezone, active, created_at)"
       " VALUES ('5c0000000001', 'a00000000001', '0 9 * * 1', 'Europe/Paris', 1, ?)", (NOW,))
    ex("INSERT INTO runs (id, goal_id, status, scheduled_at, started_at, ended_at, working_memory, step_budget,"
       " steps_executed, error, created_at) VALUES ('b00000000001', 'a00000000001', 'completed', ?, ?, ?,"
       " '{\"k\": 1}', 7, 2, NULL, ?)", (NOW, NOW + 1, NOW + 2, NOW))
    for no in (1, 2):
        ex("INSERT INTO steps (id, run_id, step_no, thought, tool_name, tool_input, observation, duration_ms,"
           " error, created_at) VALUES (?, 'b00000000001', ?, 'think', 'web_search', '{\"query\": \"q\"}',"
           " 'seen', 12.5, NULL, ?)", (f"c0000000000{no}", no, NOW))
    ex("INSERT INTO outputs (id, run_id, kind, path_or_payload, created_at)"
       " VALUES ('d00000000001', 'b00000000001', 'summary', 'runs/b00000000001/summary.md', ?)", (NOW,))
    ex("INSERT INTO memories (id, goal_id, type, content, metadata, created_at)"
       " VALUES ('e00000000001', 'a00000000001', 'fact', 'the sky is blue', NULL, ?)", (NOW,))
    if version >= 2:
        ex("UPDATE goals SET name = 'named', overlap = 'queue' WHERE id = 'a00000000001'")
        ex("UPDATE runs SET trigger = 'schedule', tokens_in = 5 WHERE id = 'b00000000001'")
        ex("INSERT INTO ticks (schedule_id, goal_id, due_at, decision, run_id, recorded_at)"
           " VALUES ('5c0000000001', 'a00000000001', ?, 'fired', 'b00000000001', ?)", (NOW, NOW))
        ex("INSERT INTO side_effects (id, run_id, goal_id, kind, idempotency_key, target, status, created_at,"
           " updated_at) VALUES ('f00000000001', 'b00000000001', 'a00000000001', 'webhook', 'key-1',"
           " 'https://example.com/h', 'delivered', ?, ?)", (NOW, NOW))
    if version >= 3:
        ex("INSERT INTO events (run_id, seq, at, type, data) VALUES ('b00000000001', 1, ?, 'run_started', '{}')",
           (NOW,))
        ex("UPDATE runs SET last_seq = 1 WHERE id = 'b00000000001'")
    ex("COMMIT")


def test_there_is_more_than_one_migration():
    assert LATEST == len(MIGRATIONS) >= 2
    assert all(isinstance(name, str) and script.strip() for name, script in MIGRATIONS)


def test_from_an_empty_file(tmp_path):
    path = tmp_path / "agentd.db"
    store = Store(path)
    try:
        assert store.read(schema_version) == LATEST
        tables = {r[0] for r in store.read(lambda c: c.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall())}
        assert {"goals", "schedules", "runs", "steps", "outputs", "memories", "ticks", "side_effects",
                "events"} <= tables
        indexes = {r[0] for r in store.read(lambda c: c.execute("SELECT name FROM sqlite_master WHERE type='index'").fetchall())}
        assert {"goals_status_created", "schedules_active_goal", "runs_status_scheduled_goal", "steps_run_step",
                "outputs_run_kind", "memories_goal_type_created"} <= indexes
        # connection settings, on the reader and on the writer
        for run in (store.read, store.write_sync):
            assert run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
            assert run(lambda c: c.execute("PRAGMA foreign_keys").fetchone()[0]) == 1
            assert run(lambda c: c.execute("PRAGMA busy_timeout").fetchone()[0]) >= 1000
        # the writer checkpoints (two fsyncs) every WAL_CHECKPOINT_PAGES pages, not SQLite's default 1,000
        assert store.write_sync(lambda c: c.execute("PRAGMA wal_autocheckpoint").fetchone()[0]) == \
            WAL_CHECKPOINT_PAGES > 1000
        assert store.integrity_check() == "ok"
    finally:
        store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with closing(sqlite3.connect(path)) as conn:  # WAL is a property of the file
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # opening again is a no-op
    Store(path).close()
    with closing(sqlite3.connect(path)) as conn:
        assert schema_version(conn) == LATEST


@pytest.mark.parametrize("version", range(1, LATEST))
def test_from_each_older_version(tmp_path, version):
    path = tmp_path / f"v{version}.db"
    with closing(raw(path)) as conn:
        assert migrate(conn, target=version) == list(range(1, version + 1))
        assert schema_version(conn) == version
        seed(conn, version)
    store = Store(path)
    try:
        assert store.read(schema_version) == LATEST
        q = lambda sql: store.read(lambda c: c.execute(sql).fetchone())  # noqa: E731
        for table, n in (("goals", 1), ("schedules", 1), ("runs", 1), ("steps", 2), ("outputs", 1),
                         ("memories", 1)):
            assert q(f"SELECT count(*) FROM {table}")[0] == n, table
        goal = q("SELECT * FROM goals")
        assert goal["objective"] == "old goal" and goal["status"] == "paused"
        run = q("SELECT * FROM runs")
        step = q("SELECT * FROM steps WHERE step_no = 1")
        assert step["tool_input"] == '{"query": "q"}' and step["duration_ms"] == 12.5
        if version < 2:  # columns added by v2 have their defaults
            assert goal["name"] is None and goal["catchup"] == "latest" and goal["overlap"] == "skip"
            assert goal["catchup_window_s"] == 86400 and goal["webhook_secret"] is None
            assert run["trigger"] == "manual" and run["tokens_in"] == 0 and run["tokens_out"] == 0
            assert run["recoveries"] == 0 and run["budget_exhausted"] == 0 and run["summary"] is None
            assert step["turn"] == 0 and step["kind"] == "tool" and step["status"] == "ok"
            assert step["tool_call_id"] is None and step["tokens_in"] == 0
            assert q("SELECT count(*) FROM ticks")[0] == 0
        else:
            assert goal["name"] == "named" and goal["overlap"] == "queue" and run["trigger"] == "schedule"
            assert q("SELECT count(*) FROM ticks")[0] == 1 and q("SELECT count(*) FROM side_effects")[0] == 1
        if version < 3:
            assert run["last_seq"] == 0 and q("SELECT count(*) FROM events")[0] == 0
        # the code reads the old rows
        g = store.read(goals_q.get_goal, "a00000000001")
        assert g.params.step_budget == 7 and g.params.allowed_tools is None
        assert [(s.cron, s.timezone) for s in g.schedules] == [("0 9 * * 1", "Europe/Paris")]
        r = store.read(runs_q.get_run, "b00000000001")
        assert r.status == "completed" and r.working_memory == {"k": 1} and r.steps_executed == 2
        # foreign keys hold across the migration: deleting the goal takes everything
        store.write_sync(goals_q.delete_goal, "a00000000001")
        for table in ("goals", "schedules", "runs", "steps", "outputs", "memories", "ticks", "side_effects",
                      "events"):
            assert q(f"SELECT count(*) FROM {table}")[0] == 0, table
        assert store.integrity_check() == "ok"
        assert store.read(lambda c: c.execute("PRAGMA foreign_key_check").fetchall()) == []
    finally:
        store.close()
    fresh = tmp_path / "fresh.db"
    Store(fresh).close()
    assert schema_of(path) == schema_of(fresh)  # same schema as a file made new


def test_a_file_newer_than_the_code_is_refused(tmp_path):
    path = tmp_path / "future.db"
    with closing(raw(path)) as conn:
        migrate(conn)
        conn.execute(f"PRAGMA user_version = {LATEST + 1}")
    with pytest.raises(ConfigError) as info:
        Store(path)
    assert f"schema version {LATEST + 1}" in info.value.message and "newer" in info.value.message
    with closing(raw(path)) as conn:
        assert schema_version(conn) == LATEST + 1  # untouched


def test_the_daemon_refuses_a_newer_file(make_daemon, tmp_path):
    path = tmp_path / "future.db"
    with closing(raw(path)) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST + 5}")
    d = make_daemon(start=False, args=["--db", str(path)])
    d.start(expect_ready=False)
    code = d.wait(20)
    assert code == 3  # a configuration error: systemd's RestartPreventExitStatus stops the restarts
    assert "newer than this agentd" in d.log() and "upgrade agentd" in d.log()
    assert not d.socket.exists()


@pytest.mark.parametrize("start", range(0, LATEST))
def test_a_failing_migration_leaves_the_previous_version(tmp_path, monkeypatch, start):
    path = tmp_path / "m.db"
    with closing(raw(path)) as conn:
        migrate(conn, target=start)
        if start:
            seed(conn, start)
    before = schema_of(path)
    name, script = MIGRATIONS[start]
    broken = list(MIGRATIONS)
    broken[start] = (name, script + "\nCREATE TABLE half_done (x INTEGER);\nINSERT INTO no_such_table VALUES (1);\n")
    monkeypatch.setattr(dbmod, "MIGRATIONS", broken)
    with pytest.raises((sqlite3.OperationalError, StoreError), match="no_such_table"):
        Store(path)
    with closing(raw(path)) as conn:
        assert schema_version(conn) == start
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        if start:
            assert conn.execute("SELECT count(*) FROM goals").fetchone()[0] == 1
    assert schema_of(path) == before  # not one statement of the failed migration stayed
    # with the real list the same file migrates fine
    monkeypatch.setattr(dbmod, "MIGRATIONS", MIGRATIONS)
    store = Store(path)
    try:
        assert store.read(schema_version) == LATEST
    finally:
        store.close()


def test_migrations_run_one_transaction_each(tmp_path, monkeypatch):
    """A failure in migration k+1 keeps migration k: each is its own transaction."""
    path = tmp_path / "steps.db"
    broken = list(MIGRATIONS)
    broken[-1] = (broken[-1][0], "CREATE TABLE ok_part (x);\nSELECT * FROM no_such_table;\n")
    monkeypatch.setattr(dbmod, "MIGRATIONS", broken)
    with closing(raw(path)) as conn:
        with pytest.raises(sqlite3.OperationalError):
            migrate(conn)
        assert schema_version(conn) == LATEST - 1
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'ok_part'").fetchone()[0] == 0
