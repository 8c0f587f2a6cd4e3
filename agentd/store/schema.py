"""The schema as an ordered list of migrations.

``MIGRATIONS[i]`` takes a database at ``PRAGMA user_version = i`` to ``i + 1``.
Each runs in one transaction together with its user_version bump, so a crash
mid-migration leaves the previous version intact. Never edit a migration that
has shipped: add a new one.

v1: the seeds' six tables and their indexes.
v2: what the runtime and the scheduler need: goal names, catch-up/overlap
    policies and webhook secrets; a run's trigger, usage, summary, recovery
    count; a step's turn, tool-call id, status and tokens (a run's whole
    conversation can be rebuilt from the store); schedule tick records (one row
    per due time: a tick is never fired twice); the side-effect ledger.
v3: the per-run event journal (gap-free sequence numbers for run.watch) and
    persisted metric totals.
v4: an index on runs(status, created_at, id): the run manager's queue (runs by
    status, in creation order) is an index range, never a scan of runs_created
    (which the planner chose once sqlite_stat1 existed).
v5: steps recovered from tool calls written as text (``steps.recovered``).
v6: the ledger's ``refused`` status (a delivery not sent because the
    destination or the configuration does not allow it); SQLite cannot
    change a CHECK constraint in place, so the table is rebuilt.
v7: the cost ledger (``model_calls``): one row per model call with its
    tokens and its cost in nano-dollars (NULL: no price known). No foreign
    keys: money spent stays spent when its run or goal is deleted, so a
    deletion never lowers a day's or a month's spend.
v8: approvals: one row per tool call that waits for (or got) a person's
    decision, with the call's exact arguments, who decided, when and why.
v9: the exfiltration guard's marks on steps (``steps.guard``: ``tainted`` on
    the step whose result first brought untrusted content into the run,
    ``blocked`` on a call the guard did not let out).
v10: notify on change and quiet-goal alerts (agentd.notify): ``run_results``
    (a completed run's result fingerprint, and the run it is unchanged since),
    ``incidents`` (at most one open per goal: a goal gone quiet or failing)
    and ``incident_deliveries`` (each alert and recovery notice, with the
    ledger's intent/outcome discipline).

Timestamps are INTEGER epoch milliseconds, UTC, everywhere.
"""

from __future__ import annotations

V1 = """
CREATE TABLE goals (
    id          TEXT PRIMARY KEY,
    objective   TEXT NOT NULL,
    params      TEXT NOT NULL DEFAULT '{}',
    webhook_url TEXT,
    status      TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'paused', 'archived')),
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE TABLE schedules (
    id         TEXT PRIMARY KEY,
    goal_id    TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    cron_expr  TEXT NOT NULL,
    timezone   TEXT NOT NULL DEFAULT 'UTC',
    active     INTEGER NOT NULL DEFAULT 1,
    created_at INTEGER NOT NULL
);
CREATE TABLE runs (
    id             TEXT PRIMARY KEY,
    goal_id        TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    status         TEXT NOT NULL CHECK (status IN ('pending', 'running', 'completed', 'failed', 'cancelled')),
    scheduled_at   INTEGER,
    started_at     INTEGER,
    ended_at       INTEGER,
    working_memory TEXT NOT NULL DEFAULT '{}',
    step_budget    INTEGER NOT NULL,
    steps_executed INTEGER NOT NULL DEFAULT 0,
    error          TEXT,
    created_at     INTEGER NOT NULL
);
CREATE TABLE steps (
    id          TEXT PRIMARY KEY,
    run_id      TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    step_no     INTEGER NOT NULL,
    thought     TEXT,
    tool_name   TEXT,
    tool_input  TEXT,
    observation TEXT,
    duration_ms REAL NOT NULL DEFAULT 0,
    error       TEXT,
    created_at  INTEGER NOT NULL
);
CREATE TABLE outputs (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('summary', 'file', 'webhook', 'email')),
    path_or_payload TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE TABLE memories (
    id         TEXT PRIMARY KEY,
    goal_id    TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    type       TEXT NOT NULL CHECK (type IN ('note', 'fact', 'artifact')),
    content    TEXT NOT NULL,
    metadata   TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX goals_status_created ON goals(status, created_at);
CREATE INDEX schedules_active_goal ON schedules(active, goal_id);
CREATE INDEX runs_status_scheduled_goal ON runs(status, scheduled_at, goal_id);
CREATE UNIQUE INDEX steps_run_step ON steps(run_id, step_no);
CREATE INDEX outputs_run_kind ON outputs(run_id, kind);
CREATE INDEX memories_goal_type_created ON memories(goal_id, type, created_at);
"""

