"""concurrent: N runs at once x K steps each at a given model latency, with
``goal.get`` polled while they run.

Per repeat, a fresh daemon (``[daemon] max_concurrent_runs = N``) and one goal
(tool ``recall``, step_budget > K); N ``goal.run`` calls sent back to back,
then every ``run_finished`` awaited on a goal watch. Measured: wall (first
goal.run sent -> last run finished; ideal = (K+1) x latency: K tool steps and
the answer), daemon CPU (/proc/<pid>/stat), daemon peak RSS (VmHWM), and the
latency of ``goal.get`` round trips sent every ``--poll-ms`` on a connection
of their own while the runs are active (a dashboard or the REPL polling a
goal with history).

``--hand`` adds a baseline in the same repeats: the raw httpx+json hand loop
(bench.handloop_concurrent, its own process) with N concurrent conversations
against the same fake, one httpx client per conversation.

The load of one person's daemon is the default (20 x 10 at 1 s); the scale
check is ``--n 200 --latency 0.1``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from ._common import (ROOT, Daemon, FakeProc, Profiler, Stat, base_parser, cpu_seconds, emit_json, goal_params,
                      header, line, pct, run_and_wait, status_kb, tempdir)
from .rpc import round_trip_client


def daemon_batch(d: Daemon, n: int, k: int, poll_ms: float, profile: str | None) -> dict:
    rpc, watch = d.rpc(120), d.rpc(120)
    # The polled goal has history: one finished run (so goal.get has a last run and ticks to show).
    polled = rpc.call("goal.create", goal_params(2))
    watch.call("run.watch", {"goal_id": polled["id"]})
    run_and_wait(rpc, polled["id"], watch)
    watch.close()
    watch = d.rpc(120)
    g = rpc.call("goal.create", goal_params(k))
    watch.call("run.watch", {"goal_id": g["id"]})
    lat: list[float] = []
    stop = threading.Event()
    poller = threading.Thread(target=_poll, args=(d.socket, polled["id"], poll_ms / 1000, stop, lat), daemon=True)
    with Profiler(profile, f"concurrent_n{n}", d.pid):
        c0 = d.cpu()
        t0 = time.perf_counter()
        poller.start()
        ids = {rpc.call("goal.run", {"id": g["id"]})["id"] for _ in range(n)}
        done = 0
        statuses: dict[str, int] = {}
        while done < n:
            note = watch.next_note()
            p = note.get("params") or {}
            ev = p.get("event") or {}
            if ev.get("type") == "run_finished" and p.get("run_id") in ids:
                done += 1
                statuses[ev.get("status")] = statuses.get(ev.get("status"), 0) + 1
                if ev.get("steps") != k:
                    statuses["wrong_steps"] = statuses.get("wrong_steps", 0) + 1
        wall = time.perf_counter() - t0
        stop.set()
        poller.join(30)
        cpu = d.cpu() - c0
    rss = status_kb(d.pid, "VmHWM")
    rpc.close()
    watch.close()
    if statuses.get("completed") != n or statuses.get("wrong_steps"):
        raise RuntimeError(f"runs did not all complete with {k} steps: {statuses}\n{d.log()[-3000:]}")
    if not lat:
        raise RuntimeError("no goal.get answered while the runs were active")
    return {"wall": wall, "cpu": cpu, "rss_mb": rss / 1024, "get_p50": pct(lat, 50), "get_p99": pct(lat, 99),
            "get_max": max(lat), "gets": len(lat)}


def _poll(path: Path, goal_id: str, period: float, stop: threading.Event, lat: list[float]) -> None:
    """``goal.get`` every ``period`` s until ``stop``; each round trip's latency (ms) into ``lat``."""
    call = round_trip_client(path, goal_id)
    nxt = time.perf_counter()
    while not stop.is_set():
        lat.append(call())
        nxt += period
        stop.wait(max(0.0, nxt - time.perf_counter()))


