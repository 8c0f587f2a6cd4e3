"""per_step: per-step daemon overhead of one run at K=10 and K=50.

The goal's tool is the real built-in ``recall`` (a small indexed memory
search); the fake LLM (its own process) asks for it K times, then answers.
Measured per repeat, K=10 and K=50 interleaved, each as a batch of runs one
after another (~``--steps`` tool steps per batch, so that the daemon's CPU,
read from /proc/<pid>/stat in 10 ms ticks, is well resolved):

- wall per step: run.get ended_at - started_at over K (per run; median of the
  batch), and the client's view (goal.run sent -> run_finished event) over K;
- daemon CPU per step: utime+stime of the daemon over the batch / tool steps
  (includes the run's start and finish, and the RPCs that start and watch it);
- the raw httpx+json hand loop (this process) doing the same K calls against
  the same fake: wall and its CPU per step;
- the fake's own cost: max request rate with a tight keep-alive loop, and its
  CPU per request, so it is known not to be the bottleneck.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

from . import handloop
from ._common import (Daemon, FakeProc, Profiler, Stat, base_parser, cpu_seconds, emit_json, fake_max_rate,
                      goal_params, header, iso_ms, line, run_and_wait, tempdir)


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__)
    p.add_argument("--ks", default="10,50")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--steps", type=int, default=500, help="tool steps per batch")
    a = p.parse_args(argv)
    if a.smoke:
        a.ks, a.repeats, a.steps = "3,6", 2, 6
    ks = [int(k) for k in a.ks.split(",")]
    header(f"per_step: one run, K={' and K='.join(map(str, ks))}, fake LLM at 0 ms, tool recall")

    res: dict = {"ks": ks}
    with FakeProc(tool="recall", arguments='{"query": "bench"}') as fake, tempdir("step") as td:
        f_cpu0 = cpu_seconds(fake.pid)
        rate, us = fake_max_rate(fake.port, 0.3 if a.smoke else 2.0)
        # its CPU per request, from the same loop
        n_req = rate * (0.3 if a.smoke else 2.0)
        fake_cpu_us = (cpu_seconds(fake.pid) - f_cpu0) / n_req * 1e6
        line("fake LLM max rate (1 keep-alive connection)", f"{rate:,.0f} req/s = {us:.0f} us/request round trip, "
             f"{fake_cpu_us:.0f} us CPU/request in the fake")
        res["fake"] = {"rate": rate, "us_per_request": us, "cpu_us_per_request": fake_cpu_us}

        d = Daemon(Path(td), fake.base_url).start()
        try:
            rpc, watch = d.rpc(), d.rpc()
            tools = handloop.tools_payload(handloop.agentd_specs(["recall"]))
            goals = {}
            for k in ks:
                g = rpc.call("goal.create", goal_params(k))
                goals[k] = g["id"]
                watch.call("run.watch", {"goal_id": g["id"]})
                run_and_wait(rpc, g["id"], watch)  # warm-up
            client = handloop.sync_client()
            url = fake.base_url + "/chat/completions"
            for k in ks:
                handloop.conversation(client, url, k, tools)  # warm-up

            per = {k: {"wall": [], "wall_client": [], "cpu": [], "hand_wall": [], "hand_cpu": []} for k in ks}
            for rep in range(a.repeats):
                for k in ks:
                    nruns = max(1, a.steps // k)
                    walls, cwalls = [], []
                    prof = Profiler(a.profile if rep == a.repeats - 1 else None, f"per_step_k{k}", d.pid)
                    with prof:
                        c0 = d.cpu()
                        for _ in range(nruns):
                            t0 = time.perf_counter()
                            run = run_and_wait(rpc, goals[k], watch)
                            cwalls.append((time.perf_counter() - t0) * 1000 / k)
                            if run["status"] != "completed" or run["steps_executed"] != k:
                                raise RuntimeError(f"run did not do {k} steps: {run}")
                            walls.append((iso_ms(run["ended_at"]) - iso_ms(run["started_at"])) / k)
                        cpu = (d.cpu() - c0) * 1000 / (nruns * k)
                    hw, hc = [], []
                    for _ in range(nruns):
                        w, c, steps = handloop.timed_conversation(client, url, k, tools)
                        assert steps == k, steps
                        hw.append(w * 1000 / k)
                        hc.append(c * 1000 / k)
                    per[k]["wall"].append(statistics.median(walls))
                    per[k]["wall_client"].append(statistics.median(cwalls))
                    per[k]["cpu"].append(cpu)
                    per[k]["hand_wall"].append(statistics.median(hw))
                    per[k]["hand_cpu"].append(statistics.median(hc))
            rpc.close()
            watch.close()
        finally:
            d.stop()

    for k in ks:
        s = {n: Stat(v) for n, v in per[k].items()}
        res[f"k{k}"] = s
        line(f"K={k}: agentd wall/step (run started->ended)", s["wall"].fmt(" ms"),
             "<= 2 ms" if k == 50 else "")
        line(f"K={k}: agentd wall/step (client: goal.run->finished)", s["wall_client"].fmt(" ms"))
        line(f"K={k}: agentd daemon CPU/step", s["cpu"].fmt(" ms"))
        line(f"K={k}: raw httpx+json hand loop wall/step", s["hand_wall"].fmt(" ms"))
        line(f"K={k}: raw hand loop CPU/step (its own thread)", s["hand_cpu"].fmt(" ms"))
        ratio = Stat(a_ / b_ for a_, b_ in zip(per[k]["wall"], per[k]["hand_wall"]))
        res[f"k{k}"]["ratio_vs_hand"] = ratio
        line(f"K={k}: agentd / hand loop (wall/step)", ratio.fmt("x"))
        over = Stat(w - us / 1000 for w in per[k]["wall"])
        line(f"K={k}: agentd wall/step minus the fake's round trip", over.fmt(" ms"))
    if len(ks) >= 2:
        hi, lo = ks[-1], ks[0]
        r = Stat(a_ / b_ for a_, b_ in zip(per[hi]["wall"], per[lo]["wall"]))
        res["flatness"] = r
        line(f"K={hi} / K={lo} wall/step (same repeat)", r.fmt("x"), "<= 1.2x")
        rh = Stat(a_ / b_ for a_, b_ in zip(per[hi]["hand_wall"], per[lo]["hand_wall"]))
        line(f"K={hi} / K={lo} hand loop wall/step", rh.fmt("x"))
    emit_json("per_step", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
