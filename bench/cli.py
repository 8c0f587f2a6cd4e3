"""cli: whole-process wall of ``agentctl goal list --json`` and ``agentctl
--version`` as a ratio to ``python -c pass`` (same interpreter), interleaved
in one loop so that the ratios are taken side by side. ``goal list`` talks to
a real daemon holding a few goals.

agentctl is started the way a user starts it: the console script next to the
interpreter (``.venv/bin/agentctl``), falling back to ``python -m agentctl``.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from ._common import Daemon, FakeProc, Stat, base_parser, emit_json, goal_params, header, line, tempdir


def agentctl_cmd() -> list[str]:
    script = Path(sys.executable).parent / "agentctl"
    return [str(script)] if script.exists() else [sys.executable, "-m", "agentctl"]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    el = (time.perf_counter() - t0) * 1000
    if r.returncode != 0:
        raise RuntimeError(f"{cmd} exited {r.returncode}: {r.stderr.decode()[-1000:]}")
    return el


def main(argv: list[str] | None = None) -> dict:
    p = base_parser(__doc__, profile=False)  # the agentctl processes are too short to sample
    p.add_argument("--repeats", type=int, default=25)
    p.add_argument("--goals", type=int, default=20)
    a = p.parse_args(argv)
    if a.smoke:
        a.repeats, a.goals = 3, 2
    header(f"cli: agentctl whole-process wall vs python -c pass ({a.repeats} interleaved repeats)")
    ctl = agentctl_cmd()
    cmds = {"python -c pass": [sys.executable, "-c", "pass"],
            "agentctl --version": [*ctl, "--version"],
            "agentctl goal list --json": [*ctl, "goal", "list", "--json"]}
    times: dict[str, list[float]] = {k: [] for k in cmds}
    with FakeProc() as fake, tempdir("cli") as td:
        d = Daemon(Path(td), fake.base_url).start()
        try:
            for i in range(a.goals):
                gp = goal_params(3)
                gp["name"] = f"bench goal {i}"
                gp["schedules"] = [{"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"}]
                d.call("goal.create", gp)
            env = dict(d.env)
            for c in cmds.values():  # warm-up (page cache, .pyc)
                timed(c, env)
            for _ in range(a.repeats):
                for name, c in cmds.items():
                    times[name].append(timed(c, env))
        finally:
            d.stop()
    base = times["python -c pass"]
    res: dict = {}
    for name in cmds:
        s = Stat(times[name])
        res[name] = s
        line(f"{name}: wall", s.fmt(" ms", 1))
    for name in list(cmds)[1:]:
        r = Stat(x / y for x, y in zip(times[name], base))
        res[name + " ratio"] = r
        line(f"{name} / python -c pass", r.fmt("x"), "<= 3x")
    emit_json("cli", res)
    return res


if __name__ == "__main__":
    main(sys.argv[1:])