def hand_batch(url: str, n: int, k: int) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.handloop_concurrent", "--url", url, "--n", str(n), "--k",
                          str(k), "--per-conversation"], capture_output=True, text=True, cwd=str(ROOT), timeout=900,
                         check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["steps"] != n * k:
        raise RuntimeError(f"hand loop did {r['steps']} steps, not {n * k}")
    return {"wall": r["wall_s"], "cpu": r["cpu_s"], "rss_mb": r["maxrss_kb"] / 1024}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__)
    p.add_argument("--n", type=int, default=20)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--latency", type=float, default=1.0, help="model latency, seconds")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--poll-ms", type=float, default=10.0, help="goal.get period while the runs are active")
    p.add_argument("--hand", action="store_true", help="also run the raw httpx hand loop, same repeats")
    a = p.parse_args(argv)
    if a.smoke:
        a.n, a.k, a.repeats, a.latency = 5, 3, 1, 0.01
    ideal = (a.k + 1) * a.latency
    header(f"concurrent: {a.n} runs x {a.k} steps at {a.latency * 1000:.0f} ms model latency "
           f"(ideal wall {ideal:.2f} s), goal.get every {a.poll_ms:g} ms meanwhile")
    res: dict = {"n": a.n, "k": a.k, "latency": a.latency, "ideal_s": ideal}
    dd: dict[str, list[float]] = {}
    hh: dict[str, list[float]] = {}
    with FakeProc(latency=a.latency) as fake:
        for rep in range(a.repeats):
            with tempdir("conc") as td:
                d = Daemon(Path(td), fake.base_url, config=f"[daemon]\nmax_concurrent_runs = {a.n}\n").start()
                try:
                    f0 = cpu_seconds(fake.pid)
                    r = daemon_batch(d, a.n, a.k, a.poll_ms, a.profile if rep == a.repeats - 1 else None)
                    r["fake_cpu"] = cpu_seconds(fake.pid) - f0
                finally:
                    d.stop()
            for key, v in r.items():
                dd.setdefault(key, []).append(v)
            if a.hand:
                for key, v in hand_batch(fake.base_url, a.n, a.k).items():
                    hh.setdefault(key, []).append(v)
    sd = {key: Stat(v) for key, v in dd.items()}
    res["agentd"] = sd
    res["wall_vs_ideal"] = ratio = Stat(w / ideal for w in dd["wall"])
    line("agentd wall", sd["wall"].fmt(" s"))
    line(f"agentd wall / ideal ({ideal:.2f} s)", ratio.fmt("x", 3), "<= 1.05x")
    line("agentd daemon peak RSS (VmHWM)", sd["rss_mb"].fmt(" MB", 1), "<= 60 MB")
    line("agentd daemon CPU", sd["cpu"].fmt(" s"))
    line("agentd CPU per step", Stat(c * 1000 / (a.n * a.k) for c in dd["cpu"]).fmt(" ms"))
    line(f"goal.get while the runs are active (every {a.poll_ms:g} ms): p50", sd["get_p50"].fmt(" ms", 3))
    line("goal.get while the runs are active: p99", sd["get_p99"].fmt(" ms", 3), "<= 5 ms")
    line("goal.get while the runs are active: max", sd["get_max"].fmt(" ms", 3))
    line("goal.get round trips per repeat", sd["gets"].fmt("", 0))
    line("fake LLM CPU during the agentd batch", sd["fake_cpu"].fmt(" s"))
    if hh:
        sh = {key: Stat(v) for key, v in hh.items()}
        res["hand_per_conversation"] = sh
        res["wall_ratio_per_conversation"] = r2 = Stat(x / y for x, y in zip(dd["wall"], hh["wall"]))
        line("raw hand loop wall (one httpx client per conversation)", sh["wall"].fmt(" s"))
        line("agentd / hand loop wall, same repeat", r2.fmt("x"))
        line("hand loop CPU / peak RSS", f"{sh['cpu'].fmt(' s')} / {sh['rss_mb'].fmt(' MB', 1)}")
    emit_json("concurrent", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
