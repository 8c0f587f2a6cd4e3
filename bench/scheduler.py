"""scheduler: N active schedules (default 10,000), fire lateness and idle CPU.

The store is filled before start-up through agentd's own store functions
(agentd.store.goals.insert_goal: N goals, one schedule each, catch-up none).

1. Idle: every schedule is ``0 0 1 1 *`` (next due months away): daemon CPU
   (/proc/<pid>/stat) over ``--idle`` seconds (default 60) after start-up.
2. Lateness: every schedule is ``* * * * *``, so all N are due at the same
   minute boundary (cron has minute resolution); lateness of each fired tick
   = ticks.recorded_at - ticks.due_at, p50/p99/max (the max is how late the
   last one fired). The runs they start answer at once (fake LLM, K=0).
   By default the daemon runs with its clock shifted (bench.clockd) so that
   the boundary falls ``--lead`` seconds after start-up instead of up to a
   minute later; ``--real-clock`` waits for a real boundary instead.
"""

from __future__ import annotations

import math
import sqlite3
import sys
import time
from pathlib import Path

from ._common import (Daemon, FakeProc, Profiler, base_parser, emit_json, header, line, pct, status_kb,
                      tempdir)


def fill(db: Path, n: int) -> None:
    import msgspec

    from agentd.protocol import methods as m
    from agentd.store import Store
    from agentd.store import goals as goals_q

    store = Store(db)
    now = time.time_ns() // 1_000_000 - 120_000
    spec = {"objective": "Scheduler benchmark #k=0: answer at once.", "catchup": "none",
            "params": {"step_budget": 3, "allowed_tools": ["recall"]}, "schedules": [{"cron": "0 0 1 1 *"}]}

    def tx(conn):
        for i in range(n):
            goals_q.insert_goal(conn, now, msgspec.convert({**spec, "name": f"sched {i}"}, m.GoalCreate), "secret")

    store.write_sync(tx)
    store.close()


def set_cron(db: Path, expr: str, created_at: int) -> None:
    """Every schedule to ``expr``, created at ``created_at`` (daemon clock, ms)
    so that no earlier tick is owed (catch-up would record them first)."""
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE schedules SET cron_expr = ?, created_at = ?", (expr, created_at))
        conn.execute("UPDATE goals SET created_at = ?, updated_at = ?", (created_at, created_at))
    conn.close()


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__)
    p.add_argument("--schedules", type=int, default=10_000)
    p.add_argument("--idle", type=float, default=60.0, help="idle window in seconds")
    p.add_argument("--lead", type=float, default=5.0, help="seconds from READY to the boundary (shifted clock)")
    p.add_argument("--real-clock", action="store_true")
    a = p.parse_args(argv)
    if a.smoke:
        a.schedules, a.idle, a.lead = 50, 2.0, 1.5
    header(f"scheduler: {a.schedules:,} active schedules: fire lateness, idle CPU over {a.idle:g} s")
    res: dict = {"schedules": a.schedules, "idle_window_s": a.idle}
    with FakeProc(default_k=0) as fake, tempdir("sched") as td:
        base = Path(td)
        probe = Daemon(base, fake.base_url)
        probe.db.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        fill(probe.db, a.schedules)
        line("store filled", f"{a.schedules:,} goals+schedules in {time.perf_counter() - t0:.1f} s")

        # 1. idle
        d = Daemon(base, fake.base_url).start(timeout=120)
        try:
            line("start-up with the schedules loaded", f"{d.ready_s:.2f} s")
            time.sleep(1.0 if a.smoke else 3.0)  # let start-up work settle
            with Profiler(a.profile, "scheduler_idle", d.pid):
                c0, t0 = d.cpu(), time.perf_counter()
                time.sleep(a.idle)
                cpu, el = d.cpu() - c0, time.perf_counter() - t0
            rss = status_kb(d.pid, "VmRSS") / 1024
        finally:
            d.stop()
        res["idle_cpu_s"] = cpu
        res["idle_cpu_pct"] = 100 * cpu / el
        res["rss_mb"] = rss
        line(f"idle daemon CPU over {el:.1f} s", f"{cpu:.2f} s = {100 * cpu / el:.2f}% of a core "
             f"(RSS {rss:.0f} MB)", "near zero")

        # 2. lateness
        env = {}
        module = "agentd"
        if not a.real_clock:
            # boundary B = the first minute boundary >= real start + 3 s + lead; daemon clock = real + offset
            real = time.time() * 1000
            startup_guess = max(1500.0 if a.smoke else 3000.0, d.ready_s * 1000 * 2)
            target_real = real + startup_guess + a.lead * 1000
            boundary = math.ceil(target_real / 60000) * 60000
            offset = int(boundary - target_real)
            env["BENCH_CLOCK_OFFSET_MS"] = str(offset)
            module = "bench.clockd"
        set_cron(probe.db, "* * * * *", int(time.time() * 1000) + int(env.get("BENCH_CLOCK_OFFSET_MS", "0")) - 1000)
        d = Daemon(base, fake.base_url, env=env, module=module)
        d.start(timeout=120)
        try:
            offset = int(env.get("BENCH_CLOCK_OFFSET_MS", "0"))
            now_d = time.time() * 1000 + offset
            boundary = math.ceil(now_d / 60000) * 60000
            wait = (boundary - now_d) / 1000
            line("daemon ready; the boundary is due in", f"{wait:.1f} s")
            ro = sqlite3.connect(f"file:{probe.db}?mode=ro", uri=True, timeout=30)
            with Profiler(a.profile, "scheduler_fire", d.pid):
                time.sleep(max(0.0, wait))
                deadline = time.monotonic() + max(120.0, a.schedules * 0.03)
                while True:
                    n = ro.execute("SELECT count(*) FROM ticks WHERE due_at = ?", (boundary,)).fetchone()[0]
                    if n >= a.schedules or time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
            rows = ro.execute("SELECT decision, recorded_at - due_at FROM ticks WHERE due_at = ?",
                              (boundary,)).fetchall()
            ro.close()
        finally:
            d.stop(timeout=60)
    fired = [float(late) for dec, late in rows if dec == "fired"]
    decisions: dict[str, int] = {}
    for dec, _ in rows:
        decisions[dec] = decisions.get(dec, 0) + 1
    res["decisions"] = decisions
    if not fired:
        raise RuntimeError(f"no tick fired at the boundary: {decisions}\n{d.log()[-3000:]}")
    res["lateness_ms"] = {"p50": pct(fired, 50), "p99": pct(fired, 99), "max": max(fired), "min": min(fired),
                          "fired": len(fired)}
    line("ticks recorded at the boundary", ", ".join(f"{k} {v}" for k, v in sorted(decisions.items())))
    line("fire lateness min (the first schedule to fire)", f"{min(fired):.0f} ms")
    line("fire lateness p50", f"{pct(fired, 50):.0f} ms")
    line("fire lateness p99", f"{pct(fired, 99):.0f} ms", "<= 1 s")
    line("fire lateness max (the last schedule to fire)", f"{max(fired):.0f} ms")
    emit_json("scheduler", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