V2 = """
ALTER TABLE goals ADD COLUMN name TEXT;
ALTER TABLE goals ADD COLUMN catchup TEXT NOT NULL DEFAULT 'latest';
ALTER TABLE goals ADD COLUMN catchup_window_s INTEGER NOT NULL DEFAULT 86400;
ALTER TABLE goals ADD COLUMN overlap TEXT NOT NULL DEFAULT 'skip';
ALTER TABLE goals ADD COLUMN webhook_secret TEXT;

ALTER TABLE runs ADD COLUMN trigger TEXT NOT NULL DEFAULT 'manual';
ALTER TABLE runs ADD COLUMN schedule_id TEXT;
ALTER TABLE runs ADD COLUMN tokens_in INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN tokens_out INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN summary TEXT;
ALTER TABLE runs ADD COLUMN recoveries INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN budget_exhausted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN cancel_reason TEXT;
CREATE INDEX runs_goal_created ON runs(goal_id, created_at);
CREATE INDEX runs_created ON runs(created_at);

ALTER TABLE steps ADD COLUMN turn INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN kind TEXT NOT NULL DEFAULT 'tool';
ALTER TABLE steps ADD COLUMN tool_call_id TEXT;
ALTER TABLE steps ADD COLUMN status TEXT NOT NULL DEFAULT 'ok';
ALTER TABLE steps ADD COLUMN tokens_in INTEGER NOT NULL DEFAULT 0;
ALTER TABLE steps ADD COLUMN tokens_out INTEGER NOT NULL DEFAULT 0;

CREATE TABLE ticks (
    id          INTEGER PRIMARY KEY,
    schedule_id TEXT NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    goal_id     TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    due_at      INTEGER NOT NULL,
    decision    TEXT NOT NULL CHECK (decision IN ('fired', 'skipped', 'missed', 'coalesced', 'caught_up', 'queued')),
    reason      TEXT NOT NULL DEFAULT '',
    run_id      TEXT REFERENCES runs(id) ON DELETE SET NULL,
    recorded_at INTEGER NOT NULL,
    UNIQUE (schedule_id, due_at)
);
CREATE INDEX ticks_goal_due ON ticks(goal_id, due_at);

CREATE TABLE side_effects (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    goal_id         TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    target          TEXT NOT NULL,
    summary         TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL DEFAULT 'tool',
    status          TEXT NOT NULL CHECK (status IN ('intent', 'delivered', 'failed', 'unknown')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    detail          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX side_effects_run ON side_effects(run_id);
"""

V3 = """
CREATE TABLE events (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    at     INTEGER NOT NULL,
    type   TEXT NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
ALTER TABLE runs ADD COLUMN last_seq INTEGER NOT NULL DEFAULT 0;

CREATE TABLE metric_totals (
    name  TEXT PRIMARY KEY,
    value REAL NOT NULL
) WITHOUT ROWID;
"""

V4 = """
CREATE INDEX runs_status_created ON runs(status, created_at, id);
"""

V5 = """
ALTER TABLE steps ADD COLUMN recovered INTEGER NOT NULL DEFAULT 0;
"""

V6 = """
CREATE TABLE side_effects_v6 (
    id              TEXT PRIMARY KEY,
    run_id          TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    goal_id         TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    target          TEXT NOT NULL,
    summary         TEXT NOT NULL DEFAULT '',
    source          TEXT NOT NULL DEFAULT 'tool',
    status          TEXT NOT NULL CHECK (status IN ('intent', 'delivered', 'failed', 'refused', 'unknown')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    detail          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
INSERT INTO side_effects_v6 (id, run_id, goal_id, kind, idempotency_key, target, summary, source, status,
                             attempts, detail, created_at, updated_at)
    SELECT id, run_id, goal_id, kind, idempotency_key, target, summary, source, status,
           attempts, detail, created_at, updated_at FROM side_effects;
DROP TABLE side_effects;
ALTER TABLE side_effects_v6 RENAME TO side_effects;
CREATE INDEX side_effects_run ON side_effects(run_id);
"""

