"""concurrent: N runs at once x K steps each, model latency 100 ms.

Per repeat, a fresh daemon (``[daemon] max_concurrent_runs = N``) and one goal
(tool ``recall``, step_budget > K); N ``goal.run`` calls sent back to back,
then every ``run_finished`` awaited on a goal watch. Measured: wall (first
goal.run sent -> last run finished; ideal = (K+1) x latency), daemon CPU
(/proc/<pid>/stat), daemon peak RSS (VmHWM), and the same for the raw
httpx+json hand loop (bench.handloop_concurrent, its own process) with N
concurrent conversations against the same fake (its own process too), twice:
one shared httpx client (the issue's baseline; httpcore's pool scan is
quadratic in the connections) and one client per conversation.

The daemon runs twice per repeat: with the default settings, and with
``daemon.runs_nice = 0``. By default the threads that execute runs are 5
nicer than the RPC thread (so requests are answered first on a busy CPU), and
so they also yield the CPU to every other process, here the fake LLM server;
the hand loops are not niced, so the ``runs_nice = 0`` daemon is the like-for-
like comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from ._common import (ROOT, Daemon, FakeProc, Profiler, Stat, base_parser, cpu_seconds, emit_json, goal_params,
                      header, line, status_kb, tempdir)


def daemon_batch(d: Daemon, n: int, k: int, profile: str | None) -> dict:
    rpc, watch = d.rpc(120), d.rpc(120)
    g = rpc.call("goal.create", goal_params(k))
    watch.call("run.watch", {"goal_id": g["id"]})
    with Profiler(profile, f"concurrent_n{n}", d.pid):
        c0 = d.cpu()
        t0 = time.perf_counter()
        ids = {rpc.call("goal.run", {"id": g["id"]})["id"] for _ in range(n)}
        t_submit = time.perf_counter() - t0
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
        cpu = d.cpu() - c0
    rss = status_kb(d.pid, "VmHWM")
    rpc.close()
    watch.close()
    if statuses.get("completed") != n or statuses.get("wrong_steps"):
        raise RuntimeError(f"runs did not all complete with {k} steps: {statuses}\n{d.log()[-3000:]}")
    return {"wall": wall, "cpu": cpu, "rss_mb": rss / 1024, "submit_s": t_submit}


def hand_batch(url: str, n: int, k: int, per_conversation: bool) -> dict:
    out = subprocess.run([sys.executable, "-m", "bench.handloop_concurrent", "--url", url, "--n", str(n), "--k",
                          str(k)] + (["--per-conversation"] if per_conversation else []),
                         capture_output=True, text=True, cwd=str(ROOT), timeout=900, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r["steps"] != n * k:
        raise RuntimeError(f"hand loop did {r['steps']} steps, not {n * k}")
    return {"wall": r["wall_s"], "cpu": r["cpu_s"], "rss_mb": r["maxrss_kb"] / 1024}


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__)
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--latency", type=float, default=0.1)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    if a.smoke:
        a.n, a.k, a.repeats, a.latency = 5, 3, 1, 0.01
    ideal = (a.k + 1) * a.latency
    header(f"concurrent: {a.n} runs x {a.k} steps at {a.latency * 1000:.0f} ms model latency "
           f"(ideal wall {ideal:.2f} s)")
    res: dict = {"n": a.n, "k": a.k, "latency": a.latency}
    dd: dict[str, list[float]] = {"wall": [], "cpu": [], "rss_mb": [], "fake_cpu": []}
    d0: dict[str, list[float]] = {"wall": [], "cpu": [], "rss_mb": [], "fake_cpu": []}
    hh: dict[str, list[float]] = {"wall": [], "cpu": [], "rss_mb": [], "fake_cpu": []}
    pp: dict[str, list[float]] = {"wall": [], "cpu": [], "rss_mb": [], "fake_cpu": []}
    with FakeProc(latency=a.latency) as fake:
        for rep in range(a.repeats):
            for nice, acc in ((None, dd), (0, d0)):
                cfg = f"[daemon]\nmax_concurrent_runs = {a.n}\n" + ("" if nice is None else f"runs_nice = {nice}\n")
                with tempdir("conc") as td:
                    d = Daemon(Path(td), fake.base_url, config=cfg).start()
                    try:
                        f0 = cpu_seconds(fake.pid)
                        r = daemon_batch(d, a.n, a.k, a.profile if rep == a.repeats - 1 and nice == 0 else None)
                        r["fake_cpu"] = cpu_seconds(fake.pid) - f0
                    finally:
                        d.stop()
                for key in acc:
                    acc[key].append(r[key])
            for per_conv, acc in ((False, hh), (True, pp)):
                f0 = cpu_seconds(fake.pid)
                h = hand_batch(fake.base_url, a.n, a.k, per_conv)
                h["fake_cpu"] = cpu_seconds(fake.pid) - f0
                for key in acc:
                    acc[key].append(h[key])
    sd = {key: Stat(v) for key, v in dd.items()}
    s0 = {key: Stat(v) for key, v in d0.items()}
    sh = {key: Stat(v) for key, v in hh.items()}
    sp = {key: Stat(v) for key, v in pp.items()}
    res["agentd"], res["agentd_nice0"], res["hand"], res["hand_per_conversation"] = sd, s0, sh, sp
    line("agentd wall (default: runs_nice = 5)", sd["wall"].fmt(" s"), "<= hand loop's wall")
    line("agentd wall, runs_nice = 0", s0["wall"].fmt(" s"), "<= hand loop's wall")
    line("raw hand loop wall, one shared httpx client", sh["wall"].fmt(" s"))
    line("raw hand loop wall, one httpx client per conversation", sp["wall"].fmt(" s"))
    ratio = Stat(x / y for x, y in zip(dd["wall"], hh["wall"]))
    res["wall_ratio"] = ratio
    line("agentd / hand loop (shared client) wall, same repeat", ratio.fmt("x"), "<= 1.0x")
    ratio2 = Stat(x / y for x, y in zip(dd["wall"], pp["wall"]))
    res["wall_ratio_per_conversation"] = ratio2
    line("agentd / hand loop (client per conversation) wall", ratio2.fmt("x"), "<= 1.0x")
    ratio3 = Stat(x / y for x, y in zip(d0["wall"], pp["wall"]))
    res["wall_ratio_per_conversation_nice0"] = ratio3
    line("agentd (runs_nice = 0) / hand loop (client per conversation) wall", ratio3.fmt("x"), "<= 1.0x")
    line("agentd daemon CPU (default / runs_nice = 0)", f"{sd['cpu'].fmt(' s')} / {s0['cpu'].fmt(' s')}")
    line("hand loop CPU (shared client / client per conversation)", f"{sh['cpu'].fmt(' s')} / {sp['cpu'].fmt(' s')}")
    line("agentd CPU per step (default / runs_nice = 0)",
         f"{Stat(c * 1000 / (a.n * a.k) for c in dd['cpu']).fmt(' ms')} / "
         f"{Stat(c * 1000 / (a.n * a.k) for c in d0['cpu']).fmt(' ms')}")
    line("agentd daemon peak RSS (VmHWM)", sd["rss_mb"].fmt(" MB", 1), "<= 80 MB")
    line("hand loop peak RSS (shared client)", sh["rss_mb"].fmt(" MB", 1))
    line("hand loop peak RSS (client per conversation)", sp["rss_mb"].fmt(" MB", 1))
    line("fake LLM CPU during the agentd / hand / hand batch",
         f"{sd['fake_cpu'].median:.2f} / {sh['fake_cpu'].median:.2f} / {sp['fake_cpu'].median:.2f} s")
    emit_json("concurrent", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
