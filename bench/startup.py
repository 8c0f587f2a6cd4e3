"""startup: daemon start-up time, exec -> READY=1 (sd_notify on a socket the
benchmark binds), with a big store (default 100,000 runs / 1,000,000 steps)
against an empty one, interleaved, same interpreter.

The big store is generated once with executemany into a file at the latest
schema (opened with agentd.store.Store first, which creates it) and cached
under bench/.cache/ (gitignored); each measurement starts the daemon on a copy
of it (the page cache is warm after the first start: these are warm starts).
"""

from __future__ import annotations

import random
import shutil
import sqlite3
import sys
import time
from pathlib import Path

from ._common import CACHE, Daemon, FakeProc, Stat, base_parser, emit_json, header, line, tempdir

STEP_OBS = "No memories match 'bench'. " * 3


def generate(path: Path, runs: int, steps: int, goals: int = 100) -> None:
    from agentd.store import Store

    tmp = path.with_suffix(".tmp")
    for p in (tmp, Path(str(tmp) + "-wal"), Path(str(tmp) + "-shm")):
        p.unlink(missing_ok=True)
    Store(tmp).close()  # the latest schema, through agentd's own migrations
    conn = sqlite3.connect(tmp, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    r = random.Random(1)
    now = int(time.time() * 1000)
    year = 365 * 86400 * 1000
    conn.execute("BEGIN")
    goal_ids = [f"{i:012x}" for i in range(goals)]
    conn.executemany(
        "INSERT INTO goals (id, objective, params, status, created_at, updated_at, name, catchup, overlap)"
        " VALUES (?, ?, ?, 'active', ?, ?, ?, 'latest', 'skip')",
        [(g, f"Startup benchmark goal {i}", '{"step_budget":20}', now - year, now - year, f"goal {i}")
         for i, g in enumerate(goal_ids)])
    conn.executemany(
        "INSERT INTO schedules (id, goal_id, cron_expr, timezone, active, created_at) VALUES (?, ?, ?, 'UTC', 1, ?)",
        [(f"5{i:011x}", g, "0 9 * * *", now - year) for i, g in enumerate(goal_ids)])
    per_run = max(1, steps // runs)
    batch_runs, batch_steps = [], []
    step_no_total = 0

    def flush() -> None:
        conn.executemany(
            "INSERT INTO runs (id, goal_id, status, scheduled_at, started_at, ended_at, working_memory, step_budget,"
            " steps_executed, error, created_at, trigger, tokens_in, tokens_out, summary, last_seq)"
            " VALUES (?, ?, ?, ?, ?, ?, '{}', 20, ?, ?, ?, ?, ?, ?, ?, 0)", batch_runs)
        conn.executemany(
            "INSERT INTO steps (id, run_id, step_no, thought, tool_name, tool_input, observation, duration_ms, error,"
            " created_at, turn, kind, tool_call_id, status, tokens_in, tokens_out)"
            " VALUES (?, ?, ?, NULL, 'recall', '{\"query\":\"bench\"}', ?, 0.1, NULL, ?, ?, 'tool', ?, 'ok', 10, 5)",
            batch_steps)
        batch_runs.clear()
        batch_steps.clear()

    for i in range(runs):
        rid = f"a{i:011x}"
        t = now - year + int(i * year / runs)
        failed = r.random() < 0.05
        n = per_run if i < runs - 1 else max(per_run, steps - step_no_total)
        batch_runs.append((rid, goal_ids[i % goals], "failed" if failed else "completed", t, t, t + 5000, n,
                           "provider unavailable" if failed else None, t, "schedule", 10 * n, 5 * n,
                           None if failed else "Summary of the run."))
        for s in range(1, n + 1):
            batch_steps.append((f"b{step_no_total:011x}", rid, s, STEP_OBS, t + s * 100, s, f"call_{s}"))
            step_no_total += 1
        if len(batch_steps) >= 100_000:
            flush()
    flush()
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # No ANALYZE: a daemon's store has no sqlite_stat1, and with it the planner
    # picks a full scan of runs_created for "status = ? ORDER BY created_at".
    conn.close()
    for suffix in ("-wal", "-shm"):
        Path(str(tmp) + suffix).unlink(missing_ok=True)
    tmp.rename(path)


def cached_db(runs: int, steps: int) -> Path:
    from agentd.store.schema import LATEST

    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"startup-r{runs}-s{steps}-v{LATEST}-g2.db"  # g2: generator version
    if not path.exists():
        t0 = time.perf_counter()
        generate(path, runs, steps)
        line("generated the store", f"{path.name}: {path.stat().st_size / 1e6:.0f} MB in "
             f"{time.perf_counter() - t0:.1f} s")
    else:
        line("cached store", f"{path.name}: {path.stat().st_size / 1e6:.0f} MB")
    return path


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__)
    p.add_argument("--runs", type=int, default=100_000)
    p.add_argument("--steps", type=int, default=1_000_000)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    if a.smoke:
        a.runs, a.steps, a.repeats = 1_000, 10_000, 1
    header(f"startup: exec -> READY=1 with {a.runs:,} runs / {a.steps:,} steps vs an empty store")
    src = cached_db(a.runs, a.steps)
    times: dict[str, list[float]] = {"empty": [], "big": []}
    with FakeProc() as fake, tempdir("start") as td:
        base = Path(td)
        d_empty = Daemon(base / "empty", fake.base_url)
        d_big = Daemon(base / "big", fake.base_url)
        d_big.db.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, d_big.db)
        for rep in range(a.repeats + 1):  # the first round is a warm-up (page cache, .pyc)
            for name, d in (("empty", d_empty), ("big", d_big)):
                d.start(timeout=300)
                try:
                    if rep > 0:
                        times[name].append(d.ready_s * 1000)
                finally:
                    d.stop(timeout=60)
        if a.profile:
            d = Daemon(base / "big", fake.base_url, python=[sys.executable, "-m", "pyinstrument", "-r", "text",
                                                             "-o", str(Path(a.profile) / "startup_big.txt")])
            Path(a.profile).mkdir(parents=True, exist_ok=True)
            d.start(timeout=300)
            d.stop(timeout=60)
    res: dict = {"runs": a.runs, "steps": a.steps}
    se, sb = Stat(times["empty"]), Stat(times["big"])
    res["empty_ms"], res["big_ms"] = se, sb
    line("empty store: exec -> READY=1", se.fmt(" ms", 0))
    line(f"{a.runs:,} runs / {a.steps:,} steps: exec -> READY=1", sb.fmt(" ms", 0), "<= 1 s")
    r = Stat(x / y for x, y in zip(times["big"], times["empty"]))
    res["ratio"] = r
    line("big / empty (same round)", r.fmt("x"))
    emit_json("startup", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