V7 = """
CREATE TABLE model_calls (
    id         INTEGER PRIMARY KEY,
    run_id     TEXT NOT NULL,
    goal_id    TEXT NOT NULL,
    turn       INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    model      TEXT NOT NULL,
    tokens_in  INTEGER NOT NULL DEFAULT 0,
    cached_in  INTEGER NOT NULL DEFAULT 0,
    tokens_out INTEGER NOT NULL DEFAULT 0,
    reasoning  INTEGER NOT NULL DEFAULT 0,
    cost_nusd  INTEGER,
    estimated  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX model_calls_run ON model_calls(run_id, turn);
CREATE INDEX model_calls_goal_at ON model_calls(goal_id, at);
CREATE INDEX model_calls_at ON model_calls(at);
"""

V8 = """
CREATE TABLE approvals (
    id           TEXT PRIMARY KEY,
    run_id       TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    goal_id      TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    step_no      INTEGER NOT NULL,
    tool_call_id TEXT,
    tool_name    TEXT NOT NULL,
    arguments    TEXT NOT NULL,
    digest       TEXT NOT NULL,
    reason       TEXT NOT NULL DEFAULT '',
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    requested_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    decided_at   INTEGER,
    decided_by   TEXT,
    note         TEXT,
    executed_at  INTEGER,
    notified_at  INTEGER,
    UNIQUE (run_id, step_no)
);
CREATE INDEX approvals_status_expires ON approvals(status, expires_at);
"""

V9 = """
ALTER TABLE steps ADD COLUMN guard TEXT CHECK (guard IN ('tainted', 'blocked'));
"""

V10 = """
CREATE TABLE run_results (
    run_id          TEXT PRIMARY KEY REFERENCES runs(id) ON DELETE CASCADE,
    goal_id         TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    digest          TEXT NOT NULL,
    unchanged_since TEXT,
    created_at      INTEGER NOT NULL
);
CREATE INDEX run_results_goal ON run_results(goal_id, created_at);

CREATE TABLE incidents (
    id           TEXT PRIMARY KEY,
    goal_id      TEXT NOT NULL REFERENCES goals(id) ON DELETE CASCADE,
    kind         TEXT NOT NULL CHECK (kind IN ('quiet', 'failing')),
    reason       TEXT NOT NULL,
    opened_at    INTEGER NOT NULL,
    closed_at    INTEGER,
    recovered_by TEXT
);
CREATE UNIQUE INDEX incidents_open_goal ON incidents(goal_id) WHERE closed_at IS NULL;
CREATE INDEX incidents_goal_opened ON incidents(goal_id, opened_at);

CREATE TABLE incident_deliveries (
    id              TEXT PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents(id) ON DELETE CASCADE,
    notice          TEXT NOT NULL CHECK (notice IN ('alert', 'recovery')),
    kind            TEXT NOT NULL,
    idempotency_key TEXT NOT NULL UNIQUE,
    target          TEXT NOT NULL,
    summary         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('intent', 'delivered', 'failed', 'refused', 'unknown')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    detail          TEXT NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);
CREATE INDEX incident_deliveries_incident ON incident_deliveries(incident_id);
"""

MIGRATIONS: list[tuple[str, str]] = [
    ("seed tables", V1),
    ("runtime, ticks, side-effect ledger", V2),
    ("event journal, metric totals", V3),
    ("runs by status in creation order", V4),
    ("steps recovered from text tool calls", V5),
    ("ledger status refused", V6),
    ("cost ledger", V7),
    ("approvals", V8),
    ("exfiltration guard marks on steps", V9),
    ("notify on change, quiet-goal incidents", V10),
]

LATEST = len(MIGRATIONS)
